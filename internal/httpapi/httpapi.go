package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
)

// Config configures a Handler.
type Config struct {
	// Queue is where requests are enqueued and dead letters live. Required.
	Queue *queue.Queue
	// Tokens are accepted API tokens with scope all (FLEXLABEL_API_TOKENS).
	// New refuses an empty token, and no tokens at all (here or in
	// TokenSet) unless AllowUnauthenticated is set.
	Tokens []string
	// TokenSet, when set, is the live set of tokens (FLEXLABEL_API_TOKENS
	// and FLEXLABEL_API_TOKENS_FILE, reloaded by an auth.Watcher); Tokens
	// must then be empty.
	TokenSet *auth.Set
	// AllowUnauthenticated lets New build a handler without tokens, which
	// then serves every route to anyone. Only for a loopback listener.
	AllowUnauthenticated bool
	// Logger receives one line per request and operational errors.
	// Default: discard.
	Logger *slog.Logger
	// Endpoints are the webhook endpoints (/v1/webhook-endpoints); nil
	// when FLEXLABEL_WEBHOOK_SIGNING_KEY is unset, and those routes then
	// answer 409 naming it.
	Endpoints *hooks.Endpoints
	// Ready reports whether the service can serve (GET /readyz).
	// Default: Queue.Ping.
	Ready func(ctx context.Context) error
	// Deliveries is the webhook delivery log (issue 15); nil while webhooks
	// are off, when its routes answer 503 naming FLEXLABEL_WEBHOOK_SIGNING_KEY.
	Deliveries *hooks.Log
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	q *queue.Queue
	// accounts resolves the Flexlabel-Account header to the account's
	// queue (q for the default account).
	accounts *accountCache
	hooks    *hooks.Endpoints // nil: webhooks off
	log      *slog.Logger
	ready    func(context.Context) error
	tokens   *auth.Set // nil: serving without authentication
	cop      *http.CrossOriginProtection
	mux      *http.ServeMux
	routes   []route
	// deliveries is the webhook delivery log; nil: webhooks off.
	dlog *hooks.Log

	healthz, readyz http.HandlerFunc // GET /healthz and /readyz (Health)
}

// New validates cfg and returns the API handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Queue == nil {
		return nil, errors.New("httpapi: Config.Queue is required")
	}
	for _, t := range cfg.Tokens {
		if t == "" {
			return nil, errors.New("httpapi: an API token is empty")
		}
	}
	h := &Handler{q: cfg.Queue, accounts: newAccountCache(cfg.Queue), hooks: cfg.Endpoints, dlog: cfg.Deliveries, log: cfg.Logger, ready: cfg.Ready, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	switch {
	case cfg.TokenSet != nil && len(cfg.Tokens) > 0:
		return nil, errors.New("httpapi: Config.Tokens and Config.TokenSet exclude each other; put every token in the set")
	case cfg.TokenSet != nil:
		h.tokens = cfg.TokenSet
	case len(cfg.Tokens) > 0:
		all := make([]auth.Token, len(cfg.Tokens))
		for i, t := range cfg.Tokens {
			all[i] = auth.Token{Scope: auth.All, Secret: t}
		}
		set, err := auth.NewSet(all)
		if err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
		h.tokens = set
	case !cfg.AllowUnauthenticated:
		return nil, errors.New("httpapi: no API tokens configured; refusing to serve without authentication")
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.ready == nil {
		h.ready = h.q.Ping
	}
	h.healthz, h.readyz = Health(h.ready, h.log)
	h.routes = h.table()
	for _, rt := range h.routes {
		h.Handle(rt.method+" "+rt.path, checkContentType(rt.method, rt.body, rt.serve), rt.scopes...)
	}
	return h, nil
}

// crossOriginMessage answers a state-changing request a browser sent from
// another site (http.CrossOriginProtection).
const crossOriginMessage = "cross-origin request refused: a state-changing request must come from this site's own pages or from a client that is not a browser"

// Handle mounts an extra handler (metrics, UI) on the API's mux, for
// callers whose token has one of scopes (auth.Public, or none, serves
// everyone), with the principal in the request's context (auth.FromContext).
// It gets the API's request ids, logging, cross-origin protection and JSON
// 401/403/404/405 answers; the content-type rules of the API's routes are
// not applied, as the console posts HTML forms. pattern is a net/http
// ServeMux pattern; like ServeMux.Handle it panics when the pattern is
// invalid or conflicts with a route already mounted.
func (h *Handler) Handle(pattern string, handler http.Handler, scopes ...auth.Scope) {
	h.mux.Handle(pattern, h.guard(scopes, handler))
}

// ServeHTTP serves one request: it assigns the request id, routes, and logs
// one line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get(requestIDHeader))
	w.Header().Set(requestIDHeader, id)
	info := &requestInfo{}
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	r = r.WithContext(context.WithValue(ctx, requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}

	_, pattern := h.mux.Handler(r)
	if r.Method == http.MethodHead && strings.HasPrefix(pattern, http.MethodGet+" ") {
		// ServeMux answers HEAD with the GET route; the API does not
		// serve HEAD (openapi.yaml lists no HEAD operation).
		pattern = ""
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.LogAttrs(r.Context(), slog.LevelError, "http handler panicked",
				slog.String("pattern", pattern), slog.Any("panic", v), slog.String("request_id", id))
			if sw.status == 0 {
				writeError(sw, http.StatusInternalServerError, "internal error")
			}
		}
		level := slog.LevelInfo
		if sw.code() >= 500 {
			level = slog.LevelWarn
		}
		logged := pattern
		if logged == "" {
			logged = "unmatched"
		}
		h.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("pattern", logged),
			slog.Int("status", sw.code()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id),
			slog.String("token_id", info.tokenID))
	}()

	// Before anything else: a page on another site must not act with the
	// credentials a browser keeps for this one (the console's Basic auth).
	if err := h.cop.Check(r); err != nil {
		writeError(sw, http.StatusForbidden, crossOriginMessage)
		return
	}
	if pattern == "" {
		h.unmatched(sw, r)
		return
	}
	h.mux.ServeHTTP(sw, r)
}

// unmatched answers what the mux would answer for a request no route takes
// (404, or 405 with Allow), in JSON.
func (h *Handler) unmatched(w http.ResponseWriter, r *http.Request) {
	probe := r
	if r.Method == http.MethodHead {
		// A method no route has, so the mux tells 404 from 405.
		probe = r.Clone(r.Context())
		probe.Method = "UNSERVED-HEAD"
	}
	mh, _ := h.mux.Handler(probe)
	rec := &headerRecorder{header: make(http.Header)}
	mh.ServeHTTP(rec, probe)
	if rec.status == http.StatusMethodNotAllowed {
		var allow []string
		for m := range strings.SplitSeq(rec.header.Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" && m != http.MethodHead {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	writeError(w, http.StatusNotFound, "not found")
}

// NewServer returns an http.Server for h with timeouts fit for the API: no
// request may hold a connection or a handler for long.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// statusWriter remembers the status a handler wrote, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through, for mounted handlers that stream.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// headerRecorder captures the status and headers of the mux's own 404/405
// answers so they can be re-sent as JSON; the text body is dropped.
type headerRecorder struct {
	header http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.header }
func (r *headerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
