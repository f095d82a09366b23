package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/queue"
)

// Limits of the enqueue routes.
const (
	maxRequestBytes = 1 << 20  // one label request, as the Flex Forward API takes it
	maxBatchBytes   = 10 << 20 // one batch
	maxBatchItems   = 1000
)

// outcomeStatus maps an enqueue outcome to its HTTP status (see the package
// doc for why a dead key is 422).
func outcomeStatus(o queue.Outcome) int {
	switch o {
	case queue.Enqueued:
		return http.StatusAccepted
	case queue.Duplicate:
		return http.StatusOK
	case queue.Conflict:
		return http.StatusConflict
	case queue.Invalid:
		return http.StatusBadRequest
	case queue.Dead:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// createLabel is POST /v1/labels: enqueue one Flex Forward request.
func (h *Handler) createLabel(w http.ResponseWriter, r *http.Request) {
	account, given, ref := accountName(r)
	if ref != nil {
		refuseAccount(w, ref)
		return
	}
	body, code, msg := readBody(w, r, maxRequestBytes, "1 MiB")
	switch {
	case code == http.StatusBadRequest:
		writeJSON(w, code, refusal(account, "", msg))
		return
	case code != 0:
		writeError(w, code, msg)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeJSON(w, http.StatusBadRequest, refusal(account, "", "request body is empty; send one label request as JSON"))
		return
	}
	if p := principalOf(r); len(p.Prefixes) > 0 {
		// Parsed twice for such a token, so that a foreign key is refused
		// before anything reaches Redis.
		if key := queue.ParseLine(body).Key(); key != "" {
			if err := p.CheckKey(key); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
	}
	q, ref, err := h.checkAccount(r.Context(), account, given)
	if err == nil && ref != nil {
		refuseAccount(w, ref)
		return
	}
	var res queue.Result
	if err == nil {
		res, err = q.EnqueueLine(r.Context(), body, queue.Interactive)
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if res.Outcome.Accepted() {
		// Relative to /v1/labels, so it stays right behind a path prefix.
		w.Header().Set("Location", "labels/"+pathSegment(res.IdempotencyKey))
	}
	writeJSON(w, outcomeStatus(res.Outcome), res)
}

// refusal is an invalid outcome decided here rather than by the queue, in
// the same shape: of the request's account, "" when its header names none
// that can exist.
func refusal(account, key, msg string) queue.Result {
	return queue.Result{
		IdempotencyKey: key,
		Account:        account,
		Outcome:        queue.Invalid,
		Error:          &msg,
		Details:        []flexapi.Detail{{Message: msg}},
	}
}

// refuseAccount answers the refusal of a request's account for POST
// /v1/labels: a 400 is a Result whose detail names the header, as every
// 400 of that route; a 403 is plain, as the key prefixes' is.
func refuseAccount(w http.ResponseWriter, ref *accountRefusal) {
	if ref.code != http.StatusBadRequest {
		writeError(w, ref.code, ref.msg)
		return
	}
	res := refusal(ref.account, "", ref.msg)
	res.Details[0].Field = accountHeader
	writeJSON(w, ref.code, res)
}

// keyRefusal is refusal for a key the token may not use, its detail
// naming the field.
func keyRefusal(account, key, msg string) queue.Result {
	res := refusal(account, key, msg)
	res.Details[0].Field = "idempotencyKey"
	return res
}

// readBody reads the whole body up to limit, decoding a gzip
// Content-Encoding; past the limit (after decoding, so a gzip bomb stops
// there) the client gets 413, and a coding other than gzip is 415, never
// read as if it were plain. A refusal comes back as a status and message.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, limitText string) (body []byte, code int, msg string) {
	gzipped, ok := gzipCoding(r.Header.Values("Content-Encoding"))
	if !ok {
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, http.StatusUnsupportedMediaType, "Content-Encoding: only gzip (or none) is supported; send the body plain or gzip-compressed"
	}
	tooLarge := "request body is larger than " + limitText
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if gzipped {
		zr, err := gzip.NewReader(in)
		if err != nil {
			code, msg := gzipRefusal(err, tooLarge)
			return nil, code, msg
		}
		defer zr.Close()
		in = &limitedReader{r: zr, n: limit}
	}
	body, err := io.ReadAll(in)
	if err != nil {
		if gzipped {
			code, msg := gzipRefusal(err, tooLarge)
			return nil, code, msg
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
	}
	return body, 0, ""
}

// gzipCoding reads the Content-Encoding header lines: no coding (or
// identity) is plain, gzip alone is gzip, anything else is not supported.
func gzipCoding(values []string) (gzipped, ok bool) {
	var codings []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, true
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, true
	}
	return false, false
}

// errDecodedTooLarge is a gzip body that decodes past the limit.
var errDecodedTooLarge = errors.New("decoded body over the limit")

func gzipRefusal(err error, tooLarge string) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errDecodedTooLarge):
		return http.StatusRequestEntityTooLarge, tooLarge + " (after gzip decoding)"
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, tooLarge
	}
	return http.StatusBadRequest, "Content-Encoding: the body is not valid gzip: " + err.Error()
}

