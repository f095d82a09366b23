package httpapi

import "net/http"

// RoutesForTest lists the route table as "METHOD /path" and whether each
// route is public.
func RoutesForTest(h *Handler) map[string]bool {
	out := make(map[string]bool, len(h.routes))
	for _, rt := range h.routes {
		out[rt.method+" "+rt.path] = rt.public
	}
	return out
}

// PatternForTest returns the mux pattern that would serve r ("" for none).
func PatternForTest(h *Handler, r *http.Request) string {
	_, p := h.mux.Handler(r)
	return p
}
