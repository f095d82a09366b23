package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

const (
	token      = "tok-0123456789abcdef"
	otherToken = "tok-fedcba9876543210"
)

type env struct {
	t    *testing.T
	ns   string // the queue's namespace
	rdb  *redis.Client
	q    *queue.Queue
	h    *httpapi.Handler
	srv  *httptest.Server
	logs *queuetest.Buffer
	// client sends every request of the tests, each checked against
	// openapi.yaml (contract_test.go).
	client *http.Client
	// undocumented tells requests to routes a test mounted itself, which
	// the document does not describe.
	undocumented func(*http.Request) bool
}

// withContract sets e's client, which checks each exchange against the document.
func (e *env) withContract() *env {
	c := *e.srv.Client()
	c.Transport = &contractTransport{t: e.t, base: e.srv.Client().Transport, undocumented: func(r *http.Request) bool {
		return e.undocumented != nil && e.undocumented(r)
	}}
	e.client = &c
	return e
}

// newEnv serves the API over a real listener, on its own namespace of the
// test Redis. mod may adjust the configuration before New.
func newEnv(t *testing.T, mod ...func(*httpapi.Config)) *env {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(t, err)
	logs := &queuetest.Buffer{}
	cfg := httpapi.Config{
		Queue:  q,
		Tokens: []string{token, otherToken},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := httpapi.New(cfg)
	require.NoError(t, err)
	srv := newTestServer(h)
	t.Cleanup(srv.Close)
	return (&env{t: t, ns: ns, rdb: rdb, q: q, h: h, srv: srv, logs: logs}).withContract()
}

// newTestServer serves h over Listener, as serve does.
func newTestServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = httpapi.Listener(srv.Listener)
	srv.Start()
	return srv
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"), "body: %s", r.body)
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (r *response) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.json(t, &e)
	return e.Error
}

// do sends a request with the first token unless headers set Authorization
// (an empty value sends none). headers are name, value pairs.
func (e *env) do(method, path string, body io.Reader, headers ...string) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return &response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) post(path string, body []byte, headers ...string) *response {
	e.t.Helper()
	return e.do(http.MethodPost, path, bytes.NewReader(body), append([]string{"Content-Type", "application/json"}, headers...)...)
}

func (e *env) enqueue(body []byte) (*response, queue.Result) {
	e.t.Helper()
	r := e.post("/v1/labels", body)
	var res queue.Result
	r.json(e.t, &res)
	return r, res
}

// keyPath is the path of a key's resource, the key escaped as one segment.
func keyPath(prefix, key string) string {
	s := url.PathEscape(key)
	if s == "." || s == ".." {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return prefix + s
}

// job takes an enqueued request's job as the worker would.
func (e *env) job(key, product string) *store.Job {
	e.t.Helper()
	j := queuetest.Job(e.t, e.q, key, product, queue.Interactive)
	queuetest.Attempt(e.t, e.q, j)
	return j
}

// deadLetter takes a freshly enqueued job through the worker's dead-letter path.
func (e *env) deadLetter(key string, reason queue.Reason) {
	e.t.Helper()
	res, err := e.q.EnqueueLine(context.Background(), queuetest.RequestJSON(key, ""), queue.Interactive)
	require.NoError(e.t, err)
	require.True(e.t, res.Outcome.Accepted(), res.Outcome)
	require.NoError(e.t, queuetest.Store(e.t, e.q).DeadLetter(context.Background(), e.job(key, ""), store.Failure{
		Reason: reason, HTTPStatus: 400, Message: "Validation failed", Attempts: 1,
		Details: []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}},
	}))
	queuetest.Dequeue(e.t, e.rdb, e.q.Name(queue.Interactive), key)
}

func (e *env) pending() int64 {
	e.t.Helper()
	return queuetest.Pending(e.t, e.rdb, e.q.Name(queue.Interactive))
}

func TestCreateLabel_NewKey_Accepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, res := e.enqueue(queuetest.RequestJSON("k/1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
	require.Equal(t, queue.Enqueued, res.Outcome)
	require.Equal(t, queue.StatePending, res.State)
	require.Equal(t, "k/1", res.IdempotencyKey)
	require.Nil(t, res.Error)
	require.Equal(t, "labels/k%2F1", r.header.Get("Location"))
	require.EqualValues(t, 1, e.pending())
	// The Location resolves to the job's status.
	loc, err := url.Parse(e.srv.URL + "/v1/labels")
	require.NoError(t, err)
	ref, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, loc.ResolveReference(ref).RequestURI(), nil).code)
}

