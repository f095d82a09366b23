package flexapitest

import (
	"net/http"
	"slices"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
)

// SetTrackingSpeedup makes the sandbox journeys progress f times faster
// than real time from now on (3600: an hour of a journey passes in a
// second); f below 1 counts as 1, the default. A journey starts when its
// label is created, so a label's tracking moves on as the hours (divided
// by f) pass.
func (s *Server) SetTrackingSpeedup(f float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.speedup = max(f, 1)
}

// getTracking is GET /tracking/{id}. The ship-to postal code drives the
// simulated progress, as in the sandbox: the journey starts when the label
// is created and its events come as their offsets (divided by the tracking
// speedup) pass. A failed label has no tracking number and one Exception
// state without checkpoints.
func (s *Server) getTracking(w http.ResponseWriter, _ *http.Request, account, id string, _ []byte) {
	s.mu.Lock()
	st, forbidden := s.lookupLocked(account, id)
	var snap stored
	if st != nil {
		snap = *st
		s.ledger.TrackingCalls++
		s.ledger.TrackingCallsPerLabel[st.label.ID]++
		a := s.ledger.account(account)
		a.TrackingCalls++
		s.ledger.Accounts[account] = a
	}
	speedup := s.speedup
	s.mu.Unlock()
	switch {
	case forbidden:
		writeError(w, http.StatusForbidden, "Forbidden")
	case st == nil:
		writeError(w, http.StatusNotFound, "Tracking not found")
	default:
		writeJSON(w, http.StatusOK, trackingFor(&snap, time.Now(), speedup))
	}
}

// event is one step of a simulated journey, at an offset from its start.
type event struct {
	after         time.Duration
	atDestination bool
	tag, subtag   string
	subtagMessage string
	message       string
}

var (
	evInfoReceived = event{0, false, flexapi.TagInfoReceived, "InfoReceived_001", "Info Received", "Shipment information received"}
	evPickedUp     = event{6 * time.Hour, false, flexapi.TagInTransit, "InTransit_002", "Acceptance scan", "Picked up by the courier"}
	evDeparted     = event{30 * time.Hour, false, flexapi.TagInTransit, "InTransit_001", "In Transit", "Departed the origin facility"}
	evArrived      = event{72 * time.Hour, true, flexapi.TagInTransit, "InTransit_001", "In Transit", "Arrived at the destination facility"}
	evDelivered    = event{96 * time.Hour, true, flexapi.TagDelivered, "Delivered_001", "Delivered", "Delivered"}
	evException    = event{96 * time.Hour, true, flexapi.TagException, "Exception_004", "Delivery attempt failed", "Delivery attempt failed: recipient not available"}
	evCancelled    = event{2 * time.Hour, false, flexapi.TagCancelled, "Cancelled_001", "Cancelled", "Shipment cancelled by the shipper"}
	evNewTag       = event{6 * time.Hour, true, "AvailableForPickup", "AvailableForPickup_001", "Available for pickup", "Available for pickup at the service point"}
)

// journeys are the sandbox postal codes and their events, oldest first.
var journeys = map[string][]event{
	PostalDelivered: {evInfoReceived, evPickedUp, evDeparted, evArrived, evDelivered},
	PostalException: {evInfoReceived, evPickedUp, evDeparted, evArrived, evException},
	PostalInTransit: {evInfoReceived, evPickedUp, evDeparted, evArrived},
	PostalCancelled: {evInfoReceived, evCancelled},
	PostalNewTag:    {evInfoReceived, evNewTag},
}

func trackingFor(st *stored, now time.Time, speedup float64) flexapi.Tracking {
	slug := st.label.Courier
	t := flexapi.Tracking{ID: st.label.ID, Slug: slug, Checkpoints: []flexapi.Checkpoint{}}
	if st.label.Status != flexapi.StatusCreated {
		t.Tag, t.Subtag, t.SubtagMessage = flexapi.TagException, "Exception_011", "Label creation failed"
		return t
	}
	t.TrackingNumber = st.label.CourierTrackingNumber
	events, ok := journeys[st.shipTo.PostalCode]
	if !ok {
		events = []event{evInfoReceived}
	}
	// The journey starts at the label's creation; only the events whose
	// (sped-up) offset has passed have happened. The first is at offset 0.
	at := func(e event) time.Time { return st.created.Add(time.Duration(float64(e.after) / speedup)) }
	n := 1
	for n < len(events) && !at(events[n]).After(now) {
		n++
	}
	events = events[:n]
	for _, e := range slices.Backward(events) {
		addr := st.shipFrom
		var loc *string
		if e.atDestination {
			addr = st.shipTo
			l := addr.City + ", " + addr.State + ", " + addr.CountryCode
			loc = &l
		}
		t.Checkpoints = append(t.Checkpoints, flexapi.Checkpoint{
			CheckpointTime: at(e).UTC().Format(time.RFC3339Nano),
			City:           addr.City,
			State:          addr.State,
			CountryRegion:  addr.CountryCode,
			Location:       loc,
			Message:        e.message,
			Tag:            e.tag,
			Subtag:         e.subtag,
			SubtagMessage:  e.subtagMessage,
			Slug:           slug,
		})
	}
	newest := t.Checkpoints[0]
	t.Tag, t.Subtag, t.SubtagMessage = newest.Tag, newest.Subtag, newest.SubtagMessage
	return t
}
