package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/flexlabel/flexlabel/queue"
)

const (
	requestIDHeader = "X-Request-Id"
	maxRequestIDLen = 64
)

type requestIDKey struct{}

// requestID returns the client's request id when it is usable as it is —
// 1 to 64 of a safe set of characters — and a new id otherwise. An id is
// never edited: a client searching the logs for the id it sent finds it, or
// finds that it was replaced (the response carries the id used). The id goes
// into a response header and the logs, so it must be inert there.
func requestID(in string) string {
	if in == "" || len(in) > maxRequestIDLen {
		return rand.Text()
	}
	for i := 0; i < len(in); i++ {
		if c := in[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:/+=@", c) >= 0) {
			return rand.Text()
		}
	}
	return in
}

// errorBody is the body of every error answer that has no richer shape.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON sends v as the whole response.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; failing is a bug.
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal error: encoding the response"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// unavailableMessage is the error of every 503. The cause is logged, not
// sent: it names internal addresses.
const unavailableMessage = "queue unavailable: Redis did not answer; retry the same request"

// unavailableText is the error of a 503 for err: unavailableMessage, or,
// for a write too few Redis replicas acknowledged (FLEXLABEL_REDIS_MIN_REPLICAS),
// how many did: no address in it, and the same advice, since the write is
// idempotent.
func unavailableText(err error) string {
	var re *queue.ReplicaError
	if errors.As(err, &re) {
		return fmt.Sprintf("queue unavailable: %d of %d Redis replicas acknowledged the write within %s; retry the same request (it is idempotent)",
			re.Acked, re.Want, re.Timeout)
	}
	return unavailableMessage
}

// unavailable answers a failure to reach Redis (or enough of its
// replicas): 503, retry in a second.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.queueDown(w, r, err)
	writeError(w, http.StatusServiceUnavailable, unavailableText(err))
}

// queueDown logs a failure to reach Redis and sets Retry-After, for a 503
// whose body the caller writes.
func (h *Handler) queueDown(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "queue unavailable",
		slog.String("error", err.Error()), slog.String("request_id", requestIDOf(r)))
	w.Header().Set("Retry-After", "1")
}

func requestIDOf(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}