// Issue 14 changed this contract: any content type was accepted for a JSON
// body, which let a hostile page's form (text/plain) enqueue.
func TestCreateLabel_NotJSONContentType_415NothingWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for ct, want := range map[string]string{
		"text/plain":                        `Content-Type: must be application/json, got "text/plain"`,
		"":                                  "Content-Type: must be application/json, got none",
		"application/x-www-form-urlencoded": `got "application/x-www-form-urlencoded"`,
		"application/x-ndjson":              `got "application/x-ndjson"`,
	} {
		r := e.post("/v1/labels", queuetest.RequestJSON("k1", ""), "Content-Type", ct)
		require.Equal(t, http.StatusUnsupportedMediaType, r.code, "%q: %s", ct, r.body)
		require.Contains(t, r.errorMessage(t), want, ct)
	}
	require.EqualValues(t, 0, e.pending())
	r := e.post("/v1/labels", queuetest.RequestJSON("k2", ""), "Content-Type", "application/json; charset=utf-8")
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
}

func TestCreateLabel_SameRequest_DuplicateCarriesLabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, _ := e.enqueue(queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
	r, res := e.enqueue(queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.Equal(t, queue.StatePending, res.State)
	require.Nil(t, res.Label)

	tracking := "YT123"
	require.NoError(t, queuetest.Store(t, e.q).Complete(context.Background(), e.job("k1", ""),
		&flexapi.Label{ID: "lbl_1", Status: flexapi.StatusCreated, CourierTrackingNumber: &tracking}))
	r, res = e.enqueue(queuetest.RequestJSON("k1", ""))
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.Equal(t, queue.StateCompleted, res.State)
	require.NotNil(t, res.Label)
	require.Equal(t, "lbl_1", res.Label.ID)
	require.Equal(t, "YT123", *res.Label.CourierTrackingNumber)
	require.EqualValues(t, 1, e.pending(), "a duplicate enqueues nothing")
}

func TestCreateLabel_SameKeyOtherRequest_Conflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enqueue(queuetest.RequestJSON("k1", ""))
	r, res := e.enqueue(queuetest.RequestJSON("k1", "OTHER"))
	require.Equal(t, http.StatusConflict, r.code)
	require.Equal(t, queue.Conflict, res.Outcome)
	require.NotNil(t, res.Error)
	require.Contains(t, *res.Error, "different request")
	require.Nil(t, r.header.Values("Location"))
	require.EqualValues(t, 1, e.pending())
}

func TestCreateLabel_Invalid_400WithFieldPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := strings.Replace(string(queuetest.RequestJSON("bad1", "")), `"weight":0.5`, `"weight":0`, 1)
	body = strings.Replace(body, `"courier"`, `"shipperAccountId":"x","courier"`, 1)
	r, res := e.enqueue([]byte(body))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, queue.Invalid, res.Outcome)
	require.Equal(t, "bad1", res.IdempotencyKey)
	require.NotNil(t, res.Error)
	require.Equal(t, []flexapi.Detail{
		{Field: "shipperAccountId", Message: "unknown field"},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}, res.Details, "shape problems first, then the rules: every problem in one answer")

	body = strings.Replace(string(queuetest.RequestJSON("bad2", "")), `"weight":0.5`, `"weight":0`, 1)
	body = strings.Replace(body, `"countryCode":"US"`, `"countryCode":"USA"`, 1)
	r, res = e.enqueue([]byte(body))
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, []flexapi.Detail{
		{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}, res.Details)
	// The body is the queue.Result: every one of its fields is there.
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	for _, f := range []string{"idempotencyKey", "outcome", "state", "error", "details"} {
		require.Contains(t, raw, f)
	}
	require.EqualValues(t, 0, e.pending())
}

func TestCreateLabel_EmptyOrBrokenBody_400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, body := range map[string]string{"empty": "", "blank": " \n", "not json": `{"idempotencyKey":`, "array": `[]`} {
		r, res := e.enqueue([]byte(body))
		require.Equal(t, http.StatusBadRequest, r.code, name)
		require.Equal(t, queue.Invalid, res.Outcome, name)
		require.NotNil(t, res.Error, name)
		require.NotEmpty(t, res.Details, name)
	}
}

func TestCreateLabel_DeadKey_422(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("d1", queue.ReasonAuth)
	r, res := e.enqueue(queuetest.RequestJSON("d1", ""))
	require.Equal(t, http.StatusUnprocessableEntity, r.code)
	require.Equal(t, queue.Dead, res.Outcome)
	require.Equal(t, queue.StateDead, res.State)
	require.NotNil(t, res.DeadLetter)
	require.Equal(t, queue.ReasonAuth, res.DeadLetter.Reason)
	require.Contains(t, *res.Error, "dead-letter queue")
}

