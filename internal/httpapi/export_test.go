package httpapi

import (
	"net/http"
	"time"

	"github.com/flexlabel/flexlabel/internal/auth"
)

// RoutesForTest lists the route table as "METHOD /path" and the scopes
// of each route.
func RoutesForTest(h *Handler) map[string][]auth.Scope {
	out := make(map[string][]auth.Scope, len(h.routes))
	for _, rt := range h.routes {
		out[rt.method+" "+rt.path] = rt.scopes
	}
	return out
}

// PatternForTest returns the mux pattern that would serve r ("" for none).
func PatternForTest(h *Handler, r *http.Request) string {
	_, p := h.mux.Handler(r)
	return p
}

// SetAccountTTLForTest sets how long h trusts what it learnt of an account
// (2 s otherwise). Call it before h serves.
func SetAccountTTLForTest(h *Handler, d time.Duration) { h.accounts.ttl = d }
