package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// With FLEXLABEL_REDIS_MIN_REPLICAS=1 and the one replica frozen, the label
// is created but its completion is not acknowledged: the worker keeps the
// job (its asynq task still there) and retries the
// recording, as during a Redis outage, until the replica is back; then it
// records the label once, and the replica has it.
func TestWorker_MinReplicas_ReplicaDown_RecordingWaitsForIt(t *testing.T) {
	t.Parallel()
	primary := queuetest.StartRedis(t)
	replica := queuetest.StartReplica(t, primary.Addr())
	h := start(t, opts{redis: primary.Options(), minReplicas: 1, replicaTimeout: 100 * time.Millisecond})

	replica.Pause()
	// A producer without the option enqueues while the replica is down.
	prod := redis.NewClient(primary.Options())
	t.Cleanup(func() { prod.Close() })
	pq, err := queue.New(prod, queue.Options{Namespace: h.ns, MaxRetry: 5})
	require.NoError(t, err)
	res, err := pq.EnqueueLine(context.Background(), queuetest.RequestJSON("durable-1", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)

	t0 := time.Now()
	require.Eventually(t, func() bool {
		return h.fake.Ledger().CreatedPerKey["durable-1"] == 1 &&
			strings.Count(h.logs.String(), "0 of 1 Redis replicas acknowledged") >= 2
	}, 10*time.Second, 20*time.Millisecond, "the worker did not keep retrying the recording in the job")
	t.Logf("retrying after %s", time.Since(t0))
	// The primary has the completion (WAIT does not undo a write); asynq
	// still has the task, as the handler has not returned.
	_, err = queuetest.Task(h.rdb, h.q.Name(queue.Interactive), "durable-1")
	require.NoError(t, err, "asynq let go of the task before its outcome was recorded")

	replica.Resume()
	done := h.wait(t, "durable-1", queue.StateCompleted, 10*time.Second)
	require.NotNil(t, done.Label)
	h.requireTaskGone(t, "durable-1")
	l := h.fake.Ledger()
	require.Equal(t, 1, l.CallsPerKey["durable-1"])
	require.Equal(t, 1, l.CreatedPerKey["durable-1"])

	// Acknowledged means on the replica.
	rep := redis.NewClient(replica.Options())
	t.Cleanup(func() { rep.Close() })
	rq, err := queue.New(rep, queue.Options{Namespace: h.ns})
	require.NoError(t, err)
	onReplica, err := rq.Status(context.Background(), "durable-1")
	require.NoError(t, err)
	require.Equal(t, queue.StateCompleted, onReplica[0].State)
	require.Equal(t, done.Label.ID, onReplica[0].Label.ID)
}