func TestCreateLabel_BodyOver1MiB_413(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := append(bytes.Repeat([]byte(" "), 1<<20), queuetest.RequestJSON("big", "")...)
	r := e.post("/v1/labels", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Contains(t, r.errorMessage(t), "1 MiB")
	// Without a Content-Length (chunked), the limit holds while reading.
	r = e.do(http.MethodPost, "/v1/labels", io.MultiReader(bytes.NewReader(big)), "Content-Type", "application/json")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.EqualValues(t, 0, e.pending())
	// Just under the limit is fine.
	ok := append(bytes.Repeat([]byte(" "), 1<<20-len(queuetest.RequestJSON("ok", ""))), queuetest.RequestJSON("ok", "")...)
	require.Equal(t, http.StatusAccepted, e.post("/v1/labels", ok).code)
}

// downEnv serves a queue whose Redis is a socket nobody listens on.
func downEnv(t *testing.T) *env {
	t.Helper()
	dead := redis.NewClient(&redis.Options{Network: "unix", Addr: t.TempDir() + "/no-redis.sock", Password: "s3cret-pass", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	q, err := queue.New(dead, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	logs := &queuetest.Buffer{}
	h, err := httpapi.New(httpapi.Config{Queue: q, Tokens: []string{token}, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	srv := newTestServer(h)
	t.Cleanup(srv.Close)
	return (&env{t: t, q: q, h: h, srv: srv, logs: logs}).withContract()
}

func TestRedisDown_503RetryAfter(t *testing.T) {
	t.Parallel()
	e := downEnv(t)
	checks := []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPost, "/v1/labels", queuetest.RequestJSON("k1", "")},
		{http.MethodPost, "/v1/labels/batch", queuetest.RequestJSON("k1", "")},
		{http.MethodGet, "/v1/labels/k1", nil},
		{http.MethodGet, "/v1/dead-letters", nil},
		{http.MethodGet, "/v1/dead-letters/k1", nil},
		{http.MethodDelete, "/v1/dead-letters/k1", nil},
		{http.MethodPost, "/v1/dead-letters/k1/redrive", nil},
		{http.MethodPost, "/v1/dead-letters/redrive?all=true", nil},
		{http.MethodPost, "/v1/dead-letters/redrive?all=true&dryRun=true", nil},
		{http.MethodPost, "/v1/dead-letters/discard?reason=auth", nil},
		{http.MethodPost, "/v1/dead-letters/discard?all=true&dryRun=true", nil},
		{http.MethodPost, "/v1/dead-letters/export", nil},
	}
	for _, c := range checks {
		ct := ""
		switch c.path {
		case "/v1/labels":
			ct = "application/json"
		case "/v1/labels/batch":
			ct = "application/x-ndjson"
		}
		r := e.do(c.method, c.path, bytes.NewReader(c.body), "Content-Type", ct)
		require.Equal(t, http.StatusServiceUnavailable, r.code, "%s %s", c.method, c.path)
		require.Equal(t, "1", r.header.Get("Retry-After"))
		msg := r.errorMessage(t)
		require.True(t, strings.HasPrefix(msg, "queue unavailable: "), msg)
		require.NotContains(t, string(r.body), "no-redis.sock", "the Redis address stays internal")
		require.NotContains(t, string(r.body), "s3cret-pass")
	}
	r := e.do(http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", nil).code)
	require.NotContains(t, e.logs.String(), "s3cret-pass")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	basic := func(user, pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	cases := []struct {
		name, authorization string
		want                int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong token", "Bearer not-a-valid-token-at-all", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"wrong scheme", "Token " + token, http.StatusUnauthorized},
		{"scheme only", "Bearer", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"basic wrong password", basic("ops", "nope"), http.StatusUnauthorized},
		{"basic token as user", basic(token, ""), http.StatusUnauthorized},
		{"bearer", "Bearer " + token, http.StatusNotFound},
		{"bearer any case", "bearer " + token, http.StatusNotFound},
		{"second token", "Bearer " + otherToken, http.StatusNotFound},
		{"basic password", basic("ops", token), http.StatusNotFound},
		{"basic password no user", basic("", otherToken), http.StatusNotFound},
	}
	for _, c := range cases {
		r := e.do(http.MethodGet, "/v1/labels/nope", nil, "Authorization", c.authorization)
		require.Equal(t, c.want, r.code, c.name)
		if c.want == http.StatusUnauthorized {
			require.Equal(t, "unauthorized", r.errorMessage(t), c.name)
			require.Contains(t, r.header.Values("WWW-Authenticate"), `Bearer realm="flexlabel"`, c.name)
			require.Contains(t, r.header.Values("WWW-Authenticate"), `Basic realm="flexlabel", charset="UTF-8"`, c.name)
		}
	}
	// Every API route needs the token; nothing is enqueued without it.
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, "/v1/labels"}, {http.MethodPost, "/v1/labels/batch"}, {http.MethodGet, "/v1/dead-letters"},
		{http.MethodGet, "/v1/dead-letters/k"}, {http.MethodDelete, "/v1/dead-letters/k"},
		{http.MethodPost, "/v1/dead-letters/k/redrive"}, {http.MethodPost, "/v1/dead-letters/redrive?all=true"},
	} {
		r := e.do(p.method, p.path, bytes.NewReader(queuetest.RequestJSON("k", "")), "Authorization", "")
		require.Equal(t, http.StatusUnauthorized, r.code, "%s %s", p.method, p.path)
	}
	require.EqualValues(t, 0, e.pending())
	// Health, readiness and the document are public.
	for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, p, nil, "Authorization", "").code, p)
	}
}

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)

	_, err = httpapi.New(httpapi.Config{Queue: q})
	require.ErrorContains(t, err, "no API tokens")
	_, err = httpapi.New(httpapi.Config{Queue: q, Tokens: []string{token, ""}})
	require.ErrorContains(t, err, "empty")
	_, err = httpapi.New(httpapi.Config{Tokens: []string{token}})
	require.ErrorContains(t, err, "Queue")

	// Unauthenticated only when asked for.
	h, err := httpapi.New(httpapi.Config{Queue: q, AllowUnauthenticated: true})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/labels/nope", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
	// Tokens given as well are still required.
	h, err = httpapi.New(httpapi.Config{Queue: q, Tokens: []string{token}, AllowUnauthenticated: true})
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/labels/nope", nil))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}

