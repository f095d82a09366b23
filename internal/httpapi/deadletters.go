package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// listDeadLetters is GET /v1/dead-letters?reason=&prefix=&queue=&since=&until=&limit=&cursor=:
// a page of the dead letters the filter selects, oldest failure first, with
// the cursor of the next page (null at the end) and how many the filter
// selects in all.
func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := parseFilter(w, r)
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
	aq, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	dl := aq.DeadLetters()
	o := dl.Options(f)
	o.Limit, o.Cursor = limit, q.Get("cursor")
	page, next, err := dl.List(r.Context(), o)
	if errors.Is(err, queue.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "cursor: not a cursor this API returned; pass nextCursor as it is")
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	total, err := dl.CountMatching(r.Context(), o)
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

// filterParams are the API's names of a dead-letter filter's query
// parameters.
var filterParams = queue.FilterParams{KeyPrefix: "prefix", Reason: "reason", Queue: "queue", Since: "since", Until: "until"}

// filterNames are filterParams in the order messages list them.
var filterNames = []string{filterParams.Reason, filterParams.KeyPrefix, filterParams.Queue, filterParams.Since, filterParams.Until}

// parseFilter reads the dead-letter filter of the query (queue.ParseFilter),
// or answers 400 naming every bad parameter and returns false.
func parseFilter(w http.ResponseWriter, r *http.Request) (queue.Filter, bool) {
	f, err := queue.ParseFilter(filterParams, r.URL.Query().Get)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.ReplaceAll(err.Error(), "\n", "; "))
		return f, false
	}
	return f, true
}

// filterGiven lists the filter parameters the query gives, in filterNames'
// order.
func filterGiven(r *http.Request) []string {
	var given []string
	for _, n := range filterNames {
		if r.URL.Query().Get(n) != "" {
			given = append(given, n)
		}
	}
	return given
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
	q, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	d, err := q.DeadLetters().Get(r.Context(), key)
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
	h.act(w, r, (*queue.DeadLetters).Redrive, key)
}

// opStatus is the HTTP status of a redrive's or discard's result.
var opStatus = map[queue.OpCode]int{
	queue.OpRedriven:  http.StatusOK,
	queue.OpDiscarded: http.StatusOK,
	queue.OpNotDead:   http.StatusNotFound,
	queue.OpChanged:   http.StatusConflict,
}

// act redrives or discards one key of the request's account and answers
// its result.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, op func(*queue.DeadLetters, context.Context, ...string) ([]queue.OpResult, error), key string) {
	q, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	res, err := op(q.DeadLetters(), r.Context(), key)
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
	h.act(w, r, (*queue.DeadLetters).Discard, key)
}

// redriveResponse is the answer of POST /v1/dead-letters/redrive; on 503 it
// also carries the error and what was done before Redis failed. Results
// (one per key) is there when the request named keys.
type redriveResponse struct {
	Error    string           `json:"error,omitempty"`
	Results  []queue.OpResult `json:"results,omitempty"`
	Redriven int              `json:"redriven"`
	Failed   int              `json:"failed"`
}

// discardResponse is the answer of POST /v1/dead-letters/discard, as
// redriveResponse.
type discardResponse struct {
	Error     string           `json:"error,omitempty"`
	Results   []queue.OpResult `json:"results,omitempty"`
	Discarded int              `json:"discarded"`
	Failed    int              `json:"failed"`
}

// dryRunResponse is the answer of a redrive or discard with dryRun=true:
// how many dead letters it would act on.
type dryRunResponse struct {
	DryRun  bool  `json:"dryRun"`
	Matched int64 `json:"matched"`
}

// redriveDeadLetters is POST /v1/dead-letters/redrive: redrive the keys of
// the body, or a snapshot of every dead letter the filter selects (or of all
// with all=true), so the walk ends even when the jobs die again at once.
// Keys that cannot be redriven (discarded or redriven meanwhile) count as
// failed.
func (h *Handler) redriveDeadLetters(w http.ResponseWriter, r *http.Request) {
	h.actOnSelection(w, r, "redrive", (*queue.DeadLetters).RedriveEach, func(res []queue.OpResult, done, failed int, err string) any {
		return redriveResponse{Error: err, Results: res, Redriven: done, Failed: failed}
	})
}

