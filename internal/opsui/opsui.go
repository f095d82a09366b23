package opsui

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
)

//go:embed templates/*.html templates/console.js
var templates embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"lane":     laneOf,
	"place":    checkpointPlace,
	"tagClass": tagClass,
}).ParseFS(templates, "templates/*.html"))

// labelURL is the label page of key in the default account, for the
// fleet-wide pages (the webhooks'), whose events name no account; a page of
// an account links its keys with view.labelURL.
func labelURL(key string) string { return "/ui/label?key=" + url.QueryEscape(key) }

// checkpointPlace is where a checkpoint happened: its city, state and
// country, or its free-form location when it gives none of those.
func checkpointPlace(cp flexapi.Checkpoint) string {
	var parts []string
	for _, p := range []string{cp.City, cp.State, cp.CountryRegion} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 && cp.Location != nil {
		return *cp.Location
	}
	return strings.Join(parts, ", ")
}

// tagClass colours the tags that end or trouble a follow-up (the
// attribute gets a fixed class, never the API's own text).
func tagClass(tag string) string {
	switch tag {
	case flexapi.TagDelivered:
		return " state-completed"
	case flexapi.TagException:
		return " state-dead"
	case flexapi.TagCancelled:
		return " state-skipped"
	}
	return ""
}

// sharedConn hands asynqmon the Redis client flexlabel already has, so the
// UI needs no credentials of its own.
type sharedConn struct{ c redis.UniversalClient }

func (s sharedConn) MakeRedisClient() any { return s.c }

var _ asynq.RedisConnOpt = sharedConn{}

// Handler serves the UI under /ui/. Mount it at "/ui/".
type Handler struct {
	q   *queue.Queue
	mon *asynqmon.HTTPHandler
	mux *http.ServeMux
	log *slog.Logger
	// csrfKey signs the CSRF tokens of this process (csrf.go): random per
	// process, so a restart only makes open forms stale.
	csrfKey [32]byte
	runs    runs
	tokens  *auth.Set // the API's live tokens, for /ui/tokens; nil: not shown
	// eps and dlog are the webhook endpoints and their delivery log, for
	// /ui/webhooks (webhooks.go); nil while webhooks are off.
	eps  *hooks.Endpoints
	dlog *hooks.Log
}

// Option configures the UI.
type Option func(*Handler)

// WithTokens lists the API's live tokens (ids, scopes, prefixes, last use;
// never a secret) on /ui/tokens, for operators rotating one.
func WithTokens(s *auth.Set) Option { return func(h *Handler) { h.tokens = s } }

// New returns the UI for q.
func New(q *queue.Queue, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{
		q:   q,
		log: log,
		mon: asynqmon.New(asynqmon.Options{RootPath: "/ui/queues", RedisConnOpt: sharedConn{q.Redis()}, ReadOnly: true}),
		mux: http.NewServeMux(),
	}
	for _, o := range opts {
		o(h)
	}
	rand.Read(h.csrfKey[:]) // never fails (crypto/rand)
	h.runs.m = make(map[string]*run)
	h.mux.HandleFunc("GET /ui/{$}", h.index)
	h.mux.HandleFunc("GET /ui/counts", h.counts)
	h.mux.HandleFunc("GET /ui/console.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFileFS(w, r, templates, "templates/console.js")
	})
	h.mux.HandleFunc("GET /ui/dead-letters", h.deadLetters)
	h.mux.HandleFunc("GET /ui/label", h.label)
	h.mux.HandleFunc("GET /ui/status", h.status)
	h.mux.HandleFunc("GET /ui/dead-letter", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			h.problem(w, r, http.StatusBadRequest, "key: required (the idempotency key to show)")
			return
		}
		http.Redirect(w, r, viewOf(r).labelURL(key), http.StatusMovedPermanently)
	})
	h.mux.HandleFunc("GET /ui/export", h.export)
	h.mux.HandleFunc("POST /ui/confirm", h.confirm)
	h.mux.HandleFunc("POST /ui/act", h.act)
	h.mux.HandleFunc("GET /ui/result", h.result)
	// The tokens, the webhooks and asynqmon are the fleet's, not an
	// account's: a token bound to accounts sees none of them (fleetWide).
	h.mux.Handle("GET /ui/tokens", needs(auth.Operator, fleetWide(http.HandlerFunc(h.tokensPage))))
	// Endpoints' URLs and the events' payloads are operators' business.
	h.mux.Handle("GET /ui/webhooks", needs(auth.Operator, fleetWide(http.HandlerFunc(h.webhooksPage))))
	h.mux.Handle("GET /ui/webhooks/endpoint", needs(auth.Operator, fleetWide(http.HandlerFunc(h.webhookEndpointPage))))
	h.mux.Handle("GET /ui/webhooks/event", needs(auth.Operator, fleetWide(http.HandlerFunc(h.webhookEventPage))))
	// asynqmon shows each task's payload, the request with its personal
	// fields, so it is for the scopes that may see them.
	h.mux.Handle("/ui/queues/", needs(auth.Operator, fleetWide(h.mon)))
	h.mux.HandleFunc("/ui/queues", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/queues/", http.StatusFound)
	})
	return h
}

