package queue_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// OnEnqueue (flexlabel_enqueue_total) sees every line's outcome once,
// refusals included, whichever door the line came through: one request,
// a batch of lines (the API's batch, bulk runs), or EnqueueMany.
func TestOnEnqueue_CountsEveryOutcomeOnce_RefusalsIncluded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	var mu sync.Mutex
	seen := map[queue.Outcome]int{}
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t), OnEnqueue: func(_ queue.Lane, o queue.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		seen[o]++
	}})
	require.NoError(t, err)

	_, err = q.EnqueueLine(ctx, []byte(`{"idempotencyKey":"one-bad"}`), queue.Interactive)
	require.NoError(t, err)
	_, err = q.EnqueueLines(ctx, []queue.Parsed{
		queue.ParseLine(queuetest.RequestJSON("b-1", "")),
		queue.ParseLine([]byte(`not json`)),
		queue.ParseLine(queuetest.RequestJSON("b-1", "")),
		queue.ParseLine([]byte(`{"idempotencyKey":"b-bad"}`)),
	}, queue.Bulk, queue.OutcomeOnly)
	require.NoError(t, err)
	_, err = q.EnqueueMany(ctx, []*flexapi.LabelRequest{{IdempotencyKey: "m-bad"}}, queue.Bulk)
	require.NoError(t, err)

	require.Equal(t, map[queue.Outcome]int{queue.Invalid: 4, queue.Enqueued: 1, queue.Duplicate: 1}, seen)
}
