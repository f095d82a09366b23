package worker_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// A worker MaxRetry that the queue's tasks cannot carry (asynq would archive
// the job first, without a dead letter) is refused, not silently lowered.
func TestNew_MaxRetryBeyondTheQueuesTasks_IsAnError(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t), MaxRetry: 3})
	require.NoError(t, err)
	budget, err := worker.NewBudget(q, 10)
	require.NoError(t, err)
	api, err := flexapi.NewClient("https://api.example", token)
	require.NoError(t, err)
	for _, n := range []int{0, 1, 3, 3 + store.RetryHeadroom} {
		_, err := worker.New(worker.Config{Queue: q, API: api, Budget: budget, MaxRetry: n})
		require.NoError(t, err, "MaxRetry %d", n)
	}
	_, err = worker.New(worker.Config{Queue: q, API: api, Budget: budget, MaxRetry: 4 + store.RetryHeadroom})
	require.ErrorContains(t, err, "MaxRetry 14 is more than the queue's tasks allow asynq (13")
	_, err = worker.New(worker.Config{Queue: q, API: api, Budget: budget, MaxRetry: -1})
	require.ErrorContains(t, err, "MaxRetry must be at least 1")
}

// The budget accepts exactly the rates FLEXLABEL_RATE_LIMIT does.
func TestNewBudget_RateBoundIsMaxRate(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	_, err = worker.NewBudget(q, worker.MaxRate)
	require.NoError(t, err)
	for _, r := range []float64{0, -1, worker.MaxRate + 1, 1e6} {
		_, err = worker.NewBudget(q, r)
		require.ErrorContains(t, err, "at most 10000 calls per second", "rate %v", r)
	}
}
