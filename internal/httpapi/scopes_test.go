package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const (
	producerToken = "producer-0123456789abcdef"
	shopAToken    = "shop-a-producer-0123456789"
	operatorToken = "operator-0123456789abcdef"
	viewerToken   = "viewer-0123456789abcdef"
	metricsToken  = "metrics-0123456789abcdef"
)

// scopedEnv serves the API with one token of each scope (and token, of
// scope all), a producer limited to "shop-a-" among them.
func scopedEnv(t *testing.T) *env {
	t.Helper()
	set, err := auth.NewSet([]auth.Token{
		{Scope: auth.All, Secret: token},
		{Scope: auth.Producer, Secret: producerToken},
		{Scope: auth.Producer, Secret: shopAToken, Prefixes: []string{"shop-a-"}},
		{Scope: auth.Operator, Secret: operatorToken},
		{Scope: auth.Viewer, Secret: viewerToken},
		{Scope: auth.Metrics, Secret: metricsToken},
	})
	require.NoError(t, err)
	return newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenSet = nil, set })
}

// keys counts the Redis keys of e's queue, to show a refusal left none.
func (e *env) keys() int {
	e.t.Helper()
	ks, err := e.rdb.Keys(context.Background(), "*"+e.ns+"*").Result()
	require.NoError(e.t, err)
	return len(ks)
}

func TestScopes_EachRouteRefusesATokenLackingItsScope(t *testing.T) {
	t.Parallel()
	type call struct {
		method, path, contentType string
		body                      []byte
		need                      string   // the 403's scopes
		allowed                   []string // tokens that pass
	}
	calls := []call{
		{"POST", "/v1/labels", "application/json", queuetest.RequestJSON("k-one", ""), "producer", []string{producerToken}},
		{"POST", "/v1/labels/batch", "application/x-ndjson", queuetest.RequestJSON("k-batch", ""), "producer", []string{producerToken}},
		{"GET", "/v1/labels/dead", "", nil, "producer or viewer", []string{producerToken, viewerToken, operatorToken}},
		{"GET", "/v1/dead-letters", "", nil, "viewer", []string{viewerToken, operatorToken}},
		{"GET", "/v1/dead-letters/dead", "", nil, "viewer", []string{viewerToken, operatorToken}},
		{"POST", "/v1/dead-letters/dead/redrive", "", nil, "operator", []string{operatorToken}},
		{"DELETE", "/v1/dead-letters/dead", "", nil, "operator", []string{operatorToken}},
		{"POST", "/v1/dead-letters/redrive?all=true", "", nil, "operator", []string{operatorToken}},
	}
	for _, c := range calls {
		for _, tok := range []string{producerToken, operatorToken, viewerToken, metricsToken} {
			e := scopedEnv(t)
			e.deadLetter("dead", queue.ReasonRejected)
			keys := e.keys()
			r := e.do(c.method, c.path, bytes.NewReader(c.body), "Authorization", "Bearer "+tok, "Content-Type", c.contentType)
			name := fmt.Sprintf("%s %s with %s", c.method, c.path, tok[:8])
			if slices.Contains(c.allowed, tok) {
				require.Less(t, r.code, 300, "%s: %s", name, r.body)
				continue
			}
			require.Equal(t, http.StatusForbidden, r.code, "%s: %s", name, r.body)
			require.Equal(t, "this token lacks scope "+c.need, r.errorMessage(t), name)
			require.Equal(t, keys, e.keys(), "%s changed nothing", name)
		}
	}
	// A token of FLEXLABEL_API_TOKENS (scope all) may do everything.
	e := scopedEnv(t)
	e.deadLetter("dead", queue.ReasonRejected)
	for _, c := range calls {
		r := e.do(c.method, c.path, bytes.NewReader(c.body), "Content-Type", c.contentType)
		require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, r.code, "%s %s: %s", c.method, c.path, r.body)
	}
}

