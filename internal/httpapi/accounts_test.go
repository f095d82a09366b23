package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const acctHeader = "Flexlabel-Account"

// runAccounts makes the fleet run accounts, as its workers record them.
func (e *env) runAccounts(names ...string) {
	e.t.Helper()
	ivs := map[string]time.Duration{}
	for _, n := range names {
		ivs[n] = time.Second
	}
	require.NoError(e.t, queuetest.Store(e.t, e.q).SetAccountIntervals(context.Background(), ivs))
}

// accountQueue is the queue of account a in e's namespace.
func (e *env) accountQueue(a string) *queue.Queue {
	e.t.Helper()
	q, err := e.q.ForAccount(a)
	require.NoError(e.t, err)
	return q
}

func (e *env) enqueueAs(account string, body []byte, headers ...string) (*response, queue.Result) {
	e.t.Helper()
	r := e.post("/v1/labels", body, append([]string{acctHeader, account}, headers...)...)
	var res queue.Result
	r.json(e.t, &res)
	return r, res
}

func (e *env) accountKeys(a string) []string {
	e.t.Helper()
	keys, err := e.rdb.Keys(context.Background(), "fl:"+e.ns+"@"+a+":*").Result()
	require.NoError(e.t, err)
	return keys
}

func TestAccounts_SameKeyUnderTwoAccounts_TwoJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runAccounts(queue.DefaultAccount, "brand-a")
	body := queuetest.RequestJSON("order-1", "")

	r, res := e.enqueue(body)
	require.Equal(t, http.StatusAccepted, r.code)
	require.Equal(t, queue.Enqueued, res.Outcome)
	require.Equal(t, queue.DefaultAccount, res.Account)

	r, res = e.enqueueAs("brand-a", body)
	require.Equal(t, http.StatusAccepted, r.code, "the same key under another account is a new job")
	require.Equal(t, queue.Enqueued, res.Outcome)
	require.Equal(t, "brand-a", res.Account)
	r, res = e.enqueueAs("brand-a", body)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.Equal(t, "brand-a", res.Account)
	// The default account's job is where it always was.
	require.EqualValues(t, 1, e.pending())
	require.NotEmpty(t, e.accountKeys("brand-a"))

	// A batch goes to the header's account, each result saying so.
	r = e.post("/v1/labels/batch", append(append(queuetest.RequestJSON("order-1", ""), '\n'), queuetest.RequestJSON("order-2", "")...),
		"Content-Type", "application/x-ndjson", acctHeader, "brand-a")
	require.Equal(t, http.StatusOK, r.code)
	var batch struct{ Results []queue.Result }
	r.json(t, &batch)
	require.Len(t, batch.Results, 2)
	require.Equal(t, queue.Duplicate, batch.Results[0].Outcome)
	require.Equal(t, queue.Enqueued, batch.Results[1].Outcome)
	for _, res := range batch.Results {
		require.Equal(t, "brand-a", res.Account)
	}
	sts, err := e.q.Status(context.Background(), "order-2")
	require.NoError(t, err)
	require.Equal(t, queue.StateUnknown, sts[0].State, "the batch did not touch the default account")

	// Status by header.
	var st queue.JobStatus
	r = e.do(http.MethodGet, "/v1/labels/order-2", nil, acctHeader, "brand-a")
	require.Equal(t, http.StatusOK, r.code)
	r.json(t, &st)
	require.Equal(t, "brand-a", st.Account)
	r = e.do(http.MethodGet, "/v1/labels/order-2", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	r.json(t, &st)
	require.Equal(t, queue.DefaultAccount, st.Account)

	// A refusal of the body carries the request's account.
	r, res = e.enqueueAs("brand-a", []byte(`{"idempotencyKey":"x"}`))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, queue.Invalid, res.Outcome)
	require.Equal(t, "brand-a", res.Account)
	r, res = e.enqueueAs("brand-a", []byte(" "))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, "brand-a", res.Account)
}

