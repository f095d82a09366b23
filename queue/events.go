package queue

import (
	"context"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
)

// ErrEventNotFound is the answer of Event for an event that does not
// exist or has expired (EventRetention after it was recorded). It matches
// ErrNotFound too.
var ErrEventNotFound = store.ErrEventNotFound

// EventRetention is how long a webhook event is kept, and so can be
// redelivered (the console says so).
const EventRetention = store.EventRetention

// Event returns a recorded webhook event (issue 15) — the envelope whose
// data is the key's status as of the event — and the idempotency key it is
// about. Events are recorded by the same scripts as the outcomes that cause
// them, while at least one webhook endpoint exists.
func (q *Queue) Event(ctx context.Context, id string) (webhook.Event, string, error) {
	return q.st.Event(ctx, id)
}

// EventSubject is what an event is about: its account and idempotency key.
type EventSubject = store.EventSubject

// EventAbout is Event with the account too: every account's events are
// the fleet's (recorded on the namespace's own keys), so any account's
// queue reads them all.
func (q *Queue) EventAbout(ctx context.Context, id string) (webhook.Event, EventSubject, error) {
	return q.st.EventAbout(ctx, id)
}
