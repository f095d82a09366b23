package queuetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/internal/store"
)

// TrackingKey is the key holding the Tracking JSON of key in namespace ns
// (the worker's tracking poller writes it).
func TrackingKey(ns, key string) string { return ownPrefix(ns) + "trk:" + key }

// TrackingDueKey is the ZSET of namespace ns's tracking poll schedule:
// member the idempotency key, score the next check in Unix milliseconds.
func TrackingDueKey(ns string) string { return ownPrefix(ns) + "trk:due" }

// SetTracking writes tr as key's tracking, as the poller does after a poll,
// so that the front ends can be tested without running one.
func SetTracking(tb testing.TB, rdb redis.UniversalClient, ns, key string, tr store.Tracking) {
	tb.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		tb.Fatalf("queuetest: tracking of %s: %v", key, err)
	}
	if err := rdb.Set(context.Background(), TrackingKey(ns, key), b, 0).Err(); err != nil {
		tb.Fatalf("queuetest: writing the tracking of %s: %v", key, err)
	}
}

// ScheduleTracking puts key's next tracking poll at due on the schedule, as
// completing a followed label does.
func ScheduleTracking(tb testing.TB, rdb redis.UniversalClient, ns, key string, due time.Time) {
	tb.Helper()
	if err := rdb.ZAdd(context.Background(), TrackingDueKey(ns), redis.Z{Score: float64(due.UnixMilli()), Member: key}).Err(); err != nil {
		tb.Fatalf("queuetest: scheduling the tracking of %s: %v", key, err)
	}
}
