package opsui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

// The callers of the tests, picked per request by the X-Test-As header
// (as the API's authentication would put them in the context).
var principals = map[string]auth.Principal{
	"viewer":   {ID: "tok-viewer", Scope: auth.Viewer},
	"operator": {ID: "tok-operator", Scope: auth.Operator},
	"other-op": {ID: "tok-other", Scope: auth.Operator},
	"producer": {ID: "tok-producer", Scope: auth.Producer},
	// Tokens bound to accounts.
	"op-a":    {ID: "tok-op-a", Scope: auth.Operator, Accounts: []string{"brand-a"}},
	"view-ab": {ID: "tok-view-ab", Scope: auth.Viewer, Accounts: []string{"brand-a", "brand-b"}},
}

// serve serves the UI of q with opts; requests without X-Test-As reach it
// without a principal.
func serve(t *testing.T, q *queue.Queue, opts ...opsui.Option) *httptest.Server {
	t.Helper()
	h := opsui.New(q, slog.New(slog.DiscardHandler), opts...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := principals[r.Header.Get("X-Test-As")]; ok {
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newQueue is a queue on the test Redis, in a namespace of its own.
func newQueue(t *testing.T) *queue.Queue {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	return q
}

// kill dead-letters key on lane with reason, as the worker does.
func kill(t *testing.T, q *queue.Queue, key string, lane queue.Lane, reason queue.Reason, msg string) {
	t.Helper()
	ctx := context.Background()
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), lane)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome, key)
	queuetest.Dequeue(t, q.Redis(), q.Name(lane), key)
	j := queuetest.Job(t, q, key, "", lane)
	n := queuetest.Attempt(t, q, j)
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 422, Message: msg, Attempts: n}))
}

type response struct {
	code     int
	body     string
	location string
	header   http.Header
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, srv *httptest.Server, as, method, path string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, srv.URL+path, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if as != "" {
		req.Header.Set("X-Test-As", as)
	}
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, string(b), resp.Header.Get("Location"), resp.Header}
}

// get fetches path as an operator, following redirects.
func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	return getAs(t, srv, "operator", path)
}

func getAs(t *testing.T, srv *httptest.Server, as, path string) (int, string) {
	t.Helper()
	for range 5 {
		r := do(t, srv, as, "GET", path, nil)
		if r.location == "" {
			return r.code, r.body
		}
		path = r.location
	}
	t.Fatalf("too many redirects from %s", path)
	return 0, ""
}

// csrfOf pulls the page's CSRF token out of its first action form.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the page has a CSRF token")
	return m[1]
}

func TestUI_ShowsDeadLettersWithReasonsAndMountsAsynqmon(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "dead-<auth>", queue.Interactive, queue.ReasonAuth, "Unauthorized <b>")
	kill(t, q, "dead-courier", queue.Interactive, queue.ReasonCourierRejected, "no")
	srv := serve(t, q)

	code, body := get(t, srv, "/ui/")
	require.Equal(t, 200, code)
	contains(t, body, `href="/ui/queues/"`)
	contains(t, body, `href="/ui/dead-letters"`)
	require.Regexp(t, `auth</a></td><td class="num"><b data-reason="auth">1</b>`, body)

	code, body = get(t, srv, "/ui/dead-letters?reason=auth")
	require.Equal(t, 200, code)
	contains(t, body, "dead-&lt;auth&gt;", "keys are HTML-escaped")
	contains(t, body, "Unauthorized &lt;b&gt;")
	lacks(t, body, `<code>dead-courier</code>`)

	code, _ = get(t, srv, "/ui/dead-letters?reason=bogus")
	require.Equal(t, 400, code)

	code, body = get(t, srv, "/ui/queues/")
	require.Equal(t, 200, code)
	require.True(t, strings.Contains(strings.ToLower(body), "<html"), "asynqmon serves its app")
	code, body = get(t, srv, "/ui/queues/api/queues")
	require.Equal(t, 200, code)
	contains(t, body, "queues")
}

