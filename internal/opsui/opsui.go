// Package opsui is the operator's web UI: asynq's queue monitor (asynqmon,
// read-only) mounted under /ui/queues/, and flexlabel's own dead-letter queue
// — with reasons, HTTP statuses and messages, which asynq's archive does not
// have — under /ui/dead-letters, each entry's failure history, supersededBy
// and request under /ui/dead-letter?key=K, linked from a landing page at /ui/.
//
// Actions (redrive, discard) stay with the CLI and the HTTP API, which keep
// flexlabel's records and asynq's tasks consistent; asynqmon is read-only for
// the same reason.
package opsui

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/queue"
)

//go:embed templates/*.html
var templates embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"reasonURL": func(r queue.Reason) string { return "/ui/dead-letters?reason=" + string(r) },
}).ParseFS(templates, "templates/*.html"))

// sharedConn hands asynqmon the Redis client flexlabel already has, so the
// UI needs no credentials of its own.
type sharedConn struct{ c redis.UniversalClient }

func (s sharedConn) MakeRedisClient() any { return s.c }

// Handler serves the UI under /ui/. Mount it at "/ui/".
type Handler struct {
	q   *queue.Queue
	mon *asynqmon.HTTPHandler
	mux *http.ServeMux
	log *slog.Logger
}

var _ asynq.RedisConnOpt = sharedConn{}

// New returns the UI for q.
func New(q *queue.Queue, log *slog.Logger) *Handler {
	h := &Handler{
		q:   q,
		log: log,
		mon: asynqmon.New(asynqmon.Options{RootPath: "/ui/queues", RedisConnOpt: sharedConn{q.Redis()}, ReadOnly: true}),
		mux: http.NewServeMux(),
	}
	h.mux.HandleFunc("GET /ui/{$}", h.index)
	h.mux.HandleFunc("GET /ui/dead-letters", h.deadLetters)
	h.mux.HandleFunc("GET /ui/dead-letter", h.deadLetter)
	h.mux.Handle("/ui/queues/", h.mon)
	h.mux.HandleFunc("/ui/queues", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/queues/", http.StatusFound)
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type reasonCount struct {
	Reason queue.Reason
	Count  int64
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	counts, err := h.q.DeadLetters().CountByReason(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	var rc []reasonCount
	var total int64
	for _, reason := range queue.Reasons {
		rc = append(rc, reasonCount{reason, counts[reason]})
		total += counts[reason]
	}
	h.render(w, "index.html", map[string]any{
		"Queue": h.q.Name(queue.Interactive), "BulkQueue": h.q.Name(queue.Bulk),
		"Reasons": rc, "Total": total,
	})
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	s := r.URL.Query().Get("reason")
	reason, err := queue.ParseReason(s)
	if err != nil {
		http.Error(w, "unknown reason "+strconv.Quote(s), http.StatusBadRequest)
		return
	}
	limit := 50
	page, next, err := h.q.DeadLetters().List(r.Context(), queue.ListOptions{Reason: reason, Limit: limit, Cursor: r.URL.Query().Get("cursor")})
	if errors.Is(err, queue.ErrBadCursor) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	total, err := h.q.DeadLetters().Count(r.Context(), reason)
	if err != nil {
		h.fail(w, err)
		return
	}
	nextURL := ""
	if next != "" {
		nextURL = "/ui/dead-letters?cursor=" + next
		if reason != "" {
			nextURL += "&reason=" + string(reason)
		}
	}
	h.render(w, "deadletters.html", map[string]any{
		"Reason": reason, "Reasons": queue.Reasons, "Entries": page, "Total": total, "Next": nextURL,
	})
}

// deadLetter shows one dead letter (?key=K, any key, however it is
// spelled): its failure, its history and its request.
func (h *Handler) deadLetter(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" {
		http.Error(w, "key: required", http.StatusBadRequest)
		return
	}
	d, err := h.q.DeadLetters().Get(r.Context(), key)
	if errors.Is(err, queue.ErrNotFound) {
		http.Error(w, strconv.Quote(key)+" is not in the dead-letter queue", http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	var req bytes.Buffer
	if json.Indent(&req, d.Request, "", "  ") != nil {
		req.Reset()
		req.Write(d.Request)
	}
	h.render(w, "deadletter.html", map[string]any{"D": d, "Request": req.String(), "Limit": queue.HistoryLimit})
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.log.Error("ui: rendering", slog.String("page", name), slog.String("error", err.Error()))
	}
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.log.Error("ui: reading the queue", slog.String("error", err.Error()))
	http.Error(w, "queue unavailable", http.StatusServiceUnavailable)
}
