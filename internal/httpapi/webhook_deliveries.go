package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/flexlabel/flexlabel/internal/hooks"
)

// Webhook delivery log and redelivery (issue 15, part C).

// deliveriesBody is the answer of the delivery-log routes.
type deliveriesBody struct {
	Deliveries []hooks.Delivery `json:"deliveries"`
}

// redeliverBody is the answer of the redeliver routes.
type redeliverBody struct {
	Redelivered int `json:"redelivered"`
}

// deliveries returns the delivery log, or answers 409 when webhooks are off
// (as the endpoint routes do: retrying cannot help until the configuration
// changes).
func (h *Handler) deliveries(w http.ResponseWriter) (*hooks.Log, bool) {
	if h.dlog == nil {
		writeError(w, http.StatusConflict, webhooksOffMessage)
		return nil, false
	}
	return h.dlog, true
}

// timeParam reads an RFC 3339 query parameter; required says whether it
// may be left out (zero time).
func timeParam(w http.ResponseWriter, r *http.Request, name string, required bool) (time.Time, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			writeError(w, http.StatusBadRequest, name+": is required (an RFC 3339 time, e.g. 2026-12-01T00:00:00Z)")
			return time.Time{}, false
		}
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		writeError(w, http.StatusBadRequest, name+": must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
		return time.Time{}, false
	}
	return t, true
}

// listEndpointDeliveries is GET /v1/webhook-endpoints/{id}/deliveries.
func (h *Handler) listEndpointDeliveries(w http.ResponseWriter, r *http.Request) {
	l, ok := h.deliveries(w)
	if !ok {
		return
	}
	since, ok := timeParam(w, r, "since", false)
	if !ok {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit: must be a whole number from 1 to 1000")
			return
		}
		limit = n
	}
	ds, err := l.ForEndpoint(r.Context(), r.PathValue("id"), since, limit)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, deliveriesBody{Deliveries: ds})
}

// listEventDeliveries is GET /v1/webhook-events/{id}/deliveries.
func (h *Handler) listEventDeliveries(w http.ResponseWriter, r *http.Request) {
	l, ok := h.deliveries(w)
	if !ok {
		return
	}
	ds, err := l.ForEvent(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, hooks.ErrNoDeliveries):
		writeError(w, http.StatusNotFound, "no deliveries of event "+strconv.Quote(r.PathValue("id"))+" (unknown, not delivered, or its log expired)")
	case err != nil:
		h.unavailable(w, r, err)
	default:
		writeJSON(w, http.StatusOK, deliveriesBody{Deliveries: ds})
	}
}

// redeliverEvent is POST /v1/webhook-events/{id}/redeliver[?endpoint=ID].
func (h *Handler) redeliverEvent(w http.ResponseWriter, r *http.Request) {
	l, ok := h.deliveries(w)
	if !ok {
		return
	}
	n, err := l.RedeliverEvent(r.Context(), r.PathValue("id"), r.URL.Query().Get("endpoint"))
	switch {
	case errors.Is(err, hooks.ErrNoDeliveries):
		writeError(w, http.StatusNotFound, "no deliveries of event "+strconv.Quote(r.PathValue("id"))+" to redeliver (unknown, not delivered to that endpoint, or its log expired)")
	case err != nil:
		h.unavailable(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, redeliverBody{Redelivered: n})
	}
}

// redeliverEndpoint is POST /v1/webhook-endpoints/{id}/redeliver?since=T.
func (h *Handler) redeliverEndpoint(w http.ResponseWriter, r *http.Request) {
	l, ok := h.deliveries(w)
	if !ok {
		return
	}
	since, ok := timeParam(w, r, "since", true)
	if !ok {
		return
	}
	n, err := l.RedeliverEndpoint(r.Context(), r.PathValue("id"), since)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, redeliverBody{Redelivered: n})
}