func TestGetLabel_SameJSONAsStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := []string{"plain", "a/b", "a//b", "100%", "50%2F", "sp ace?x=1#frag", "..", ".", "a/../b", "日本語", `q"uote\`, "+plus&amp;"}
	for _, k := range keys {
		r, res := e.enqueue(queuetest.RequestJSON(k, ""))
		require.Equal(t, http.StatusAccepted, r.code, "%q: %s", k, r.body)
		require.Equal(t, k, res.IdempotencyKey)

		r = e.do(http.MethodGet, keyPath("/v1/labels/", k), nil)
		require.Equal(t, http.StatusOK, r.code, "%q: %s", k, r.body)
		want, err := e.q.Status(context.Background(), k)
		require.NoError(t, err)
		wantJSON, err := json.Marshal(want[0])
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(r.body), k)
	}
}

func TestGetLabel_UnknownKey_404WithStatusJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/v1/labels/nope%2Fnope", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	var st queue.JobStatus
	r.json(t, &st)
	require.Equal(t, queue.JobStatus{IdempotencyKey: "nope/nope", Account: queue.DefaultAccount, State: queue.StateUnknown}, st)
}

func batchLines() [][]byte {
	return [][]byte{
		queuetest.RequestJSON("a", ""),
		queuetest.RequestJSON("b", ""),
		queuetest.RequestJSON("a", ""),      // duplicate within the batch
		queuetest.RequestJSON("b", "OTHER"), // conflict within the batch
		[]byte(strings.Replace(string(queuetest.RequestJSON("c", "")), `"weight":0.5`, `"weight":0`, 1)),
		[]byte(`{"idempotencyKey":"d",`),
		queuetest.RequestJSON("dead", ""), // dead before the batch
	}
}

// withoutFailureTimes drops the dead-letter timestamps, which differ between
// two runs of the same requests.
func withoutFailureTimes(rs []queue.Result) []queue.Result {
	out := make([]queue.Result, len(rs))
	for i, r := range rs {
		if r.DeadLetter != nil {
			d := *r.DeadLetter
			d.FirstFailedAt, d.FailedAt = time.Time{}, time.Time{}
			r.DeadLetter = &d
		}
		out[i] = r
	}
	return out
}

func outcomes(rs []queue.Result) []queue.Outcome {
	out := make([]queue.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out
}

func TestBatch_NDJSONAndArray_SameAsOneByOne(t *testing.T) {
	t.Parallel()
	lines := batchLines()
	want := []queue.Outcome{queue.Enqueued, queue.Enqueued, queue.Duplicate, queue.Conflict, queue.Invalid, queue.Invalid, queue.Dead}

	single := newEnv(t)
	single.deadLetter("dead", queue.ReasonRejected)
	one := make([]queue.Result, len(lines))
	for i, l := range lines {
		_, one[i] = single.enqueue(l)
	}
	require.Equal(t, want, outcomes(one))

	ndjson := append(bytes.Join(lines, []byte("\n")), "\n\n"...)
	var array bytes.Buffer
	array.WriteString("[\n")
	for i, l := range lines[:5] { // the array cannot hold the broken line
		if i > 0 {
			array.WriteString(",\n")
		}
		array.Write(l)
	}
	array.WriteString(",\n" + string(lines[6]) + "]")

	for _, c := range []struct {
		name, contentType string
		body              []byte
		want              []queue.Result
	}{
		{"ndjson", "application/x-ndjson", ndjson, one},
		{"jsonl", "application/jsonl", ndjson, one},
		{"array", "application/json", array.Bytes(), append(append([]queue.Result{}, one[:5]...), one[6])},
	} {
		e := newEnv(t)
		e.deadLetter("dead", queue.ReasonRejected)
		r := e.post("/v1/labels/batch", c.body, "Content-Type", c.contentType)
		require.Equal(t, http.StatusOK, r.code, "%s: %s", c.name, r.body)
		var got struct {
			Results []queue.Result `json:"results"`
		}
		r.json(t, &got)
		require.Equal(t, withoutFailureTimes(c.want), withoutFailureTimes(got.Results), c.name)
		require.NotNil(t, got.Results[len(got.Results)-1].DeadLetter, c.name)
		require.EqualValues(t, 2, e.pending(), c.name)
	}
}

func TestBatch_RefusedAsAWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var many bytes.Buffer
	for i := range 1001 {
		many.Write(queuetest.RequestJSON(fmt.Sprint("k", i), ""))
		many.WriteByte('\n')
	}
	huge := bytes.Repeat([]byte(" "), 10<<20+1)
	cases := []struct {
		name, contentType, body string
		code                    int
		msg                     string
	}{
		{"empty", "application/x-ndjson", "  \n", http.StatusBadRequest, "empty"},
		{"empty array", "application/json", "[]", http.StatusBadRequest, "batch is empty"},
		{"object as json", "application/json", string(queuetest.RequestJSON("k", "")), http.StatusBadRequest, "JSON array"},
		{"broken array", "application/json", "[{}", http.StatusBadRequest, "JSON array"},
		{"text/plain", "text/plain", "{}", http.StatusUnsupportedMediaType, `Content-Type: must be application/json or application/x-ndjson or application/jsonl or application/ndjson, got "text/plain"`},
		{"no type", "", "{}", http.StatusUnsupportedMediaType, "got none"},
		{"1001 items", "application/x-ndjson", many.String(), http.StatusRequestEntityTooLarge, "1000"},
		{"over 10 MiB", "application/x-ndjson", string(huge), http.StatusRequestEntityTooLarge, "10 MiB"},
	}
	for _, c := range cases {
		r := e.post("/v1/labels/batch", []byte(c.body), "Content-Type", c.contentType)
		require.Equal(t, c.code, r.code, c.name)
		require.Contains(t, r.errorMessage(t), c.msg, c.name)
	}
	require.EqualValues(t, 0, e.pending())

	// Exactly 1000 is fine.
	lines := bytes.SplitAfter(many.Bytes(), []byte("\n"))
	r := e.post("/v1/labels/batch", bytes.Join(lines[:1000], nil), "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, r.code)
	require.EqualValues(t, 1000, e.pending())
}

func TestBatch_ItemOver1MiB_InvalidItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := bytes.Replace(queuetest.RequestJSON("big", ""), []byte(`"Ink pen"`), []byte(`"`+strings.Repeat("x", 1<<20)+`"`), 1)
	body := bytes.Join([][]byte{queuetest.RequestJSON("a", ""), big}, []byte("\n"))
	r := e.post("/v1/labels/batch", body, "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, r.code)
	var got struct {
		Results []queue.Result `json:"results"`
	}
	r.json(t, &got)
	require.Equal(t, []queue.Outcome{queue.Enqueued, queue.Invalid}, outcomes(got.Results))
	require.Contains(t, *got.Results[1].Error, "1 MiB")
}

type listPage struct {
	DeadLetters []queue.ListEntry `json:"deadLetters"`
	NextCursor  *string           `json:"nextCursor"`
	Total       int64             `json:"total"`
}

func TestDeadLetters_ListAndPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for i, reason := range []queue.Reason{queue.ReasonAuth, queue.ReasonInvalid, queue.ReasonAuth, queue.ReasonInvalid, queue.ReasonAuth} {
		k := fmt.Sprintf("d%d", i)
		e.deadLetter(k, reason)
		want = append(want, k)
		time.Sleep(2 * time.Millisecond) // distinct failure times: the list is oldest first
	}

	var got []string
	path := "/v1/dead-letters?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		r := e.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		var p listPage
		r.json(t, &p)
		require.EqualValues(t, 5, p.Total)
		for _, d := range p.DeadLetters {
			got = append(got, d.IdempotencyKey)
			require.Equal(t, 400, d.HTTPStatus)
			require.Equal(t, "Validation failed", d.Message)
		}
		if p.NextCursor == nil {
			break
		}
		path = "/v1/dead-letters?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	require.Equal(t, want, got)

	r := e.do(http.MethodGet, "/v1/dead-letters?reason=auth", nil)
	require.Equal(t, http.StatusOK, r.code)
	var p listPage
	r.json(t, &p)
	require.EqualValues(t, 3, p.Total)
	require.Len(t, p.DeadLetters, 3)
	require.Nil(t, p.NextCursor)
	for _, d := range p.DeadLetters {
		require.Equal(t, queue.ReasonAuth, d.Reason)
	}

	// Nothing of a reason: an empty list, not null.
	r = e.do(http.MethodGet, "/v1/dead-letters?reason=not_found", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"deadLetters":[],"nextCursor":null,"total":0}`, string(r.body))
}

