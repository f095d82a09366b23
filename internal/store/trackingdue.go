package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TrackingDue returns when the key's next tracking poll is due, as the poll
// schedule (fl:<ns>:trk:due) holds it, or nil when the key is not on the
// schedule: not completed yet, not followed (tracking off, another key
// prefix, past the age limit) or no longer followed (Delivered, Cancelled).
//
// It is what the front ends show for a key not polled yet, whose Tracking
// is still nil: "first check due at …". A polled key carries the same time
// in its Tracking.NextCheckAt.
func (st *Store) TrackingDue(ctx context.Context, key string) (*time.Time, error) {
	ms, err := st.rdb.ZScore(ctx, st.trackingDueKey(), key).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: tracking schedule of %q: %w", key, err)
	}
	t := time.UnixMilli(int64(ms)).UTC()
	return &t, nil
}