// discardDeadLetters is POST /v1/dead-letters/discard: discard the keys of
// the body, or a snapshot of every dead letter the filter selects (or all),
// as redriveDeadLetters redrives them.
func (h *Handler) discardDeadLetters(w http.ResponseWriter, r *http.Request) {
	h.actOnSelection(w, r, "discard", (*queue.DeadLetters).DiscardEach, func(res []queue.OpResult, done, failed int, err string) any {
		return discardResponse{Error: err, Results: res, Discarded: done, Failed: failed}
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

// maxSelectedKeys is how many keys one redrive or discard body may name.
const maxSelectedKeys = 1000

// keysBody is the body of a redrive or discard of named keys.
type keysBody struct {
	Keys []string `json:"keys"`
}

// readKeys reads the optional body {"keys":[...]}: the keys, without
// repeats, in their order; nil when there is no body. It answers 400 (or
// 413, 415) itself and returns false when the body is bad, naming the field.
func readKeys(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	raw, code, msg := readBody(w, r, 1<<20, "1 MiB")
	if code != 0 {
		writeError(w, code, msg)
		return nil, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, true
	}
	var b keysBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"keys\":[\"KEY\",...]}: "+err.Error())
		return nil, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: want one JSON object {\"keys\":[...]}, got more after it")
		return nil, false
	}
	if len(b.Keys) == 0 || len(b.Keys) > maxSelectedKeys {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("keys: give 1 to %d keys, got %d", maxSelectedKeys, len(b.Keys)))
		return nil, false
	}
	keys := make([]string, 0, len(b.Keys))
	for i, k := range b.Keys {
		if msg := checkKey(k); msg != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("keys[%d]: %s", i, msg))
			return nil, false
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// actOnSelection is a redrive or discard of a selection: the keys of the
// body, or every dead letter the filter selects, or all of them (all=true);
// exactly one of the three. It reads dryRun too, and answers the summary
// that summary makes of the results (with the error on 503).
func (h *Handler) actOnSelection(w http.ResponseWriter, r *http.Request, verb string,
	each func(*queue.DeadLetters, context.Context, []string, func(queue.OpResult) error) error, summary func(res []queue.OpResult, done, failed int, err string) any,
) {
	all, ok := boolParam(w, r, "all")
	if !ok {
		return
	}
	dryRun, ok := boolParam(w, r, "dryRun")
	if !ok {
		return
	}
	f, ok := parseFilter(w, r)
	if !ok {
		return
	}
	keys, ok := readKeys(w, r)
	if !ok {
		return
	}
	given := filterGiven(r)
	clash := given
	if all {
		clash = append(slices.Clone(given), "all=true")
	}
	switch {
	case keys != nil && len(clash) > 0:
		writeError(w, http.StatusBadRequest, "keys: a body of keys excludes "+strings.Join(clash, ", ")+
			" in the query; name keys, or select by the query, not both")
		return
	case len(given) > 0 && all:
		writeError(w, http.StatusBadRequest, strings.Join(given, ", ")+" and all=true exclude each other; pass a filter, or all=true for every dead letter")
		return
	case keys == nil && len(given) == 0 && !all:
		writeError(w, http.StatusBadRequest, "reason: required, or another filter ("+strings.Join(filterNames[1:], ", ")+
			"), a body {\"keys\":[...]}, or all=true to "+verb+" every dead letter (reasons: "+reasonList()+")")
		return
	}
	down := func(err error, res []queue.OpResult, done, failed int) {
		// A summary all the same: of what was done before Redis failed
		// (nothing, if checking the account, counting or listing the keys
		// failed).
		h.queueDown(w, r, err)
		writeJSON(w, http.StatusServiceUnavailable, summary(res, done, failed, unavailableText(err)))
	}
	aq, ref, err := h.requestAccount(r)
	switch {
	case err != nil:
		down(err, nil, 0, 0)
		return
	case ref != nil:
		writeError(w, ref.code, ref.msg)
		return
	}
	dl := aq.DeadLetters()
	switch {
	case dryRun && keys != nil:
		states, err := aq.States(r.Context(), keys)
		if err != nil {
			down(err, nil, 0, 0)
			return
		}
		n := int64(0)
		for _, s := range states {
			if s == queue.StateDead {
				n++
			}
		}
		writeJSON(w, http.StatusOK, dryRunResponse{DryRun: true, Matched: n})
		return
	case dryRun:
		n, err := dl.CountMatching(r.Context(), dl.Options(f))
		if err != nil {
			down(err, nil, 0, 0)
			return
		}
		writeJSON(w, http.StatusOK, dryRunResponse{DryRun: true, Matched: n})
		return
	}
	// Named keys answer each key's result; a filter's snapshot only counts.
	named := keys != nil
	var results []queue.OpResult
	if named {
		results = make([]queue.OpResult, 0, len(keys))
	} else {
		var err error
		if keys, err = dl.KeysMatching(r.Context(), dl.Options(f)); err != nil {
			down(err, nil, 0, 0)
			return
		}
	}
	done, failed := 0, 0
	err = each(dl, r.Context(), keys, func(o queue.OpResult) error {
		if o.Done {
			done++
		} else {
			failed++
		}
		if named {
			results = append(results, o)
		}
		return nil
	})
	if err != nil {
		down(err, results, done, failed)
		return
	}
	writeJSON(w, http.StatusOK, summary(results, done, failed, ""))
}
