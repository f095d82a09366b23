package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/flexlabel/flexlabel/queue"
)

// exportError is the last line of an export that Redis cut short: the
// status (200) was sent with the first line, so the stream itself says it is
// incomplete. No export line has this shape (each is a request with an
// idempotencyKey), and `flexlabel enqueue` refuses it as invalid.
type exportError struct {
	Error    string `json:"error"`
	Exported int    `json:"exported"`
}

// exportWriteWindow is how long the client may take to read each line: the
// server's WriteTimeout bounds a whole answer, which an export of many dead
// letters may outlast, so each line extends it.
const exportWriteWindow = 30 * time.Second

// exportDeadLetters is POST /v1/dead-letters/export?reason=&prefix=&queue=&since=&until=[&newKeys=true]:
// the requests of the dead letters the filter selects (all without one) as NDJSON, the very lines `flexlabel dlq
// export` prints (queue.DeadLetters.Export). POST, as newKeys records each
// new key in its dead letter. The status waits for the first line, so a
// Redis failure before it is a plain 503; after it, the stream ends with an
// exportError line.
func (h *Handler) exportDeadLetters(w http.ResponseWriter, r *http.Request) {
	f, ok := parseFilter(w, r)
	if !ok {
		return
	}
	newKeys, ok := boolParam(w, r, "newKeys")
	if !ok {
		return
	}
	if errors.Is(queue.CheckExport(f.Reason, newKeys), queue.ErrNewKeyReason) {
		writeError(w, http.StatusBadRequest, "newKeys: needs reason="+string(queue.ReasonCourierRejected)+
			": only a courier rejection keeps the old key from ever making a label; other dead letters are redriven or fixed under their key")
		return
	}
	q, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	started := false
	start := func() {
		started = true
		hdr := w.Header()
		hdr.Set("Content-Type", "application/x-ndjson")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	var writeErr error
	dl := q.DeadLetters()
	sum, err := dl.ExportMatching(r.Context(), dl.Options(f), newKeys, func(line []byte) error {
		if !started {
			start()
		}
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow)) // not every writer has one
		if _, writeErr = w.Write(append(line, '\n')); writeErr != nil {
			return writeErr
		}
		return nil
	})
	switch {
	case err != nil && writeErr != nil:
		// The client went away; there is no one to tell.
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "export: client stopped reading",
			slog.Int("exported", sum.Exported), slog.String("error", err.Error()), slog.String("request_id", requestIDOf(r)))
	case err != nil && !started:
		h.unavailable(w, r, err)
	case err != nil:
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "export cut short: queue unavailable",
			slog.Int("exported", sum.Exported), slog.String("error", err.Error()), slog.String("request_id", requestIDOf(r)))
		b, _ := json.Marshal(exportError{Error: unavailableText(err), Exported: sum.Exported})
		_, _ = w.Write(append(b, '\n'))
	case !started:
		start() // nothing to export: an empty stream
	}
}
