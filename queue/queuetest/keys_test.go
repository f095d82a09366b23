package queuetest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The key helpers name the keys the store really writes: a record, a
// failure history and a dead letter, all matched by KeyPatterns.
func TestKeyHelpers_NameWhatTheStoreWrote(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(t, err)
	_, err = q.EnqueueLine(ctx, queuetest.RequestJSON("k1", ""), queue.Bulk)
	require.NoError(t, err)
	st := queuetest.Store(t, q)
	queuetest.WebhooksOn(t, rdb, ns)
	j := queuetest.Job(t, q, "k1", "", queue.Bulk)
	require.NoError(t, st.FailAttempt(ctx, j, store.Failure{HTTPStatus: 500, Message: "boom", Attempts: 1}))

	require.Equal(t, "queued", rdb.HGet(ctx, queuetest.RecordKey(ns, "k1"), "st").Val())
	require.EqualValues(t, 1, rdb.LLen(ctx, queuetest.FailuresKey(ns, "k1")).Val())
	require.NoError(t, st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "no", Attempts: 1}))
	require.True(t, rdb.HExists(ctx, queuetest.DeadLetterHash(ns), "k1").Val())

	var keys []string
	for _, pat := range queuetest.KeyPatterns(ns) {
		ks, err := rdb.Keys(ctx, pat).Result()
		require.NoError(t, err)
		keys = append(keys, ks...)
	}
	require.Contains(t, keys, queuetest.RecordKey(ns, "k1"))
	require.Contains(t, keys, queuetest.DeadLetterHash(ns))
	require.Contains(t, keys, "asynq:{"+ns+"-bulk}:t:k1", "asynq's keys of the bulk queue are covered")

	// The dead letter's event: its hash and its id on the pending list.
	ids := queuetest.PendingEvents(t, rdb, ns)
	require.Len(t, ids, 1)
	require.Contains(t, keys, queuetest.EventKey(ns, ids[0]))
	require.Contains(t, keys, queuetest.WebhooksOnKey(ns))
	require.Contains(t, keys, queuetest.PendingEventsKey(ns))
}
