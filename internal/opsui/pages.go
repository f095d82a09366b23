package opsui

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue"
)

// pageSize is how many dead letters the list page shows at a time.
const pageSize = 50

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	v := viewOf(r)
	o := f.options(v.q)
	o.Limit, o.Cursor = pageSize, r.URL.Query().Get("cursor")
	rows, next, err := v.q.DeadLetters().List(ctx, o)
	if err != nil {
		h.queueError(w, r, err)
		return
	}
	// A search for a whole key that finds no other key goes to its page,
	// dead or not: searching a key is how an operator finds a label.
	if f.Q != "" && o.Cursor == "" && (len(rows) == 0 || len(rows) == 1 && rows[0].IdempotencyKey == f.Q) {
		st, err := v.q.Status(ctx, f.Q)
		if err != nil {
			h.fail(w, err)
			return
		}
		if known(st[0]) {
			http.Redirect(w, r, v.labelURL(f.Q), http.StatusSeeOther)
			return
		}
	}
	total, err := v.q.DeadLetters().CountMatching(ctx, o)
	if err != nil {
		h.queueError(w, r, err)
		return
	}
	nextURL := ""
	if next != "" {
		nextURL = v.filterURL(f, "/ui/dead-letters", "cursor", next)
	}
	h.render(w, r, http.StatusOK, "deadletters.html", page{Title: "dead letters", Data: map[string]any{
		"F": f, "Rows": rows, "Total": total, "Next": nextURL, "Lanes": []string{queue.Interactive.String(), queue.Bulk.String()},
	}})
}

// known reports whether a status is of a key flexlabel has a record of.
func known(s queue.JobStatus) bool { return s.State != queue.StateUnknown || s.LastError != nil }

// labelPage is the label page's data.
type labelPage struct {
	S       queue.JobStatus
	D       *queue.DeadLetter // when dead
	Request string            // pretty, personal fields hidden unless allowed
	// History is a live job's failed attempts (a dead one's are D's).
	History []queue.FailedAttempt
	Limit   int
	// Due is when a completed label not polled yet gets its first
	// tracking check (nil: none scheduled); a polled one has S.Tracking.
	Due *time.Time
}

// label shows any key: its state, attempts, label, and when dead its
// failure, history and request.
func (h *Handler) label(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" {
		h.problem(w, r, http.StatusBadRequest, "key: required (the idempotency key to show)")
		return
	}
	ctx := r.Context()
	q := viewOf(r).q
	st, err := q.Status(ctx, key)
	if err != nil {
		h.fail(w, err)
		return
	}
	if !known(st[0]) {
		h.problem(w, r, http.StatusNotFound, strconv.Quote(key)+": no label with this key in account "+q.Account()+" (never enqueued here, or its record expired after the retention)")
		return
	}
	lp := labelPage{S: st[0], Limit: queue.HistoryLimit}
	if !lp.S.State.Terminal() && lp.S.Attempts > 0 {
		if lp.History, err = q.History(ctx, key); err != nil {
			h.fail(w, err)
			return
		}
	}
	if lp.S.Label != nil && lp.S.Tracking == nil {
		if lp.Due, err = q.TrackingDue(ctx, key); err != nil {
			h.fail(w, err)
			return
		}
	}
	if lp.S.State == queue.StateDead {
		d, err := q.DeadLetters().Get(ctx, key)
		if err != nil && !isNotFound(err) { // not found: redriven or discarded meanwhile
			h.fail(w, err)
			return
		}
		if d != nil {
			lp.D = d
			p, _ := auth.FromContext(ctx)
			lp.Request = prettyRequest(d.Request, p.SeesPersonal())
		}
	}
	h.render(w, r, http.StatusOK, "label.html", page{Title: key, Data: lp})
}

// status is a key's state as JSON (the JobStatus of GET /v1/labels/{key},
// which holds no personal fields): the label page polls it while the job
// is not finished, and reloads when it moves.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" {
		http.Error(w, "key: required (the idempotency key to show)", http.StatusBadRequest)
		return
	}
	st, err := viewOf(r).q.Status(r.Context(), key)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, st[0])
}

// prettyRequest indents a request for reading, with its personal fields
// hidden unless personal; a request that is not JSON is shown as it is.
func prettyRequest(raw json.RawMessage, personal bool) string {
	if !personal {
		raw = redact(raw)
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// export writes the dead letters of the filter as NDJSON, the lines of
// `flexlabel dlq export` (each request with its failure in
// queue.DeadLetterField, so fixed lines enqueue as they are). The requests
// hold personal data: operators only.
func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	if !has(r, auth.Operator) {
		http.Error(w, "forbidden: export needs scope operator (the requests hold personal data)", http.StatusForbidden)
		return
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := viewOf(r).q
	// A large export outlives the server's WriteTimeout: lift it for this
	// response (not every ResponseWriter can; then the timeout stands).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/x-ndjson")
	name := "dead-letters.ndjson"
	if q.Account() != queue.DefaultAccount {
		name = "dead-letters-" + q.Account() + ".ndjson" // a valid name: nothing to quote
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	n := 0
	err = q.DeadLetters().EachMatching(r.Context(), f.options(q), func(d *queue.DeadLetter) error {
		line, err := d.ExportLine()
		if err != nil {
			return err
		}
		n++
		_, err = w.Write(append(line, '\n'))
		return err
	})
	if err != nil {
		// The status is sent with the first line; the cut is all a reader
		// can see, and the log says why.
		h.log.Error("ui: export stopped", slog.Int("lines", n), slog.String("error", err.Error()))
		if n == 0 {
			http.Error(w, "queue unavailable", http.StatusServiceUnavailable)
		}
	}
}