// ServeHTTP serves the UI to callers with scope viewer; the API's
// authentication puts the caller in the request's context, and a request
// without one (a mount that skipped it) is refused. Every page is of the
// account its ?account= names (account.go); a token bound to accounts
// (auth.Principal.Accounts) gets 403 for any other, and lands on its
// first.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok || !p.Has(auth.Viewer) {
		http.Error(w, "forbidden: the console needs scope viewer", http.StatusForbidden)
		return
	}
	v, status, msg := h.resolveView(r, p)
	if v.q == nil {
		http.Error(w, msg, status)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), viewKey{}, v))
	if msg != "" {
		h.problem(w, r, status, msg)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func needs(s auth.Scope, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !has(r, s) {
			http.Error(w, "forbidden: needs scope "+string(s), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// has reports whether the request's caller has scope s; no caller has none.
func has(r *http.Request, s auth.Scope) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Has(s)
}

// page is what every page's template gets: the caller's powers, the counts
// bar, and the page's own data.
type page struct {
	Title    string
	Landing  bool // the landing page shows the counts as a panel, not a bar
	Operator bool // may act, export and see personal fields
	// Caller and Scope name who is signed in: the token's non-secret id
	// (as the API's request log names it) and its scope, so an operator
	// rotating a token sees which one the browser presents.
	Caller, Scope string
	CSRF          string
	Tokens        bool // the tokens page exists (and Operator may see it)
	// Fleet: the caller may see the fleet-wide pages (asynqmon, the
	// webhooks, the tokens): its token is not bound to accounts.
	Fleet    bool
	Account  string // the account the page shows
	Accounts accountsBar
	Counts   queue.Counts
	Reasons  []queue.Reason
	Data     any

	v view
}

// Link is path (with the parameters kv: name, value, …) in the page's
// account: every link of an account's page goes through it.
func (p page) Link(path string, kv ...string) string { return p.v.link(path, kv...) }

// Label is the label page of key in the page's account.
func (p page) Label(key string) string { return p.v.labelURL(key) }

// ReasonLink is the dead-letter list of reason r in the page's account.
func (p page) ReasonLink(r queue.Reason) string {
	return p.v.link("/ui/dead-letters", "reason", string(r))
}

// FilterLink is path with filter f's query in the page's account.
func (p page) FilterLink(path string, f filter) string { return p.v.filterURL(f, path) }

// Named reports whether the page's links name its account, so a GET form
// (whose fields replace its action's query) carries it as a field.
func (p page) Named() bool { return p.v.named }

// render reads the counts and the accounts for the header and renders
// page name.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.v = viewOf(r)
	c, err := p.v.q.Counts(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	caller, _ := auth.FromContext(r.Context())
	if p.Accounts, err = h.accountsBar(r.Context(), r, caller, p.v); err != nil {
		h.fail(w, err)
		return
	}
	p.Account = p.v.account
	p.Counts, p.Reasons = c, queue.Reasons
	p.Operator = has(r, auth.Operator)
	p.Tokens = h.tokens != nil
	p.Fleet = len(caller.Accounts) == 0
	p.Caller, p.Scope = caller.ID, string(caller.Scope)
	if p.Operator {
		p.CSRF = h.csrfToken(r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		h.log.Error("ui: rendering", slog.String("page", name), slog.String("error", err.Error()))
	}
}

// problem renders an error page: what was wrong, in words naming the
// parameter.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "problem.html", page{Title: http.StatusText(status), Data: msg})
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.log.Error("ui: reading the queue", slog.String("error", err.Error()))
	http.Error(w, "queue unavailable", http.StatusServiceUnavailable)
}

// queueError answers err of a queue operation: the caller's mistakes (a bad
// reason or cursor) with 400, anything else as the queue being unavailable.
func (h *Handler) queueError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, queue.ErrBadCursor):
		h.problem(w, r, http.StatusBadRequest, "cursor: "+err.Error())
	case errors.Is(err, queue.ErrBadReason):
		h.problem(w, r, http.StatusBadRequest, "reason: "+err.Error())
	default:
		h.fail(w, err)
	}
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	q := viewOf(r).q
	h.render(w, r, http.StatusOK, "index.html", page{Title: "operations", Landing: true, Data: map[string]string{
		"Queue": q.Name(queue.Interactive), "BulkQueue": q.Name(queue.Bulk),
	}})
}

// counts is the live bar's data, polled by the pages' script. Polling a
// small JSON document every few seconds rather than streaming server-sent
// events: a stream would hold a connection per open tab against the API
// server's 30s WriteTimeout (and proxies' idle timeouts), to save a
// one-round-trip Redis read (Queue.Counts) every few seconds.
func (h *Handler) counts(w http.ResponseWriter, r *http.Request) {
	c, err := viewOf(r).q.Counts(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, c)
}

// laneOf names the lane of an asynq queue name ("interactive" or "bulk").
func laneOf(queueName string) string {
	if strings.HasSuffix(queueName, "-bulk") {
		return queue.Bulk.String()
	}
	return queue.Interactive.String()
}

// tokensPage lists the API's tokens by id, scope and key prefixes, with
// when this process last accepted each: during a rotation the operator
// sees the new token arrive (the file was re-read) and the old one fall
// idle before removing it. Each serve process keeps its own last use.
func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request) {
	if h.tokens == nil {
		h.problem(w, r, http.StatusNotFound, "this console serves without API tokens (--insecure-no-auth or dev), so there are none to list")
		return
	}
	list, loadedAt := h.tokens.Tokens()
	h.render(w, r, http.StatusOK, "tokens.html", page{Title: "API tokens", Data: map[string]any{
		"Tokens": list, "LoadedAt": loadedAt,
	}})
}
