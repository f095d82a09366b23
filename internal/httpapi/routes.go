package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"time"
)

// openapiYAML is the API's OpenAPI 3.1 document, served at /openapi.yaml.
//
//go:embed openapi.yaml
var openapiYAML []byte

// route is one operation: the mux pattern is method+" "+path, and path is
// spelled as in openapi.yaml's paths.
type route struct {
	method string
	path   string
	public bool // served without a token
	serve  http.HandlerFunc
}

// table is every route the API serves, in one place: New mounts exactly
// these, and the OpenAPI test checks them against openapi.yaml both ways.
func (h *Handler) table() []route {
	return []route{
		{http.MethodPost, "/v1/labels", false, h.createLabel},
		{http.MethodPost, "/v1/labels/batch", false, h.createLabels},
		{http.MethodGet, "/v1/labels/{key}", false, h.getLabel},
		{http.MethodGet, "/v1/dead-letters", false, h.listDeadLetters},
		{http.MethodPost, "/v1/dead-letters/redrive", false, h.redriveDeadLetters},
		{http.MethodPost, "/v1/dead-letters/discard", false, h.discardDeadLetters},
		{http.MethodPost, "/v1/dead-letters/export", false, h.exportDeadLetters},
		{http.MethodGet, "/v1/dead-letters/{key}", false, h.getDeadLetter},
		{http.MethodDelete, "/v1/dead-letters/{key}", false, h.discardDeadLetter},
		{http.MethodPost, "/v1/dead-letters/{key}/redrive", false, h.redriveDeadLetter},
		{http.MethodGet, "/healthz", true, h.healthz},
		{http.MethodGet, "/readyz", true, h.readyz},
		{http.MethodGet, "/openapi.yaml", true, h.openapi},
	}
}

type statusBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Health returns the handlers of GET /healthz and GET /readyz, the API's and
// the worker's ops server's alike. healthz answers while the process serves
// HTTP at all (liveness); readyz answers 200 only while ready succeeds
// (Redis answers), so a load balancer stops sending work that could only
// fail, and 503 with Retry-After otherwise. A failed check is logged on log
// with the request's id; a nil log does not log it.
func Health(ready func(context.Context) error, log *slog.Logger) (healthz, readyz http.HandlerFunc) {
	healthz = func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	}
	readyz = func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			if log != nil {
				log.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
					slog.String("error", err.Error()), slog.String("request_id", requestIDOf(r)))
			}
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, statusBody{Status: "unavailable", Error: "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
	}
	return healthz, readyz
}

func (h *Handler) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openapiYAML)
}
