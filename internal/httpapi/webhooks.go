package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/webhook"
)

// webhooksOffMessage is the error of every webhook-endpoint route while
// serve runs without a signing key: 409, since retrying cannot help until
// the configuration changes.
const webhooksOffMessage = "webhooks are off: set FLEXLABEL_WEBHOOK_SIGNING_KEY (at least 32 bytes) on serve and the worker to manage webhook endpoints"

// maxWebhookBodyBytes bounds a webhook-endpoint body (the 413 of TooLarge).
const maxWebhookBodyBytes = 1 << 20

// endpointList is the answer of GET /v1/webhook-endpoints.
type endpointList struct {
	Endpoints []hooks.Endpoint `json:"endpoints"`
}

// fieldErrors is the 400 of a webhook-endpoint body with bad fields.
type fieldErrors struct {
	Error   string             `json:"error"`
	Details []hooks.FieldError `json:"details"`
}

// endpointSpec is the body of POST /v1/webhook-endpoints.
type endpointSpec struct {
	URL       string              `json:"url"`
	Events    []webhook.EventType `json:"events"`
	KeyPrefix string              `json:"keyPrefix"`
	Accounts  []string            `json:"accounts"`
}

// endpointPatch is the body of PATCH /v1/webhook-endpoints/{id}; absent (or
// null) fields stay as they are.
type endpointPatch struct {
	URL       *string              `json:"url"`
	Events    *[]webhook.EventType `json:"events"`
	KeyPrefix *string              `json:"keyPrefix"`
	Accounts  *[]string            `json:"accounts"`
	Enabled   *bool                `json:"enabled"`
}

// disableBody is the optional body of POST .../disable.
type disableBody struct {
	Reason string `json:"reason"`
}

// rotateBody is the optional body of POST .../rotate-secret.
type rotateBody struct {
	KeepPreviousFor *string `json:"keepPreviousFor"`
}

// endpoints returns the webhook endpoints, or answers 409 when webhooks
// are off and returns nil.
func (h *Handler) endpoints(w http.ResponseWriter) *hooks.Endpoints {
	if h.hooks == nil {
		writeError(w, http.StatusConflict, webhooksOffMessage)
	}
	return h.hooks
}

// readJSONBody decodes the request's JSON object into v, refusing unknown
// fields and wrong types with a 400 naming the field; an empty body is
// left as v is when optional. It answers itself and returns false on a
// refusal.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	raw, code, msg := readBody(w, r, maxWebhookBodyBytes, "1 MiB")
	if code != 0 {
		writeError(w, code, msg)
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "body: is empty; send a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: must be %s, got %s", te.Field, jsonKind(te.Type.String()), te.Value))
		return false
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeError(w, http.StatusBadRequest, name+": unknown field")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body: must be one JSON object: "+err.Error())
		return false
	case dec.More():
		writeError(w, http.StatusBadRequest, "body: must be one JSON object, got more after it")
		return false
	}
	return true
}

// jsonKind names a Go type as JSON does, for messages.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "bool":
		return "true or false"
	case goType == "string", goType == "webhook.EventType":
		return "a string"
	}
	return "a JSON object"
}

// endpointFailed answers an error of hooks.Endpoints: 400 naming each bad
// field, 404, or 503.
func (h *Handler) endpointFailed(w http.ResponseWriter, r *http.Request, err error) {
	var inv *hooks.InvalidError
	switch {
	case errors.As(err, &inv):
		writeJSON(w, http.StatusBadRequest, fieldErrors{Error: inv.Error(), Details: inv.Problems})
	case errors.Is(err, hooks.ErrNotFound):
		writeError(w, http.StatusNotFound, "no webhook endpoint has this id")
	default:
		h.unavailable(w, r, err)
	}
}

// createWebhookEndpoint is POST /v1/webhook-endpoints: 201 with the
// endpoint and its secret, shown this once.
func (h *Handler) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	var b endpointSpec
	if !readJSONBody(w, r, &b, false) {
		return
	}
	ep, err := eps.Create(r.Context(), hooks.Spec{URL: b.URL, Events: b.Events, KeyPrefix: b.KeyPrefix, Accounts: b.Accounts})
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	// Relative to /v1/webhook-endpoints, as the labels' Location.
	w.Header().Set("Location", "webhook-endpoints/"+ep.ID)
	writeJSON(w, http.StatusCreated, ep)
}

// listWebhookEndpoints is GET /v1/webhook-endpoints: every endpoint,
// oldest first, without secrets.
func (h *Handler) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	list, err := eps.List(r.Context())
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointList{Endpoints: list})
}

// getWebhookEndpoint is GET /v1/webhook-endpoints/{id}, without its secret.
func (h *Handler) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	ep, err := eps.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

// updateWebhookEndpoint is PATCH /v1/webhook-endpoints/{id}: url, events,
// keyPrefix, accounts, enabled (true clears disabledReason; false disables with
// DisabledByOperator).
func (h *Handler) updateWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	var b endpointPatch
	if !readJSONBody(w, r, &b, false) {
		return
	}
	ep, err := eps.Update(r.Context(), r.PathValue("id"), hooks.Patch{URL: b.URL, Events: b.Events, KeyPrefix: b.KeyPrefix, Accounts: b.Accounts, Enabled: b.Enabled})
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

// disableWebhookEndpoint is POST /v1/webhook-endpoints/{id}/disable with
// an optional {"reason": …}; its events stay redeliverable.
func (h *Handler) disableWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	var b disableBody
	if !readJSONBody(w, r, &b, true) {
		return
	}
	off := false
	ep, err := eps.Update(r.Context(), r.PathValue("id"), hooks.Patch{Enabled: &off, Reason: &b.Reason})
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

// deleteWebhookEndpoint is DELETE /v1/webhook-endpoints/{id}: 204.
func (h *Handler) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	if err := eps.Delete(r.Context(), r.PathValue("id")); err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// rotateWebhookEndpointSecret is POST /v1/webhook-endpoints/{id}/rotate-secret
// with an optional {"keepPreviousFor": "24h"}: the endpoint with its new
// secret, shown this once; the previous one keeps signing meanwhile.
func (h *Handler) rotateWebhookEndpointSecret(w http.ResponseWriter, r *http.Request) {
	eps := h.endpoints(w)
	if eps == nil {
		return
	}
	var b rotateBody
	if !readJSONBody(w, r, &b, true) {
		return
	}
	keep := hooks.DefaultKeepPrevious
	if b.KeepPreviousFor != nil {
		d, err := time.ParseDuration(*b.KeepPreviousFor)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, fieldErrors{
				Error:   fmt.Sprintf("keepPreviousFor: must be a duration such as 24h or 30m, got %q", *b.KeepPreviousFor),
				Details: []hooks.FieldError{{Field: "keepPreviousFor", Message: "must be a duration such as 24h or 30m"}}})
			return
		}
		keep = d
	}
	ep, err := eps.RotateSecret(r.Context(), r.PathValue("id"), keep)
	if err != nil {
		h.endpointFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}