func TestKeyPrefixes_ProducerSeesAndCreatesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	e := scopedEnv(t)
	shopA := []string{"Authorization", "Bearer " + shopAToken}
	const rule = `idempotencyKey: this token may only use keys starting with "shop-a-"`

	before := e.keys()
	r := e.post("/v1/labels", queuetest.RequestJSON("shop-b-1", ""), shopA...)
	require.Equal(t, http.StatusForbidden, r.code, "%s", r.body)
	require.Equal(t, rule, r.errorMessage(t))
	require.Equal(t, before, e.keys(), "a refused request leaves no trace in Redis")

	r = e.post("/v1/labels", queuetest.RequestJSON("shop-a-1", ""), shopA...)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.Greater(t, e.keys(), before, "the key count sees an enqueue")

	r = e.do(http.MethodGet, "/v1/labels/shop-a-1", nil, shopA...)
	require.Equal(t, http.StatusOK, r.code)
	r = e.do(http.MethodGet, "/v1/labels/shop-b-1", nil, shopA...)
	require.Equal(t, http.StatusForbidden, r.code)
	require.Equal(t, rule, r.errorMessage(t))

	// In a batch each foreign item is refused in its own result; the others are enqueued.
	batch := bytes.Join([][]byte{queuetest.RequestJSON("shop-a-2", ""), queuetest.RequestJSON("shop-b-2", ""), queuetest.RequestJSON("shop-a-3", "")}, []byte("\n"))
	r = e.post("/v1/labels/batch", batch, append(shopA, "Content-Type", "application/x-ndjson")...)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	var got struct {
		Results []queue.Result `json:"results"`
	}
	r.json(t, &got)
	require.Equal(t, []queue.Outcome{queue.Enqueued, queue.Invalid, queue.Enqueued}, outcomes(got.Results))
	require.Equal(t, "shop-b-2", got.Results[1].IdempotencyKey)
	require.Equal(t, rule, *got.Results[1].Error)
	require.Equal(t, "idempotencyKey", got.Results[1].Details[0].Field)
	require.EqualValues(t, 3, e.pending())
	sts, err := e.q.Status(context.Background(), "shop-b-1", "shop-b-2")
	require.NoError(t, err)
	require.Equal(t, queue.StateUnknown, sts[0].State)
	require.Equal(t, queue.StateUnknown, sts[1].State)

	// An unlimited producer may use any key.
	r = e.post("/v1/labels", queuetest.RequestJSON("shop-b-1", ""), "Authorization", "Bearer "+producerToken)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
}

func TestCrossSite_RefusedEvenWithBasicCredentials_ChangesNothing(t *testing.T) {
	t.Parallel()
	e := scopedEnv(t)
	e.deadLetter("dead", queue.ReasonRejected)
	reached := 0
	e.h.Handle("POST /ui/act", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }), auth.Operator)
	e.undocumented = func(r *http.Request) bool { return r.URL.Path == "/ui/act" }
	creds := basicAuth("ops", operatorToken) // what a browser keeps for the console
	keys := e.keys()
	for _, hostile := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://other.example"},
	} {
		for _, p := range []struct{ method, path string }{
			{http.MethodPost, "/v1/dead-letters/dead/redrive"},
			{http.MethodDelete, "/v1/dead-letters/dead"},
			{http.MethodPost, "/v1/dead-letters/redrive?all=true"},
			{http.MethodPost, "/ui/act"},
		} {
			r := e.do(p.method, p.path, nil, append([]string{"Authorization", creds}, hostile...)...)
			require.Equal(t, http.StatusForbidden, r.code, "%s %s %v", p.method, p.path, hostile)
			require.Contains(t, r.errorMessage(t), "cross-origin request refused")
		}
		r := e.post("/v1/labels", queuetest.RequestJSON("evil", ""), append([]string{"Authorization", basicAuth("x", token)}, hostile...)...)
		require.Equal(t, http.StatusForbidden, r.code, "%v", hostile)
	}
	require.Equal(t, 0, reached)
	require.Equal(t, keys, e.keys(), "nothing changed")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/dead-letters/dead", nil, "Sec-Fetch-Site", "cross-site").code, "reading is not an action")

	// The same origin, and clients that send neither header, act.
	r := e.do(http.MethodPost, "/ui/act", nil, "Authorization", creds, "Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	r = e.do(http.MethodPost, "/ui/act", nil, "Authorization", creds, "Origin", e.srv.URL)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.Equal(t, 2, reached)
	r = e.do(http.MethodPost, "/v1/dead-letters/dead/redrive", nil, "Authorization", creds)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
}

