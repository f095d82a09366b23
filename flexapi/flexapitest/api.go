package flexapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
)

// ServeHTTP serves the API, the label documents and (unless disabled) the
// admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/_fake" || strings.HasPrefix(p, "/_fake/"):
		if !s.admin {
			writeError(w, http.StatusNotFound, "Not found")
			return
		}
		s.serveAdmin(w, r)
	case strings.HasPrefix(p, "/documents/"):
		s.serveDocument(w, r)
	default:
		s.serveAPI(w, r)
	}
}

// route is one API path and the method it answers.
type route struct {
	method string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, account, id string, body []byte)
}

// match finds the route of an API path and its {id} segment.
func match(r *http.Request) (route, string, bool) {
	p := r.URL.EscapedPath()
	switch {
	case p == "/labels":
		return route{http.MethodPost, (*Server).createLabel}, "", true
	case p == "/products":
		return route{http.MethodGet, (*Server).getProducts}, "", true
	case p == "/couriers":
		return route{http.MethodGet, (*Server).getCouriers}, "", true
	}
	for prefix, rt := range map[string]route{
		"/labels/":   {http.MethodGet, (*Server).getLabels},
		"/tracking/": {http.MethodGet, (*Server).getTracking},
	} {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" || strings.Contains(rest, "/") {
			continue
		}
		id, err := url.PathUnescape(rest)
		if err != nil {
			return route{}, "", false
		}
		return rt, id, true
	}
	return route{}, "", false
}

// statusWriter counts the status of an answer in the ledger before any of
// it is sent, so a caller that got the answer finds it counted. It takes
// s.mu: handlers must not hold s.mu while they write.
type statusWriter struct {
	http.ResponseWriter
	s    *Server
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		w.s.mu.Lock()
		w.s.ledger.StatusCounts[code]++
		w.s.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	rt, id, known := match(r)
	create := known && rt.method == http.MethodPost && r.Method == http.MethodPost

	var body []byte
	var bodyErr error
	if create {
		body, bodyErr = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	}
	tok, hasAuth, bearer := bearerToken(r)

	s.mu.Lock()
	account := ""
	if t, ok := s.tokens[tok]; ok && bearer {
		account = t.account
	}
	s.countCallLocked(now.Unix(), account, create, peekKey(body))
	s.seeLocked(r, hasAuth, bearer)
	latency := s.faults.Latency
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w, s: s}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.mu.Lock()
			s.ledger.Abandoned++
			s.mu.Unlock()
			return
		}
	}
	if s.throttle(sw, now, account) {
		return
	}
	if !known {
		writeError(sw, http.StatusNotFound, "Not found")
		return
	}
	if r.Method != rt.method {
		sw.Header().Set("Allow", rt.method)
		writeError(sw, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	account, ok := s.authorize(sw, tok, bearer)
	if !ok {
		return
	}
	if bodyErr != nil {
		msg := "request body could not be read"
		if _, ok := errors.AsType[*http.MaxBytesError](bodyErr); ok {
			msg = fmt.Sprintf("request body larger than %d bytes", maxBody)
		}
		writeValidation(sw, []flexapi.Detail{{Message: msg}})
		return
	}
	rt.handle(s, sw, r, account, id, body)
}

// bearerToken returns the token of "Authorization: Bearer <token>", whether
// the header was present at all, and whether it used the Bearer scheme.
func bearerToken(r *http.Request) (tok string, present, bearer bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true, false
	}
	return strings.TrimSpace(tok), true, true
}

// seeLocked records the headers of an API call, never the token.
func (s *Server) seeLocked(r *http.Request, hasAuth, bearer bool) {
	ua := r.Header.Get("User-Agent")
	s.seen.LastUserAgent = ua
	s.seen.LastAccept = r.Header.Get("Accept")
	s.seen.LastContentType = r.Header.Get("Content-Type")
	s.seen.LastAuthorization = hasAuth
	s.seen.LastBearer = bearer
	s.seen.LastMethod, s.seen.LastPath = r.Method, r.URL.Path
	s.seen.UserAgents[ua]++
	if !hasAuth {
		s.seen.CallsWithoutAuth++
	}
}