func TestDeadLetters_List_BadParameters_400NamingThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for query, param := range map[string]string{
		"reason=nope": "reason", "limit=0": "limit", "limit=1001": "limit", "limit=x": "limit",
		"limit=-1": "limit", "cursor=%25%25": "cursor", "cursor=a+b": "cursor",
		"cursor=zzz": "cursor", "cursor=MTIzfGs": "cursor", // "123|k": base64url, but no cursor the API issued
	} {
		r := e.do(http.MethodGet, "/v1/dead-letters?"+query, nil)
		require.Equal(t, http.StatusBadRequest, r.code, query)
		require.True(t, strings.HasPrefix(r.errorMessage(t), param+":"), "%s: %s", query, r.body)
	}
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters?limit=1000", nil).code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters?limit=1", nil).code)
}

func TestDeadLetters_Show(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("d/1", queue.ReasonInvalid)
	r := e.do(http.MethodGet, keyPath("/v1/dead-letters/", "d/1"), nil)
	require.Equal(t, http.StatusOK, r.code)
	var d queue.DeadLetter
	r.json(t, &d)
	require.Equal(t, "d/1", d.IdempotencyKey)
	require.Equal(t, queue.ReasonInvalid, d.Reason)
	require.Equal(t, []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}}, d.Details)
	req, err := flexapi.DecodeLabelRequest(d.Request)
	require.NoError(t, err)
	require.Equal(t, "d/1", req.IdempotencyKey)

	r = e.do(http.MethodGet, "/v1/dead-letters/nope", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	require.Equal(t, "not in the dead-letter queue", r.errorMessage(t))
}