func TestAccounts_UnknownAccount_400NamesTheHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runAccounts(queue.DefaultAccount, "brand-a")

	r, res := e.enqueueAs("brand-x", queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, queue.Invalid, res.Outcome)
	require.Equal(t, "brand-x", res.Account)
	require.NotNil(t, res.Error)
	require.True(t, strings.HasPrefix(*res.Error, `Flexlabel-Account: unknown account "brand-x": `), *res.Error)
	require.Len(t, res.Details, 1)
	require.Equal(t, acctHeader, res.Details[0].Field)

	for _, c := range []struct{ method, path, ct string }{
		{http.MethodPost, "/v1/labels/batch", "application/x-ndjson"},
		{http.MethodGet, "/v1/labels/k1", ""},
		{http.MethodGet, "/v1/dead-letters", ""},
		{http.MethodGet, "/v1/dead-letters/k1", ""},
		{http.MethodDelete, "/v1/dead-letters/k1", ""},
		{http.MethodPost, "/v1/dead-letters/k1/redrive", ""},
		{http.MethodPost, "/v1/dead-letters/redrive?all=true", ""},
		{http.MethodPost, "/v1/dead-letters/discard?reason=auth&dryRun=true", ""},
		{http.MethodPost, "/v1/dead-letters/export", ""},
	} {
		r := e.do(c.method, c.path, bytes.NewReader(queuetest.RequestJSON("k1", "")), "Content-Type", c.ct, acctHeader, "brand-x")
		if c.ct == "" {
			r = e.do(c.method, c.path, nil, acctHeader, "brand-x")
		}
		require.Equal(t, http.StatusBadRequest, r.code, "%s %s: %s", c.method, c.path, r.body)
		require.Contains(t, r.errorMessage(t), `Flexlabel-Account: unknown account "brand-x"`, c.path)
	}
	require.Empty(t, e.accountKeys("brand-x"), "nothing of a refused account is written")
}

func TestAccounts_MalformedHeader_400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, bad := range []string{"Brand-A", "brand_a", strings.Repeat("a", 33), "brand a"} {
		r, res := e.enqueueAs(bad, queuetest.RequestJSON("k1", ""))
		require.Equal(t, http.StatusBadRequest, r.code, bad)
		require.Equal(t, queue.Invalid, res.Outcome)
		require.Empty(t, res.Account, "a malformed header names no account")
		require.Contains(t, *res.Error, "Flexlabel-Account: ", bad)
		require.Contains(t, *res.Error, "is not an account name", bad)
		require.Equal(t, acctHeader, res.Details[0].Field)

		r = e.do(http.MethodGet, "/v1/dead-letters", nil, acctHeader, bad)
		require.Equal(t, http.StatusBadRequest, r.code, bad)
		require.Contains(t, r.errorMessage(t), "Flexlabel-Account: ")
	}
	require.EqualValues(t, 0, e.pending())

	// One account per request.
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/labels/k1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Add(acctHeader, "default")
	req.Header.Add(acctHeader, "brand-a")
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// A fleet whose workers run accounts, but not default, refuses a request
// that names none: its job would wait for ever.
func TestAccounts_NoDefaultAccount_RequestWithoutHeader400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runAccounts("brand-a")
	r, res := e.enqueue(queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, queue.DefaultAccount, res.Account)
	require.Contains(t, *res.Error, "Flexlabel-Account: unknown account")
	require.Contains(t, *res.Error, "name the account with the Flexlabel-Account header")
	require.EqualValues(t, 0, e.pending())

	r = e.do(http.MethodGet, "/v1/dead-letters", nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.errorMessage(t), "with the Flexlabel-Account header")

	r, res = e.enqueueAs("brand-a", queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
	require.Equal(t, queue.Enqueued, res.Outcome)
}

func TestAccounts_BoundToken_403ForAnotherAccount(t *testing.T) {
	t.Parallel()
	const (
		prodA = "prod-a-0123456789abcdef"
		opA   = "oper-a-0123456789abcdef"
	)
	set, err := auth.NewSet([]auth.Token{
		{Scope: auth.Producer, Secret: prodA, Accounts: []string{"brand-a"}},
		{Scope: auth.Operator, Secret: opA, Accounts: []string{"brand-a"}},
		{Scope: auth.All, Secret: token},
	})
	require.NoError(t, err)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenSet = nil, set })
	e.runAccounts(queue.DefaultAccount, "brand-a")
	as := func(secret string) string { return "Bearer " + secret }

	// Without the header the request is the default account's.
	r := e.post("/v1/labels", queuetest.RequestJSON("k1", ""), "Authorization", as(prodA))
	require.Equal(t, http.StatusForbidden, r.code)
	require.Equal(t, `Flexlabel-Account: this token may only act on account "brand-a", not "default" (a request without the header is the default account's)`, r.errorMessage(t))
	// Refused before Redis is asked: brand-b is not even run.
	r = e.post("/v1/labels", queuetest.RequestJSON("k1", ""), "Authorization", as(prodA), acctHeader, "brand-b")
	require.Equal(t, http.StatusForbidden, r.code)
	require.Equal(t, `Flexlabel-Account: this token may only act on account "brand-a", not "brand-b"`, r.errorMessage(t))
	r = e.post("/v1/labels/batch", queuetest.RequestJSON("k1", ""), "Authorization", as(prodA))
	require.Equal(t, http.StatusForbidden, r.code)
	r = e.do(http.MethodGet, "/v1/labels/k1", nil, "Authorization", as(prodA))
	require.Equal(t, http.StatusForbidden, r.code)
	require.EqualValues(t, 0, e.pending())

	r, res := e.enqueueAs("brand-a", queuetest.RequestJSON("k1", ""), "Authorization", as(prodA))
	require.Equal(t, http.StatusAccepted, r.code)
	require.Equal(t, "brand-a", res.Account)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/labels/k1", nil, "Authorization", as(prodA), acctHeader, "brand-a").code)

	// An operator bound to an account: its dead letters only.
	r = e.do(http.MethodGet, "/v1/dead-letters", nil, "Authorization", as(opA))
	require.Equal(t, http.StatusForbidden, r.code)
	require.Contains(t, r.errorMessage(t), `not "default"`)
	r = e.do(http.MethodPost, "/v1/dead-letters/redrive?all=true", nil, "Authorization", as(opA))
	require.Equal(t, http.StatusForbidden, r.code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters", nil, "Authorization", as(opA), acctHeader, "brand-a").code)

	// A token bound to no account acts on every one.
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters", nil).code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters", nil, acctHeader, "brand-a").code)
}