// authorize answers 401 or 403 unless the token is registered and active,
// and returns its account.
func (s *Server) authorize(w http.ResponseWriter, tok string, bearer bool) (string, bool) {
	s.mu.Lock()
	t, ok := s.tokens[tok]
	var st token
	if ok {
		st = *t
	}
	s.mu.Unlock()
	switch {
	case !ok || !bearer || tok == "" || st.state == tokenRevoked:
		writeError(w, http.StatusUnauthorized, "Unauthorized")
		return "", false
	case st.state == tokenForbidden:
		writeError(w, http.StatusForbidden, "Forbidden")
		return "", false
	}
	return st.account, true
}

// peekKey reads idempotencyKey from a body for the ledger, "" when it can't.
func peekKey(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var v struct {
		Key json.RawMessage `json:"idempotencyKey"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	var k string
	if json.Unmarshal(v.Key, &k) != nil {
		return ""
	}
	return k
}

// createLabel is POST /labels.
func (s *Server) createLabel(w http.ResponseWriter, _ *http.Request, account, _ string, body []byte) {
	// The same checks as the client's, all problems in one answer: the
	// fake refuses nothing the docs do not (see docs/FLEXFORWARD_API.md).
	req, err := flexapi.ParseLabelRequest(body)
	if err != nil {
		var ve *flexapi.ValidationError
		if errors.As(err, &ve) {
			writeValidation(w, ve.Details)
		} else {
			writeValidation(w, []flexapi.Detail{{Message: err.Error()}})
		}
		return
	}
	canon, _ := json.Marshal(req)
	k := acctKey{account, req.IdempotencyKey}

	s.mu.Lock()
	if s.beforeLabelLocked(k) == fault500 {
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	st, replay := s.byKey[k]
	status := http.StatusOK
	if replay {
		s.countReplayLocked(st, !bytes.Equal(st.body, canon))
	} else {
		if req.Service.ProductCode == NoAccountProductCode {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "Shipping account not found")
			return
		}
		if answer := triggered(req.Service.ProductCode); answer != nil {
			s.mu.Unlock()
			answer(w)
			return
		}
		st = s.persistLocked(account, req, canon)
		status = http.StatusCreated
		if st.label.Status == flexapi.StatusFailed {
			status = http.StatusBadGateway
		}
	}
	drop := s.afterLabelLocked(k) == faultDrop
	if drop {
		s.ledger.Dropped++ // before the caller can notice the drop
	}
	label := st.label
	s.mu.Unlock()

	if drop {
		dropConnection(w)
		return
	}
	writeJSON(w, status, label)
}

// persistLocked stores a new label for the request: failed when the product
// code is RejectProductCode, else created.
func (s *Server) persistLocked(account string, req *flexapi.LabelRequest, canon []byte) *stored {
	st := &stored{
		account: account,
		key:     req.IdempotencyKey,
		body:    canon,
		created: time.Now().UTC(),
	}
	if req.Order != nil {
		st.order = req.Order.CustomerOrderNumber
	}
	if a := req.Shipment.ShipTo.Address; a != nil {
		st.shipTo = *a
	}
	if req.Shipment.ShipFrom != nil && req.Shipment.ShipFrom.Address != nil {
		st.shipFrom = *req.Shipment.ShipFrom.Address
	}
	st.label = flexapi.Label{ID: newID(), Courier: req.Courier}
	if req.Service.ProductCode == RejectProductCode {
		st.label.Status = flexapi.StatusFailed
		st.label.Error = &flexapi.LabelError{
			Code:    "COURIER_ERROR",
			Message: fmt.Sprintf("the courier rejected the shipment: product %s is not available for this route (fake rejection)", RejectProductCode),
		}
	} else {
		s.seq++
		order := fmt.Sprintf("YT%s%04d", st.created.Format("060102"), s.seq)
		tracking := order + "CN"
		st.label.Status = flexapi.StatusCreated
		st.label.CourierOrderNumber = &order
		st.label.CourierTrackingNumber = &tracking
	}
	s.labels[st.label.ID] = st
	s.byKey[acctKey{account, st.key}] = st
	if st.order != "" {
		ok := acctKey{account, st.order}
		// An order number can carry several labels; lookups by it find the
		// newest created one, or a failed one when none was created.
		if prev, exists := s.byOrder[ok]; !exists || st.label.Status == flexapi.StatusCreated || prev.label.Status == flexapi.StatusFailed {
			s.byOrder[ok] = st
		}
	}
	s.countLabelLocked(st)
	return st
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	_ = conn.Close()
}

// lookup finds a label by UUID or customer order number for account. It
// reports forbidden when the id names only another account's label.
func (s *Server) lookupLocked(account, id string) (st *stored, forbidden bool) {
	if st, ok := s.labels[id]; ok {
		if st.account != account {
			return nil, true
		}
		return st, false
	}
	if st, ok := s.byOrder[acctKey{account, id}]; ok {
		return st, false
	}
	for k := range s.byOrder {
		if k.key == id {
			return nil, true
		}
	}
	return nil, false
}

// documentJSON is one answer of GET /labels/{id}.
type documentJSON struct {
	ID                  string `json:"id"`
	CustomerOrderNumber string `json:"customerOrderNumber"`
	URL                 string `json:"url"`
	LabelFormat         string `json:"labelFormat"`
}

func (s *Server) document(r *http.Request, st *stored) documentJSON {
	base := s.baseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return documentJSON{
		ID:                  st.label.ID,
		CustomerOrderNumber: st.order,
		URL:                 base + "/documents/" + st.label.ID + ".pdf",
		LabelFormat:         "pdf",
	}
}

// getLabels is GET /labels/{id}, one id or a comma-separated batch.
func (s *Server) getLabels(w http.ResponseWriter, r *http.Request, account, id string, _ []byte) {
	status, out := s.labelDocuments(r, account, strings.Split(id, ","))
	writeJSON(w, status, out)
}

// labelDocuments answers GET /labels/{id} for ids; it holds s.mu, so the
// answer is written only after it returns.
func (s *Server) labelDocuments(r *http.Request, account string, ids []string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ids) == 1 {
		st, forbidden := s.lookupLocked(account, ids[0])
		switch {
		case forbidden:
			return http.StatusForbidden, errorBody("Forbidden")
		case st == nil || st.label.Status != flexapi.StatusCreated:
			return http.StatusNotFound, errorBody("Label not found")
		}
		return http.StatusOK, s.document(r, st)
	}
	docs := []documentJSON{}
	for _, one := range ids {
		// Missing, failed and other accounts' labels are silently left out.
		if st, _ := s.lookupLocked(account, one); st != nil && st.label.Status == flexapi.StatusCreated {
			docs = append(docs, s.document(r, st))
		}
	}
	return http.StatusOK, map[string]any{"labels": docs}
}

// serveDocument is GET /documents/{id}.pdf: a tiny PDF, without auth, as a
// courier CDN would serve it.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/documents/"), ".pdf")
	s.mu.Lock()
	s.ledger.DocumentCalls++
	st, found := s.labels[id]
	s.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if !ok || !found || st.label.Status != flexapi.StatusCreated {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	_, _ = io.WriteString(w, fakePDF(st))
}

func fakePDF(st *stored) string {
	return "%PDF-1.4\n" +
		"% fake Flex Forward label " + st.label.ID + " tracking " + *st.label.CourierTrackingNumber + "\n" +
		"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" +
		"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 288 432]>>endobj\n" +
		"trailer<</Root 1 0 R>>\n%%EOF\n"
}

// getProducts is GET /products?courier=…[&locale=…]. The real shape is
// undocumented; the fake answers {"products":[{"code","name"}]}.
func (s *Server) getProducts(w http.ResponseWriter, r *http.Request, _, _ string, _ []byte) {
	courier := r.URL.Query().Get("courier")
	if courier == "" {
		writeValidation(w, []flexapi.Detail{{Field: "courier", Message: "is required"}})
		return
	}
	type product struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	products := []product{}
	if courier == "yunexpress" {
		products = append(products,
			product{"HKMUZXR", "YunExpress Global Direct Line (tracked)"},
			product{"JPTHZXR", "YunExpress Japan Direct Line"},
		)
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": products})
}

// getCouriers is GET /couriers: a bare array.
func (s *Server) getCouriers(w http.ResponseWriter, _ *http.Request, _, _ string, _ []byte) {
	writeJSON(w, http.StatusOK, []flexapi.Courier{{Code: "yunexpress", Name: "YunExpress"}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody(msg))
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeValidation(w http.ResponseWriter, details []flexapi.Detail) {
	writeJSON(w, http.StatusBadRequest, struct {
		Error   string           `json:"error"`
		Details []flexapi.Detail `json:"details"`
	}{"Validation failed", details})
}
