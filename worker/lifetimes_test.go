package worker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// lateObserver holds the handler of the first created label inside
// Outcome, after its record is written and before its document URL is
// queued, until release is closed.
type lateObserver struct {
	worker.Observer // nil: this test calls only the methods below
	entered         chan struct{}
	release         chan struct{}
}

func (o *lateObserver) APICall(string, string, int, time.Duration) {}
func (o *lateObserver) BudgetWait(time.Duration)                   {}
func (o *lateObserver) Outcome(_, _, outcome string) {
	if outcome == "created" {
		close(o.entered)
		<-o.release
	}
}

// A handler asynq abandons at the shutdown timeout may complete after
// Shutdown has returned. Its label's document is pending in Redis from the
// script that records it, so no URL is lost with the stopped worker (the
// in-memory batcher before issue 16 dropped it with a warning): the next
// worker fetches it.
func TestWorker_JobCompletingAfterShutdownTimeout_NextWorkerFetchesItsURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	fake := flexapitest.NewTestServer(t, token)
	api, err := flexapi.NewClient(fake.URL(), token)
	require.NoError(t, err)
	budget, err := worker.NewBudget(q, 1000)
	require.NoError(t, err)
	logs := &queuetest.Buffer{}
	obs := &lateObserver{entered: make(chan struct{}), release: make(chan struct{})}
	w, err := worker.New(worker.Config{
		Queue: q, API: api, Budget: budget, Metrics: obs,
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		Concurrency:     2,
		ShutdownTimeout: 100 * time.Millisecond,
		URLBatchWindow:  time.Hour, // its batch is never due: it fetches nothing
	})
	require.NoError(t, err)
	require.NoError(t, w.Start())

	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON("late-1", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	select {
	case <-obs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the label was never created")
	}
	w.Shutdown() // returns once asynq has given up on the held handler
	close(obs.release)
	st, err := q.Status(ctx, "late-1")
	require.NoError(t, err)
	require.Equal(t, queue.StateCompleted, st[0].State)
	require.Empty(t, st[0].Label.URL, "the stopped worker fetches nothing")
	n, err := q.PendingDocuments(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "its document is pending in Redis")

	w2, err := worker.New(worker.Config{Queue: q, API: api, Budget: budget, URLBatchWindow: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w2.Start())
	t.Cleanup(w2.Shutdown)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		u, err := q.URLs(ctx, []string{"late-1"})
		require.NoError(c, err)
		assert.NotEmpty(c, u[0])
	}, 20*time.Second, 20*time.Millisecond, "the next worker fetches the URL")
	n, err = q.PendingDocuments(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
