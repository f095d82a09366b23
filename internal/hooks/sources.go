package hooks

import (
	"context"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
)

// EndpointSource is what delivery needs of the endpoints (part A's
// *Endpoints implements it). Matching includes disabled endpoints, with
// Enabled false, so their events are recorded as skipped and stay
// redeliverable; Target answers an error wrapping ErrNotFound for an endpoint
// that is gone.
type EndpointSource interface {
	Matching(ctx context.Context, t webhook.EventType, account, key string) ([]Target, error)
	Target(ctx context.Context, id string) (Target, error)
	Disable(ctx context.Context, id, reason string) error
}

// EventSource is what delivery needs of the recorded events
// (*store.Store implements it): the full envelope of one event and the
// account and idempotency key it is about, or an error wrapping
// store.ErrNotFound once the event has expired.
type EventSource interface {
	EventAbout(ctx context.Context, id string) (webhook.Event, store.EventSubject, error)
}