func TestAccounts_DeadLettersPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.runAccounts(queue.DefaultAccount, "brand-a")
	ctx := context.Background()
	e.deadLetter("d0", queue.ReasonInvalid)

	qa := e.accountQueue("brand-a")
	r, _ := e.enqueueAs("brand-a", queuetest.RequestJSON("d1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
	require.NoError(t, queuetest.Store(t, qa).DeadLetter(ctx, queuetest.Job(t, qa, "d1", "", queue.Interactive), store.Failure{
		Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "revoked", Attempts: 1,
	}))

	list := func(headers ...string) []string {
		t.Helper()
		r := e.do(http.MethodGet, "/v1/dead-letters", nil, headers...)
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		var page struct {
			DeadLetters []struct {
				IdempotencyKey string `json:"idempotencyKey"`
			} `json:"deadLetters"`
			Total int `json:"total"`
		}
		r.json(t, &page)
		var keys []string
		for _, d := range page.DeadLetters {
			keys = append(keys, d.IdempotencyKey)
		}
		require.Len(t, keys, page.Total)
		return keys
	}
	require.Equal(t, []string{"d0"}, list())
	require.Equal(t, []string{"d1"}, list(acctHeader, "brand-a"))

	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/dead-letters/d1", nil).code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters/d1", nil, acctHeader, "brand-a").code)

	r = e.do(http.MethodPost, "/v1/dead-letters/export", nil, acctHeader, "brand-a")
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, 1, bytes.Count(r.body, []byte("\n")), "%s", r.body)
	require.Contains(t, string(r.body), `"idempotencyKey":"d1"`)

	r = e.post("/v1/dead-letters/redrive", []byte(`{"keys":["d0","d1"]}`), acctHeader, "brand-a")
	require.Equal(t, http.StatusOK, r.code)
	var sum struct{ Redriven, Failed int }
	r.json(t, &sum)
	require.Equal(t, 1, sum.Redriven, "d1 is brand-a's; d0 is not")
	require.Equal(t, 1, sum.Failed)
	require.Empty(t, list(acctHeader, "brand-a"))
	require.Equal(t, []string{"d0"}, list())

	require.Equal(t, http.StatusNotFound, e.do(http.MethodDelete, "/v1/dead-letters/d0", nil, acctHeader, "brand-a").code)
	require.Equal(t, http.StatusOK, e.do(http.MethodDelete, "/v1/dead-letters/d0", nil).code)
}

// The check that the fleet runs an account is remembered for a while, and
// an account the workers start running is accepted once it expires.
func TestAccounts_Cache_NewAccountAcceptedWithinTheTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	httpapi.SetAccountTTLForTest(e.h, 50*time.Millisecond)
	e.runAccounts(queue.DefaultAccount)

	r, _ := e.enqueueAs("brand-new", queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusBadRequest, r.code)
	e.runAccounts("brand-new")
	require.Eventually(t, func() bool {
		r, _ := e.enqueueAs("brand-new", queuetest.RequestJSON("k1", ""))
		return r.code == http.StatusAccepted
	}, 5*time.Second, 10*time.Millisecond)
}

func TestAccounts_Cache_RemembersTheCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	httpapi.SetAccountTTLForTest(e.h, time.Hour)
	e.runAccounts(queue.DefaultAccount, "brand-a")

	r, _ := e.enqueueAs("brand-a", queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
	require.NoError(t, queuetest.Store(t, e.q).DropAccountIntervals(context.Background(), []string{"brand-a"}))
	r, _ = e.enqueueAs("brand-a", queuetest.RequestJSON("k2", ""))
	require.Equal(t, http.StatusAccepted, r.code, "the check is not repeated within the TTL")
}
