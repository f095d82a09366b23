package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/flexlabel/flexlabel/queue"
)

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
	reason, ok := parseReason(w, q.Get("reason"))
	if !ok {
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
	page, next, err := h.q.DeadLetters().List(r.Context(), queue.ListOptions{Reason: reason, Limit: limit, Cursor: q.Get("cursor")})
	if errors.Is(err, queue.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "cursor: not a cursor this API returned; pass nextCursor as it is")
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	total, err := h.q.DeadLetters().Count(r.Context(), reason)
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

// parseReason reads the reason parameter ("" for every reason), or answers
// 400 and returns false.
func parseReason(w http.ResponseWriter, s string) (queue.Reason, bool) {
	reason, err := queue.ParseReason(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("reason: unknown dead-letter reason %q (want one of %s)", s, reasonList()))
		return "", false
	}
	return reason, true
}

func reasonList() string { return strings.Join(queue.ReasonNames(), ", ") }

const notDead = "not in the dead-letter queue"

// getDeadLetter is GET /v1/dead-letters/{key}: the whole dead letter,
// request, failure history and supersededBy included.
func (h *Handler) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	d, err := h.q.DeadLetters().Get(r.Context(), key)
	if errors.Is(err, queue.ErrNotFound) {
		writeError(w, http.StatusNotFound, notDead)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
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
	h.act(w, r, h.q.DeadLetters().Redrive, key)
}

// opStatus is the HTTP status of a redrive's or discard's result.
var opStatus = map[queue.OpCode]int{
	queue.OpRedriven:  http.StatusOK,
	queue.OpDiscarded: http.StatusOK,
	queue.OpNotDead:   http.StatusNotFound,
	queue.OpChanged:   http.StatusConflict,
}

// act redrives or discards one key and answers its result.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, op func(context.Context, ...string) ([]queue.OpResult, error), key string) {
	res, err := op(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	writeJSON(w, opStatus[res[0].Code], res[0])
}

// discardDeadLetter is DELETE /v1/dead-letters/{key}: drop the dead letter
// for good, freeing its key.
func (h *Handler) discardDeadLetter(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	h.act(w, r, h.q.DeadLetters().Discard, key)
}

// redriveResponse is the answer of POST /v1/dead-letters/redrive; on 503 it
// also carries the error and what was done before Redis failed.
type redriveResponse struct {
	Error    string `json:"error,omitempty"`
	Redriven int    `json:"redriven"`
	Failed   int    `json:"failed"`
}

// discardResponse is the answer of POST /v1/dead-letters/discard, as
// redriveResponse.
type discardResponse struct {
	Error     string `json:"error,omitempty"`
	Discarded int    `json:"discarded"`
	Failed    int    `json:"failed"`
}

// dryRunResponse is the answer of a redrive or discard by reason with
// dryRun=true: how many dead letters it would act on.
type dryRunResponse struct {
	DryRun  bool  `json:"dryRun"`
	Matched int64 `json:"matched"`
}

// redriveDeadLetters is POST /v1/dead-letters/redrive?reason=R (or
// ?all=true): redrive a snapshot of every dead letter of a reason, so the
// walk ends even when the jobs die again at once. Keys that cannot be
// redriven (discarded or redriven meanwhile) count as failed.
func (h *Handler) redriveDeadLetters(w http.ResponseWriter, r *http.Request) {
	h.actOnReason(w, r, "redrive", h.q.DeadLetters().RedriveEach, func(done, failed int, err string) any {
		return redriveResponse{Error: err, Redriven: done, Failed: failed}
	})
}

// discardDeadLetters is POST /v1/dead-letters/discard?reason=R (or
// ?all=true): discard a snapshot of every dead letter of a reason, as
// redriveDeadLetters redrives them.
func (h *Handler) discardDeadLetters(w http.ResponseWriter, r *http.Request) {
	h.actOnReason(w, r, "discard", h.q.DeadLetters().DiscardEach, func(done, failed int, err string) any {
		return discardResponse{Error: err, Discarded: done, Failed: failed}
	})
}

// boolParam reads an optional true/false query parameter, or answers 400
// naming it and returns false.
func boolParam(w http.ResponseWriter, r *http.Request, name string) (v, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: must be true or false, got %q", name, s))
		return false, false
	}
	return v, true
}

// actOnReason is a redrive or discard of every dead letter of a reason (or
// all): it reads reason, all and dryRun, and answers the summary that
// summary makes of the counts (with the error on 503).
func (h *Handler) actOnReason(w http.ResponseWriter, r *http.Request, verb string,
	each func(context.Context, []string, func(queue.OpResult) error) error, summary func(done, failed int, err string) any,
) {
	all, ok := boolParam(w, r, "all")
	if !ok {
		return
	}
	dryRun, ok := boolParam(w, r, "dryRun")
	if !ok {
		return
	}
	switch reason := r.URL.Query().Get("reason"); {
	case reason != "" && all:
		writeError(w, http.StatusBadRequest, "reason and all=true exclude each other; pass one")
		return
	case reason == "" && !all:
		writeError(w, http.StatusBadRequest, "reason: required (one of "+reasonList()+"), or all=true to "+verb+" every dead letter")
		return
	}
	reason, ok := parseReason(w, r.URL.Query().Get("reason"))
	if !ok {
		return
	}
	down := func(err error, done, failed int) {
		// A summary all the same: of what was done before Redis failed
		// (nothing, if counting or listing the keys failed).
		h.queueDown(w, r, err)
		writeJSON(w, http.StatusServiceUnavailable, summary(done, failed, unavailableMessage))
	}
	if dryRun {
		n, err := h.q.DeadLetters().Count(r.Context(), reason)
		if err != nil {
			down(err, 0, 0)
			return
		}
		writeJSON(w, http.StatusOK, dryRunResponse{DryRun: true, Matched: n})
		return
	}
	keys, err := h.q.DeadLetters().Keys(r.Context(), reason)
	if err != nil {
		down(err, 0, 0)
		return
	}
	done, failed := 0, 0
	err = each(r.Context(), keys, func(o queue.OpResult) error {
		if o.Done {
			done++
		} else {
			failed++
		}
		return nil
	})
	if err != nil {
		down(err, done, failed)
		return
	}
	writeJSON(w, http.StatusOK, summary(done, failed, ""))
}