func TestDeadLetters_RedriveOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("r 1", queue.ReasonAuth)
	r := e.do(http.MethodPost, keyPath("/v1/dead-letters/", "r 1")+"/redrive", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.JSONEq(t, `{"idempotencyKey":"r 1","done":true}`, string(r.body))
	require.EqualValues(t, 1, e.pending())
	st, err := e.q.Status(context.Background(), "r 1")
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, st[0].State)

	r = e.do(http.MethodPost, keyPath("/v1/dead-letters/", "r 1")+"/redrive", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	var op queue.OpResult
	r.json(t, &op)
	require.Equal(t, queue.OpResult{IdempotencyKey: "r 1", Error: "not in the dead-letter queue"}, op)
}

func TestDeadLetters_Discard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("x1", queue.ReasonRejected)
	r := e.do(http.MethodDelete, "/v1/dead-letters/x1", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"idempotencyKey":"x1","done":true}`, string(r.body))
	r = e.do(http.MethodDelete, "/v1/dead-letters/x1", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	// The key is free again.
	r, _ = e.enqueue(queuetest.RequestJSON("x1", ""))
	require.Equal(t, http.StatusAccepted, r.code)
}

func TestDeadLetters_RedriveByReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.deadLetter(fmt.Sprint("auth", i), queue.ReasonAuth)
	}
	e.deadLetter("inv0", queue.ReasonInvalid)
	e.deadLetter("inv1", queue.ReasonInvalid)

	for query, param := range map[string]string{
		"":                      "reason",
		"?reason=nope":          "reason",
		"?all=maybe":            "all",
		"?all=false":            "reason",
		"?reason=auth&all=true": "reason and all",
	} {
		r := e.do(http.MethodPost, "/v1/dead-letters/redrive"+query, nil)
		require.Equal(t, http.StatusBadRequest, r.code, query)
		require.True(t, strings.HasPrefix(r.errorMessage(t), param), "%q: %s", query, r.body)
	}
	require.EqualValues(t, 0, e.pending())

	r := e.do(http.MethodPost, "/v1/dead-letters/redrive?reason=auth", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"redriven":3,"failed":0}`, string(r.body))
	require.EqualValues(t, 3, e.pending())
	n, err := e.q.DeadLetters().Count(context.Background(), "")
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	r = e.do(http.MethodPost, "/v1/dead-letters/redrive?all=true", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"redriven":2,"failed":0}`, string(r.body))
	require.EqualValues(t, 5, e.pending())
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/healthz", nil, "Authorization", "")
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	r = e.do(http.MethodGet, "/readyz", nil, "Authorization", "")
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"status":"ready"}`, string(r.body))

	failing := newEnv(t, func(c *httpapi.Config) {
		c.Ready = func(context.Context) error { return fmt.Errorf("worker heartbeat missing") }
	})
	r = failing.do(http.MethodGet, "/readyz", nil, "Authorization", "")
	require.Equal(t, http.StatusServiceUnavailable, r.code)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.JSONEq(t, `{"status":"unavailable","error":"not ready"}`, string(r.body))
	require.Contains(t, failing.logs.String(), "worker heartbeat missing")
	// Liveness does not depend on readiness.
	require.Equal(t, http.StatusOK, failing.do(http.MethodGet, "/healthz", nil, "Authorization", "").code)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Acceptable: used exactly as given.
	for _, in := range []string{"abc-123", "4f1b2c3d-aaaa-bbbb-cccc-1234/5:6", strings.Repeat("a", 64), "A.b_c:d/e+f=g@h"} {
		r := e.do(http.MethodGet, "/healthz", nil, "X-Request-Id", in)
		require.Equal(t, in, r.header.Get("X-Request-Id"), "%q", in)
	}
	// None, or not acceptable as it is: a fresh id for each request, never
	// an edited version of the client's.
	seen := map[string]bool{}
	for _, in := range []string{"", "<>", "bad id\t<script>\"x\"", strings.Repeat("a", 65), "abc def", "ok-but-é"} {
		id := e.do(http.MethodGet, "/healthz", nil, "X-Request-Id", in).header.Get("X-Request-Id")
		require.Len(t, id, 26, "%q", in)
		require.False(t, seen[id])
		seen[id] = true
	}
	// Error answers carry it too.
	r := e.do(http.MethodGet, "/v1/labels/x", nil, "Authorization", "", "X-Request-Id", "rid-401")
	require.Equal(t, http.StatusUnauthorized, r.code)
	require.Equal(t, "rid-401", r.header.Get("X-Request-Id"))
}

