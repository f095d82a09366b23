package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// This file holds what status reads of a followed shipment: the tracking
// state the worker's tracking poller writes after each GET /tracking/{id}.
//
// Layout (the poller owns the writes):
//
//	fl:<ns>:trk:<key>   string, the Tracking JSON below; its TTL outlives
//	                    the follow-up (age limit + retention)
//	fl:<ns>:trk:due     ZSET, member the idempotency key, score the next
//	                    check (Unix ms): the poll schedule

// Tracking is a followed shipment as last polled: the `tracking` object of
// `flexlabel status --json` and GET /v1/labels/{key}.
type Tracking struct {
	Tag            string `json:"tag"`
	Subtag         string `json:"subtag"`
	SubtagMessage  string `json:"subtagMessage"`
	TrackingNumber string `json:"trackingNumber"`
	// Checkpoints are newest first, as the API gives them.
	Checkpoints []flexapi.Checkpoint `json:"checkpoints"`
	CheckedAt   time.Time            `json:"checkedAt"`
	// NextCheckAt is when the next poll is due; nil once the shipment is
	// no longer followed (Delivered, Cancelled, or past the age limit).
	NextCheckAt *time.Time `json:"nextCheckAt"`
}

// trackingKey is the string holding a key's Tracking JSON.
func (st *Store) trackingKey(key string) string { return st.ns + "trk:" + key }

// trackingDueKey is the poll schedule.
func (st *Store) trackingDueKey() string { return st.ns + "trk:due" }

func parseTracking(raw string) *Tracking {
	if raw == "" {
		return nil
	}
	var t Tracking
	if json.Unmarshal([]byte(raw), &t) != nil {
		return nil
	}
	if t.Checkpoints == nil {
		t.Checkpoints = []flexapi.Checkpoint{}
	}
	return &t
}

// Tracking returns a key's tracking as last polled, or nil while it has not
// been polled.
func (st *Store) Tracking(ctx context.Context, key string) (*Tracking, error) {
	raw, err := st.rdb.Get(ctx, st.trackingKey(key)).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: tracking of %q: %w", key, err)
	}
	return parseTracking(raw), nil
}
