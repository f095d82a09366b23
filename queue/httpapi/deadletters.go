package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/flexlabel/flexlabel/queue"
)

// redriveChunk is how many keys one Redrive call takes during a bulk redrive.
const redriveChunk = 100

// listResponse is the answer of GET /v1/dead-letters.
type listResponse struct {
	DeadLetters []queue.ListEntry `json:"deadLetters"`
	NextCursor  *string           `json:"nextCursor"`
	Total       int64             `json:"total"`
}

// listDeadLetters is GET /v1/dead-letters?reason=&limit=&cursor=: a page of
// dead letters, oldest failure first, with the cursor of the next page (null
// at the end) and the total of the reason (or all).
func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reason := q.Get("reason")
	if msg := checkReason(reason); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: must be a whole number from 1 to 1000, got %q", s))
			return
		}
		limit = n
	}
	page, next, err := h.q.List(r.Context(), queue.ListOptions{Reason: reason, Limit: limit, Cursor: q.Get("cursor")})
	if errors.Is(err, queue.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "cursor: not a cursor this API returned; pass nextCursor as it is")
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	total, err := h.q.Count(r.Context(), reason)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	resp := listResponse{DeadLetters: make([]queue.ListEntry, len(page)), Total: total}
	for i := range page {
		resp.DeadLetters[i] = page[i].Entry()
	}
	if next != "" {
		resp.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, resp)
}

func checkReason(reason string) string {
	if reason != "" && !queue.ValidReason(reason) {
		return fmt.Sprintf("reason: unknown dead-letter reason %q (want one of %s)", reason, strings.Join(queue.Reasons, ", "))
	}
	return ""
}

const notDead = "not in the dead-letter queue"

// getDeadLetter is GET /v1/dead-letters/{key}: the whole dead letter,
// request, failure history and supersededBy included.
func (h *Handler) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	d, err := h.q.Get(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if d == nil {
		writeError(w, http.StatusNotFound, notDead)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// redriveDeadLetter is POST /v1/dead-letters/{key}/redrive: put the job back
// on its queue under the same key. 404 if the key is not dead; 409 if the
// dead letter changed while being redriven (retry).
func (h *Handler) redriveDeadLetter(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	res, err := h.q.Redrive(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if res[0].Done {
		writeJSON(w, http.StatusOK, res[0])
		return
	}
	// Redrive says why only in prose; whether the key is still dead
	// tells the two cases apart.
	d, err := h.q.Get(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if d == nil {
		writeJSON(w, http.StatusNotFound, queue.OpResult{IdempotencyKey: key, Error: notDead})
		return
	}
	writeJSON(w, http.StatusConflict, res[0])
}

// discardDeadLetter is DELETE /v1/dead-letters/{key}: drop the dead letter
// for good, freeing its key.
func (h *Handler) discardDeadLetter(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	res, err := h.q.Discard(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	code := http.StatusOK
	if !res[0].Done {
		code = http.StatusNotFound
	}
	writeJSON(w, code, res[0])
}

// redriveResponse is the answer of POST /v1/dead-letters/redrive; on 503 it
// also carries the error and what was done before Redis failed.
type redriveResponse struct {
	Error    string `json:"error,omitempty"`
	Redriven int    `json:"redriven"`
	Failed   int    `json:"failed"`
}

// redriveDeadLetters is POST /v1/dead-letters/redrive?reason=R (or
// ?all=true): redrive a snapshot of every dead letter of a reason, so the
// walk ends even when the jobs die again at once. Keys that cannot be
// redriven (discarded or redriven meanwhile) count as failed.
func (h *Handler) redriveDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reason := q.Get("reason")
	all := false
	if s := q.Get("all"); s != "" {
		var err error
		if all, err = strconv.ParseBool(s); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("all: must be true or false, got %q", s))
			return
		}
	}
	switch {
	case reason != "" && all:
		writeError(w, http.StatusBadRequest, "reason and all=true exclude each other; pass one")
		return
	case reason == "" && !all:
		writeError(w, http.StatusBadRequest, "reason: required (one of "+strings.Join(queue.Reasons, ", ")+"), or all=true to redrive every dead letter")
		return
	}
	if msg := checkReason(reason); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	var resp redriveResponse
	keys, err := h.q.Keys(r.Context(), reason)
	if err != nil {
		// Nothing done yet, but the 503 is a summary all the same.
		h.queueDown(w, r, err)
		resp.Error = unavailableMessage
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	for chunk := range slices.Chunk(keys, redriveChunk) {
		res, err := h.q.Redrive(r.Context(), chunk...)
		for _, o := range res {
			if o.Done {
				resp.Redriven++
			} else {
				resp.Failed++
			}
		}
		if err != nil {
			h.queueDown(w, r, err)
			resp.Error = unavailableMessage
			writeJSON(w, http.StatusServiceUnavailable, resp)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