func TestLogs_OneLinePerRequest_NoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const secretKey = "customer-order-SECRET-KEY"
	e.post("/v1/labels", queuetest.RequestJSON(secretKey, ""), "X-Request-Id", "rid-1")
	e.do(http.MethodGet, keyPath("/v1/labels/", secretKey), nil, "X-Request-Id", "rid-2")
	e.do(http.MethodGet, "/v1/labels/x", nil, "Authorization", "Bearer wrong-token-value-xyz", "X-Request-Id", "rid-3")
	e.do(http.MethodGet, "/nowhere", nil, "X-Request-Id", "rid-4")
	e.post("/v1/labels", queuetest.RequestJSON("b", ""), "Authorization", basicAuth("ops", token), "X-Request-Id", "rid-5")

	out := e.logs.String()
	for _, secret := range []string{token, "wrong-token-value-xyz", basicAuth("ops", token), secretKey, "Edison", "Authorization"} {
		require.NotContains(t, out, secret)
	}
	var lines []map[string]any
	for l := range strings.Lines(out) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	require.Len(t, lines, 5, out)
	want := []struct {
		id, pattern string
		status      float64
	}{
		{"rid-1", "POST /v1/labels", 202},
		{"rid-2", "GET /v1/labels/{key}", 200},
		{"rid-3", "GET /v1/labels/{key}", 401},
		{"rid-4", "unmatched", 404},
		{"rid-5", "POST /v1/labels", 202},
	}
	for i, w := range want {
		l := lines[i]
		require.Equal(t, "http request", l["msg"])
		require.Equal(t, w.id, l["request_id"])
		require.Equal(t, w.pattern, l["pattern"])
		require.Equal(t, w.status, l["status"])
		require.Contains(t, []any{"GET", "POST"}, l["method"])
		require.Contains(t, l, "duration")
		wantID := auth.TokenID(token)
		if w.status == 401 || w.status == 404 {
			wantID = "" // no token known: unauthorized, or no route to say which scope
		}
		require.Equal(t, wantID, l["token_id"], w.id)
	}
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func TestUnknownRouteAndMethod_JSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/v2/labels", nil)
	require.Equal(t, http.StatusNotFound, r.code)
	require.Equal(t, "not found", r.errorMessage(t))
	r = e.do(http.MethodGet, "/v1/labels", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.code)
	require.Equal(t, "method not allowed", r.errorMessage(t))
	require.Equal(t, "POST", r.header.Get("Allow"))
	r = e.do(http.MethodPut, "/v1/dead-letters/k", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.code)
	require.Equal(t, "DELETE, GET", r.header.Get("Allow"), "HEAD is not served")
	// Unauthenticated requests get the same answers: the routes are public knowledge (/openapi.yaml).
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v2", nil, "Authorization", "").code)
}

func TestHandle_MountsExtraRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	e.h.Handle("GET /metrics", hello, auth.Metrics)
	e.h.Handle("GET /ui/", hello, auth.Viewer)
	e.h.Handle("GET /public", hello)
	e.undocumented = func(r *http.Request) bool { return r.URL.Path != "/v1/labels" }

	require.Equal(t, http.StatusUnauthorized, e.do(http.MethodGet, "/metrics", nil, "Authorization", "").code)
	r := e.do(http.MethodGet, "/ui/queues", nil, "Authorization", basicAuth("me", token))
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "hello", string(r.body))
	require.NotEmpty(t, r.header.Get("X-Request-Id"))
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/public", nil, "Authorization", "").code)
	require.Panics(t, func() { e.h.Handle("POST /v1/labels", hello, auth.Producer) }, "a conflicting pattern")
}

