package queue

import (
	"context"
	"time"

	"github.com/flexlabel/flexlabel/internal/store"
)

// Tracking is a followed shipment as last polled (tag, subtag, tracking
// number, checkpoints newest first, when checked and when next): the
// `tracking` object of JobStatus, `flexlabel track` and the console.
type Tracking = store.Tracking

// Tracking returns a key's tracking as the worker last polled it, or nil
// while it has not been polled (or is not followed).
func (q *Queue) Tracking(ctx context.Context, key string) (*Tracking, error) {
	return q.st.Tracking(ctx, key)
}

// TrackingDue returns when the key's next tracking poll is due on the
// worker's schedule, or nil when none is scheduled: for a key not polled
// yet it says when the first check comes; nil there means the label is not
// completed yet or tracking does not follow it.
func (q *Queue) TrackingDue(ctx context.Context, key string) (*time.Time, error) {
	return q.st.TrackingDue(ctx, key)
}
