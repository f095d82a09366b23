package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/flexlabel/flexlabel/internal/auth"
)

// openapiYAML is the API's OpenAPI 3.1 document, served at /openapi.yaml.
//
//go:embed openapi.yaml
var openapiYAML []byte

// route is one operation: the mux pattern is method+" "+path, and path is
// spelled as in openapi.yaml's paths, whose x-flexlabel-scope lists scopes.
type route struct {
	method string
	path   string
	// scopes are those of which a token needs one; auth.Public alone
	// serves the route without a token.
	scopes []auth.Scope
	// body is what the route takes as a body (checkContentType).
	body  bodyRule
	serve http.HandlerFunc
}

// bodyRule is what a route takes as a body.
type bodyRule struct {
	// types are the media types a body may have; nil for a bodyless
	// route, which (when it changes state) refuses only the types a
	// cross-site form can send.
	types []string
	// optional: the body may be left out, and the route is then served as
	// a bodyless one; a body there must be of types.
	optional bool
}

// The scopes of the routes.
var (
	public           = []auth.Scope{auth.Public}
	producer         = []auth.Scope{auth.Producer}
	producerOrViewer = []auth.Scope{auth.Producer, auth.Viewer}
	viewer           = []auth.Scope{auth.Viewer}
	operator         = []auth.Scope{auth.Operator}
)

// The body rules of the routes.
var (
	noBody    = bodyRule{}
	jsonBody  = bodyRule{types: []string{"application/json"}}
	batchBody = bodyRule{types: []string{"application/json", "application/x-ndjson", "application/jsonl", "application/ndjson"}}
	// optionalJSON: a redrive or discard selects by its query, or by a
	// body of keys; a webhook endpoint's disable and rotate-secret take
	// optional settings.
	optionalJSON = bodyRule{types: []string{"application/json"}, optional: true}
)

// table is every route the API serves, in one place: New mounts exactly
// these, and the OpenAPI test checks them (and their scopes) against
// openapi.yaml both ways.
func (h *Handler) table() []route {
	return []route{
		{http.MethodPost, "/v1/labels", producer, jsonBody, h.createLabel},
		{http.MethodPost, "/v1/labels/batch", producer, batchBody, h.createLabels},
		{http.MethodGet, "/v1/labels/{key}", producerOrViewer, noBody, h.getLabel},
		{http.MethodGet, "/v1/dead-letters", viewer, noBody, h.listDeadLetters},
		{http.MethodPost, "/v1/dead-letters/redrive", operator, optionalJSON, h.redriveDeadLetters},
		{http.MethodPost, "/v1/dead-letters/discard", operator, optionalJSON, h.discardDeadLetters},
		{http.MethodPost, "/v1/dead-letters/export", operator, noBody, h.exportDeadLetters},
		{http.MethodGet, "/v1/dead-letters/{key}", viewer, noBody, h.getDeadLetter},
		{http.MethodDelete, "/v1/dead-letters/{key}", operator, noBody, h.discardDeadLetter},
		{http.MethodPost, "/v1/dead-letters/{key}/redrive", operator, noBody, h.redriveDeadLetter},
		{http.MethodPost, "/v1/webhook-endpoints", operator, jsonBody, h.createWebhookEndpoint},
		{http.MethodGet, "/v1/webhook-endpoints", operator, noBody, h.listWebhookEndpoints},
		{http.MethodGet, "/v1/webhook-endpoints/{id}", operator, noBody, h.getWebhookEndpoint},
		{http.MethodPatch, "/v1/webhook-endpoints/{id}", operator, jsonBody, h.updateWebhookEndpoint},
		{http.MethodDelete, "/v1/webhook-endpoints/{id}", operator, noBody, h.deleteWebhookEndpoint},
		{http.MethodPost, "/v1/webhook-endpoints/{id}/disable", operator, optionalJSON, h.disableWebhookEndpoint},
		{http.MethodPost, "/v1/webhook-endpoints/{id}/rotate-secret", operator, optionalJSON, h.rotateWebhookEndpointSecret},
		// webhook delivery log and redelivery (issue 15, part C)
		{http.MethodGet, "/v1/webhook-endpoints/{id}/deliveries", operator, noBody, h.listEndpointDeliveries},
		{http.MethodPost, "/v1/webhook-endpoints/{id}/redeliver", operator, noBody, h.redeliverEndpoint},
		{http.MethodGet, "/v1/webhook-events/{id}/deliveries", operator, noBody, h.listEventDeliveries},
		{http.MethodPost, "/v1/webhook-events/{id}/redeliver", operator, noBody, h.redeliverEvent},
		{http.MethodGet, "/healthz", public, noBody, h.healthz},
		{http.MethodGet, "/readyz", public, noBody, h.readyz},
		{http.MethodGet, "/openapi.yaml", public, noBody, h.openapi},
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
