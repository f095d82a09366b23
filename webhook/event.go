package webhook

import (
	"encoding/json"
	"time"
)

// EventType names what happened; it is the envelope's "type".
type EventType string

// The event types flexlabel sends.
const (
	// LabelCompleted: the label exists and its document URL is known, or a
	// bounded time passed without it (then LabelDocument follows).
	LabelCompleted EventType = "label.completed"
	// LabelDocument: the document URL arrived after LabelCompleted was sent.
	LabelDocument EventType = "label.document"
	// LabelDead: the label was dead-lettered; data.deadLetter says why.
	LabelDead EventType = "label.dead"
	// LabelRedriven: an operator sent a dead letter back to the queue.
	LabelRedriven EventType = "label.redriven"
	// LabelDiscarded: an operator discarded a dead letter.
	LabelDiscarded EventType = "label.discarded"
	// TrackingUpdated: a followed shipment's tracking changed — its first
	// poll, a new tag or a new checkpoint (never a poll that found nothing
	// new); data.tracking is the tracking as just polled.
	TrackingUpdated EventType = "tracking.updated"
)

// APIVersion is the envelope's "apiVersion": the version of the HTTP API
// whose label object "data" carries (GET /v1/labels/{key}).
const APIVersion = "v1"

// Event is the JSON body of every delivery.
//
// ID is unique and stable: a redelivery of the same event carries the same
// ID (and Sequence), so a receiver drops an ID it has already handled.
// Deliveries are not ordered; Sequence is per idempotency key, starts at 1
// and grows with each event of that key, so a receiver that keeps the highest
// Sequence it has applied per key can ignore an older event arriving late.
// Data is the same object GET /v1/labels/{key} returns (idempotencyKey,
// state, label, deadLetter, tracking), kept raw so the envelope does not fix its shape.
type Event struct {
	ID         string          `json:"id"`
	Type       EventType       `json:"type"`
	CreatedAt  time.Time       `json:"createdAt"`
	APIVersion string          `json:"apiVersion"`
	Sequence   int64           `json:"sequence"`
	Data       json.RawMessage `json:"data"`
}