// limitedReader reads at most n bytes, and fails with errDecodedTooLarge
// rather than EOF when there are more.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errDecodedTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errDecodedTooLarge
	}
	return n, err
}

// batchResponse is the answer of POST /v1/labels/batch.
type batchResponse struct {
	Results []queue.Result `json:"results"`
}

// createLabels is POST /v1/labels/batch: enqueue up to 1000 requests, sent
// as NDJSON or as a JSON array, answering one result per request in order.
func (h *Handler) createLabels(w http.ResponseWriter, r *http.Request) {
	q, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	body, code, msg := readBody(w, r, maxBatchBytes, "10 MiB")
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	items, code, msg := splitBatch(r.Header.Get("Content-Type"), body)
	if msg != "" {
		writeError(w, code, msg)
		return
	}
	results, err := enqueueBatch(r.Context(), q, principalOf(r), items)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, batchResponse{Results: results})
}

// splitBatch cuts a batch body into its requests. The content type decides
// the format (the route admits only these): application/json must be an
// array; application/x-ndjson (or application/jsonl, application/ndjson) is
// one request per line. A refusal of the whole batch comes back as a status
// and a message.
func splitBatch(contentType string, body []byte) (items [][]byte, code int, msg string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, http.StatusBadRequest, "request body is empty; send label requests as NDJSON (application/x-ndjson) or a JSON array (application/json)"
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/json" {
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, http.StatusBadRequest, "request body must be a JSON array of label requests (or NDJSON sent as application/x-ndjson): " + err.Error()
		}
		items = make([][]byte, len(raw))
		for i := range raw {
			items[i] = raw[i]
		}
	} else {
		lines := bulkfile.NewLineReader(bytes.NewReader(body), len(body))
		for len(items) <= maxBatchItems {
			_, line, err := lines.Next()
			if err != nil { // io.EOF: the body is in memory, and no line is longer than it
				break
			}
			if line = bytes.TrimSpace(line); len(line) > 0 {
				items = append(items, line)
			}
		}
	}
	switch {
	case len(items) == 0:
		return nil, http.StatusBadRequest, "batch is empty"
	case len(items) > maxBatchItems:
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch has more than %d requests; split it", maxBatchItems)
	}
	return items, 0, ""
}

// enqueueBatch enqueues items on q in one pipelined round trip. Each
// item's result is what POST /v1/labels would have answered for it, in the
// same order (queue.EnqueueLines); an item whose key p may not use is
// refused in its place, outcome invalid with the rule as its error, and the
// others are enqueued.
func enqueueBatch(ctx context.Context, q *queue.Queue, p auth.Principal, items [][]byte) ([]queue.Result, error) {
	lines := make([]queue.Parsed, len(items))
	for i, item := range items {
		if len(item) > maxRequestBytes {
			lines[i] = queue.Refused(refusal(q.Account(), "", "request is larger than 1 MiB"))
			continue
		}
		lines[i] = queue.ParseLine(item)
		if key := lines[i].Key(); key != "" {
			if err := p.CheckKey(key); err != nil {
				lines[i] = queue.Refused(keyRefusal(q.Account(), key, err.Error()))
			}
		}
	}
	return q.EnqueueLines(ctx, lines, queue.Interactive, queue.WithJobState)
}

// getLabel is GET /v1/labels/{key}: the job's status, as `flexlabel status
// --json` prints it; 404 (same shape, state unknown) for an unknown key.
func (h *Handler) getLabel(w http.ResponseWriter, r *http.Request) {
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	if err := principalOf(r).CheckKey(key); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	q, ok := h.accountQueue(w, r)
	if !ok {
		return
	}
	sts, err := q.Status(r.Context(), key)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	code := http.StatusOK
	if sts[0].State == queue.StateUnknown {
		code = http.StatusNotFound
	}
	writeJSON(w, code, sts[0])
}

// pathSegment escapes key as one path segment that ServeMux hands back
// unchanged: '/' is escaped, and so are the dots of "." and "..", which
// path cleaning would otherwise remove.
func pathSegment(key string) string {
	s := url.PathEscape(key)
	if s == "." || s == ".." {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}

// pathKey returns the {key} of the path, or answers 400 when it is longer
// than any idempotencyKey can be: such a key cannot exist, and a 404 would
// hide that the client cut or built it wrong.
func pathKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("key")
	if msg := checkKey(key); msg != "" {
		writeError(w, http.StatusBadRequest, "key: "+msg)
		return "", false
	}
	return key, true
}

// checkKey is the check of a key a request names (in its path, or in a
// body of keys): what is wrong with it, or "" if nothing is.
func checkKey(key string) string {
	if key == "" {
		return "must not be empty"
	}
	if n := utf8.RuneCountInString(key); n > queue.MaxKeyLen {
		return fmt.Sprintf("must be at most %d characters (the idempotencyKey limit), got %d", queue.MaxKeyLen, n)
	}
	return ""
}
