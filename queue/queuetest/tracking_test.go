package queuetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The tracking helpers write where the store reads: a test that sets a
// tracking record or a due time sees it through the store, under the
// namespace's KeyPatterns.
func TestTrackingHelpers_WriteWhatTheStoreReads(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(t, err)
	st := queuetest.Store(t, q)

	due := time.Now().Add(4 * time.Hour).Truncate(time.Millisecond)
	queuetest.ScheduleTracking(t, rdb, ns, "k1", due)
	got, err := st.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.NotNil(t, got)
	require.True(t, due.Equal(*got))

	queuetest.SetTracking(t, rdb, ns, "k1", store.Tracking{Tag: "InTransit", TrackingNumber: "YT1CN"})
	tr, err := st.Tracking(ctx, "k1")
	require.NoError(t, err)
	require.NotNil(t, tr)
	require.Equal(t, "YT1CN", tr.TrackingNumber)

	var keys []string
	for _, pat := range queuetest.KeyPatterns(ns) {
		ks, err := rdb.Keys(ctx, pat).Result()
		require.NoError(t, err)
		keys = append(keys, ks...)
	}
	require.ElementsMatch(t, []string{queuetest.TrackingKey(ns, "k1"), queuetest.TrackingDueKey(ns)}, keys)
}