func TestBodylessActions_FormContentTypes_415(t *testing.T) {
	t.Parallel()
	e := scopedEnv(t)
	e.deadLetter("dead", queue.ReasonRejected)
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain;charset=UTF-8"} {
		for _, p := range []struct{ method, path string }{
			{http.MethodPost, "/v1/dead-letters/dead/redrive"},
			{http.MethodDelete, "/v1/dead-letters/dead"},
			{http.MethodPost, "/v1/dead-letters/redrive?all=true"},
		} {
			r := e.do(p.method, p.path, bytes.NewReader([]byte("a=b")), "Content-Type", ct)
			require.Equal(t, http.StatusUnsupportedMediaType, r.code, "%s %s %s", p.method, p.path, ct)
			want := "must be none or application/json (this operation takes no body; the types of HTML forms are refused)"
			if strings.HasPrefix(p.path, "/v1/dead-letters/redrive?") {
				want = "must be application/json with a body, or none without one (the types of HTML forms are refused)"
			}
			require.Equal(t, fmt.Sprintf("Content-Type: %s, got %q", want, ct), r.errorMessage(t))
		}
	}
	n, err := e.q.DeadLetters().Count(context.Background(), "")
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "nothing changed")
	r := e.do(http.MethodPost, "/v1/dead-letters/dead/redrive", nil, "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
}

func TestHandle_PrincipalInContext_AndTokenIDLogged(t *testing.T) {
	t.Parallel()
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		require.True(t, ok)
		_ = json.NewEncoder(w).Encode(p)
	})
	principal := func(r *response) auth.Principal {
		var p auth.Principal
		require.NoError(t, json.Unmarshal(r.body, &p), "%s", r.body)
		return p
	}
	e := scopedEnv(t)
	e.h.Handle("GET /ui/who", who, auth.Viewer)
	e.h.Handle("GET /metrics", who, auth.Metrics)
	e.undocumented = func(r *http.Request) bool { return r.URL.Path != "/v1/labels" }

	r := e.do(http.MethodGet, "/ui/who", nil, "Authorization", basicAuth("ops", operatorToken))
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, auth.Principal{ID: auth.TokenID(operatorToken), Scope: auth.Operator}, principal(r))
	r = e.do(http.MethodGet, "/ui/who", nil, "Authorization", "Bearer "+producerToken)
	require.Equal(t, http.StatusForbidden, r.code)
	require.Equal(t, "this token lacks scope viewer", r.errorMessage(t))
	require.Equal(t, http.StatusUnauthorized, e.do(http.MethodGet, "/ui/who", nil, "Authorization", "").code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+metricsToken).code)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+viewerToken).code)
	require.Equal(t, http.StatusForbidden, e.do(http.MethodGet, "/metrics", nil, "Authorization", "Bearer "+producerToken).code)
	require.Contains(t, e.logs.String(), `"token_id":"`+auth.TokenID(operatorToken)+`"`)
	require.Contains(t, e.logs.String(), `"token_id":"`+auth.TokenID(producerToken)+`"`, "a refused token is named too")
	require.NotContains(t, e.logs.String(), operatorToken)

	// Without authentication every caller is anonymous, with scope all.
	open := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.AllowUnauthenticated = nil, true })
	open.h.Handle("GET /ui/who", who, auth.Viewer)
	open.undocumented = e.undocumented
	r = open.do(http.MethodGet, "/ui/who", nil, "Authorization", "")
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, httpapi.Anonymous, principal(r))
	require.Equal(t, auth.Principal{ID: "anonymous", Scope: auth.All}, httpapi.Anonymous)
	require.Contains(t, open.logs.String(), `"token_id":"anonymous"`)

	// dev's console: open on a token-checking API, as anonymous.
	e.h.Handle("GET /open/who", httpapi.AsAnonymous(who), auth.Public)
	r = e.do(http.MethodGet, "/open/who", nil, "Authorization", "")
	require.Equal(t, httpapi.Anonymous, principal(r))
}

func TestTokenSet_ReplacedWhileServing(t *testing.T) {
	t.Parallel()
	set, err := auth.NewSet([]auth.Token{{Scope: auth.Viewer, Secret: viewerToken}})
	require.NoError(t, err)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenSet = nil, set })
	get := func(tok string) int {
		return e.do(http.MethodGet, "/v1/dead-letters", nil, "Authorization", "Bearer "+tok).code
	}
	require.Equal(t, http.StatusOK, get(viewerToken))
	require.Equal(t, http.StatusUnauthorized, get(operatorToken))
	require.NoError(t, set.Replace([]auth.Token{{Scope: auth.Operator, Secret: operatorToken}}))
	require.Equal(t, http.StatusUnauthorized, get(viewerToken))
	require.Equal(t, http.StatusOK, get(operatorToken))

	_, err = httpapi.New(httpapi.Config{Queue: e.q, Tokens: []string{token}, TokenSet: set})
	require.ErrorContains(t, err, "exclude each other")
}