func TestNewServer_Timeouts(t *testing.T) {
	t.Parallel()
	s := httpapi.NewServer("127.0.0.1:0", http.NotFoundHandler())
	require.Equal(t, "127.0.0.1:0", s.Addr)
	require.Equal(t, 5*time.Second, s.ReadHeaderTimeout)
	require.Equal(t, 30*time.Second, s.ReadTimeout)
	require.Equal(t, 30*time.Second, s.WriteTimeout)
	require.Equal(t, 120*time.Second, s.IdleTimeout)
	require.Equal(t, 64<<10, s.MaxHeaderBytes)
}

func TestKeyInPath_Over255Characters_400NamingTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("é", 256) // 256 characters, 512 bytes
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, keyPath("/v1/labels/", long)},
		{http.MethodGet, keyPath("/v1/dead-letters/", long)},
		{http.MethodDelete, keyPath("/v1/dead-letters/", long)},
		{http.MethodPost, keyPath("/v1/dead-letters/", long) + "/redrive"},
	} {
		r := e.do(c.method, c.path, nil)
		require.Equal(t, http.StatusBadRequest, r.code, "%s %s", c.method, c.path[:30])
		require.Equal(t, "key: must be at most 255 characters (the idempotencyKey limit), got 256", r.errorMessage(t))
	}
	// 255 characters is a key that may exist.
	r := e.do(http.MethodGet, keyPath("/v1/labels/", strings.Repeat("é", 255)), nil)
	require.Equal(t, http.StatusNotFound, r.code)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestContentEncoding_GzipDecoded_OthersRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post("/v1/labels", gzipped(t, queuetest.RequestJSON("gz1", "")), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	r = e.post("/v1/labels/batch", gzipped(t, queuetest.RequestJSON("gz2", "")), "Content-Type", "application/x-ndjson", "Content-Encoding", "gzip")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	r = e.post("/v1/labels", queuetest.RequestJSON("id1", ""), "Content-Encoding", "identity")
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.EqualValues(t, 3, e.pending())

	// A coding that is not supported is never read as plain, even when the
	// body is plain JSON.
	for _, coding := range []string{"br", "deflate", "zstd", "gzip, br", "gzip, gzip", "compress"} {
		for _, path := range []string{"/v1/labels", "/v1/labels/batch"} {
			r := e.post(path, queuetest.RequestJSON("enc", ""), "Content-Encoding", coding)
			require.Equal(t, http.StatusUnsupportedMediaType, r.code, "%s %s", coding, path)
			require.Contains(t, r.errorMessage(t), "Content-Encoding")
			require.Equal(t, "gzip", r.header.Get("Accept-Encoding"))
		}
	}
	// Not gzip at all, under gzip: 400 (in each route's 400 shape).
	r = e.post("/v1/labels", queuetest.RequestJSON("nz", ""), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusBadRequest, r.code)
	var res queue.Result
	r.json(t, &res)
	require.Equal(t, queue.Invalid, res.Outcome)
	require.Contains(t, *res.Error, "not valid gzip")
	r = e.post("/v1/labels/batch", queuetest.RequestJSON("nz", ""), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.errorMessage(t), "not valid gzip")
	require.EqualValues(t, 3, e.pending())
}

func TestContentEncoding_GzipBomb_413(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// 1 MiB of padding around a valid request: small compressed, too big decoded.
	big := append(bytes.Repeat([]byte(" "), 1<<20), queuetest.RequestJSON("bomb", "")...)
	bomb := gzipped(t, big)
	require.Less(t, len(bomb), 16<<10)
	r := e.post("/v1/labels", bomb, "Content-Encoding", "gzip")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Contains(t, r.errorMessage(t), "1 MiB")
	// The batch limit holds the same way: 64 MiB of spaces decode past 10 MiB.
	r = e.post("/v1/labels/batch", gzipped(t, bytes.Repeat([]byte(" "), 64<<20)), "Content-Type", "application/x-ndjson", "Content-Encoding", "gzip")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	require.Contains(t, r.errorMessage(t), "10 MiB")
	require.EqualValues(t, 0, e.pending())
	// Just at the limit, decoded, is fine.
	ok := append(bytes.Repeat([]byte(" "), 1<<20-len(queuetest.RequestJSON("ok", ""))), queuetest.RequestJSON("ok", "")...)
	require.Equal(t, http.StatusAccepted, e.post("/v1/labels", gzipped(t, ok), "Content-Encoding", "gzip").code)
}
