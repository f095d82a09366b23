package flexapitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// serveAdmin serves the /_fake/ API (see the package documentation). It
// needs no token; its calls are not API calls and are not in the ledger.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	type endpoint struct {
		method string
		handle func(http.ResponseWriter, *http.Request)
	}
	var ep endpoint
	switch r.URL.Path {
	case "/_fake/ledger":
		ep = endpoint{http.MethodGet, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Ledger()) }}
	case "/_fake/seen":
		ep = endpoint{http.MethodGet, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Seen()) }}
	case "/_fake/reset":
		ep = endpoint{http.MethodPost, s.adminReset}
	case "/_fake/faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Faults())
			return
		case http.MethodDelete:
			s.ClearFaults()
			writeJSON(w, http.StatusOK, s.Faults())
			return
		}
		ep = endpoint{http.MethodPost, s.adminFaults}
	case "/_fake/tokens":
		ep = endpoint{http.MethodPost, s.adminTokens}
	default:
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	ep.handle(w, r)
}

// adminReset is POST /_fake/reset[?only=ledger].
func (s *Server) adminReset(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("only") {
	case "":
		s.Reset()
	case "ledger":
		s.ResetLedger()
	default:
		writeError(w, http.StatusBadRequest, `only: want "ledger" or nothing`)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminFaults is POST /_fake/faults: the fields present change, the others
// stay; it answers the resulting switches.
func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	var present faultsJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&present); err != nil {
		writeError(w, http.StatusBadRequest, "faults: "+err.Error())
		return
	}
	s.mu.Lock()
	f := s.faults
	if err := f.UnmarshalJSON(body); err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "faults: "+err.Error())
		return
	}
	s.setFaultsLocked(f, present.FailFirst != nil, present.DropAfterCreate != nil)
	if present.Seed != nil {
		s.seedLocked(*present.Seed)
	}
	f = s.faults
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, f)
}

// adminTokens is POST /_fake/tokens {"token","account","state"}: it
// registers a token (account required the first time) or changes its state
// ("active", "forbidden" or "revoked"). The answer never echoes the token.
func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token   string `json:"token"`
		Account string `json:"account"`
		State   string `json:"state"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Token == "" {
		writeError(w, http.StatusBadRequest, `want {"token":"…","account":"…","state":"active|forbidden|revoked"}`)
		return
	}
	states := map[string]tokenState{"": tokenActive, "active": tokenActive, "forbidden": tokenForbidden, "revoked": tokenRevoked}
	st, ok := states[req.State]
	if !ok {
		writeError(w, http.StatusBadRequest, "state: want active, forbidden or revoked")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, known := s.tokens[req.Token]
	switch {
	case req.Account != "":
		t = &token{account: req.Account}
		s.tokens[req.Token] = t
	case !known:
		writeError(w, http.StatusBadRequest, "account: required for a new token")
		return
	}
	t.state = st
	writeJSON(w, http.StatusOK, map[string]string{"account": t.account, "state": map[tokenState]string{tokenActive: "active", tokenForbidden: "forbidden", tokenRevoked: "revoked"}[st]})
}