// TestUI_Scopes: the console is for viewers and up; asynqmon, which shows
// the requests' personal fields in its payloads, for operators; a request
// that reaches the UI without a principal gets nothing.
func TestUI_Scopes(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	srv := serve(t, q)
	for _, c := range []struct {
		as, path string
		code     int
	}{
		{"", "/ui/", 403},
		{"producer", "/ui/", 403},
		{"producer", "/ui/counts", 403},
		{"viewer", "/ui/", 200},
		{"viewer", "/ui/counts", 200},
		{"viewer", "/ui/queues/", 403},
		{"viewer", "/ui/export", 403},
		{"operator", "/ui/queues/", 200},
		{"operator", "/ui/export", 200},
	} {
		require.Equal(t, c.code, do(t, srv, c.as, "GET", c.path, nil).code, "%s %s", c.as, c.path)
	}
}

// mainOf is a page's <main>, what failure messages print of it.
func mainOf(body string) string {
	_, m, ok := strings.Cut(body, "<main>")
	if !ok {
		return body
	}
	m, _, _ = strings.Cut(m, "</main>")
	return m
}

func contains(t *testing.T, body, s string, msg ...any) {
	t.Helper()
	if !strings.Contains(body, s) {
		t.Fatalf("page lacks %q %v; its main part:\n%s", s, msg, mainOf(body))
	}
}

func lacks(t *testing.T, body, s string, msg ...any) {
	t.Helper()
	if i := strings.Index(body, s); i >= 0 {
		t.Fatalf("page has %q %v, at: %s", s, msg, body[max(0, i-200):min(len(body), i+200)])
	}
}

// actionForm matches an action form (the JS refers to data-action too,
// but in console.js, not in the page).
var actionForm = regexp.MustCompile(`<form[^>]*data-action=`)

// Every page names who is signed in, by the token's non-secret id and its
// scope: the token-rotation drill (docs/OPERATIONS.md) checks it.
func TestUI_PagesNameTheCaller(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	srv := serve(t, q)
	for _, as := range []string{"viewer", "operator"} {
		for _, path := range []string{"/ui/", "/ui/dead-letters"} {
			code, body := getAs(t, srv, as, path)
			require.Equal(t, 200, code, "%s %s", as, path)
			p := principals[as]
			require.Contains(t, body, `<span id="caller" class="caller" title="the token this browser presents, by its id in the request log">`+p.ID+" · scope "+string(p.Scope)+"</span>", "%s %s", as, path)
		}
	}
}

// The tokens page lists each live token by id, scope and prefixes with its
// last use — to operators only, and never a secret.
func TestUI_TokensPage(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	prod := auth.Token{Scope: auth.Producer, Secret: "producer-secret-for-ui-1", Prefixes: []string{"shop-a-", "shop-b-"}}
	idle := auth.Token{Scope: auth.Viewer, Secret: "viewer-secret-for-ui-002"}
	set, err := auth.NewSet([]auth.Token{prod, idle})
	require.NoError(t, err)
	_, ok := set.Lookup(prod.Secret)
	require.True(t, ok)

	h := opsui.New(q, slog.New(slog.DiscardHandler), opsui.WithTokens(set))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := principals[r.Header.Get("X-Test-As")]; ok {
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	require.Equal(t, 403, do(t, srv, "viewer", "GET", "/ui/tokens", nil).code)
	code, body := getAs(t, srv, "operator", "/ui/tokens")
	require.Equal(t, 200, code)
	row := func(id string) string {
		_, after, ok := strings.Cut(body, `<tr data-token="`+id+`">`)
		require.True(t, ok, "a row for %s in:\n%s", id, mainOf(body))
		r, _, _ := strings.Cut(after, "</tr>")
		return r
	}
	p := row(prod.ID())
	require.Contains(t, p, "<td>producer</td>")
	require.Contains(t, p, "<code>shop-a-</code>, <code>shop-b-</code>")
	require.NotContains(t, p, "not since this process started", "the producer token was used")
	v := row(idle.ID())
	require.Contains(t, v, "any key")
	require.Contains(t, v, "not since this process started")
	require.NotContains(t, body, prod.Secret)
	require.NotContains(t, body, idle.Secret)

	_, other := getAs(t, srv, "operator", "/ui/")
	require.Contains(t, other, `<a href="/ui/tokens">Tokens</a>`, "operators get a link")
	_, viewerPage := getAs(t, srv, "viewer", "/ui/")
	require.NotContains(t, viewerPage, `/ui/tokens`)
}
