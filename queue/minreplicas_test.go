package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// replicated is a primary with one replica, and queues of one namespace on
// each: q and fast on the primary with MinReplicas 1 (q waits up to 2s, for
// a replica that is up but slow on a busy machine; fast 100ms, for one that
// is down), onReplica to read what the replica has.
type replicated struct {
	primary, replica *queuetest.RedisProcess
	q, fast          *queue.Queue
	onReplica        *queue.Queue
	ns               string
}

const (
	upTimeout   = 2 * time.Second // below go-redis's 5s read timeout
	downTimeout = 100 * time.Millisecond
)

func newReplicated(t *testing.T) *replicated {
	t.Helper()
	r := &replicated{primary: queuetest.StartRedis(t), ns: queuetest.Prefix(t)}
	r.replica = queuetest.StartReplica(t, r.primary.Addr())
	r.q = r.queueOn(t, r.primary, 1, upTimeout)
	r.fast = r.queueOn(t, r.primary, 1, downTimeout)
	r.onReplica = r.queueOn(t, r.replica, 0, 0)
	return r
}

// queueOn is a queue of r's namespace on srv, over a client of its own (its
// own connections).
func (r *replicated) queueOn(t *testing.T, srv *queuetest.RedisProcess, minReplicas int, timeout time.Duration) *queue.Queue {
	t.Helper()
	rdb := redis.NewClient(srv.Options())
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: r.ns, MaxRetry: 3, MinReplicas: minReplicas, ReplicaTimeout: timeout})
	require.NoError(t, err)
	return q
}

func requireTooFewReplicas(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, queue.ErrTooFewReplicas)
	var re *queue.ReplicaError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 0, re.Acked)
	require.Equal(t, 1, re.Want)
	require.ErrorContains(t, err, "0 of 1 Redis replicas acknowledged the write within 100ms")
	require.ErrorContains(t, err, "retrying is safe")
}

// An acknowledged batch is on the replica the moment EnqueueLines returns:
// its one WAIT covered every script of the pipeline.
func TestEnqueueLines_MinReplicas_AcknowledgedIsOnReplica(t *testing.T) {
	t.Parallel()
	r := newReplicated(t)
	lines := make([]queue.Parsed, 200)
	keys := make([]string, len(lines))
	for i := range lines {
		keys[i] = fmt.Sprintf("dur-%03d", i)
		lines[i] = queue.ParseLine(queuetest.RequestJSON(keys[i], ""))
	}
	res, err := r.q.EnqueueLines(context.Background(), lines, queue.Bulk, queue.OutcomeOnly)
	require.NoError(t, err)
	for _, x := range res {
		require.Equal(t, queue.Enqueued, x.Outcome)
	}
	st, err := r.onReplica.Status(context.Background(), keys...)
	require.NoError(t, err)
	for i, s := range st {
		require.Equal(t, queue.StatePending, s.State, "key %s not on the replica", keys[i])
	}
}

// With the replica frozen, an enqueue is not acknowledged; nor is the same
// enqueue by another producer (a duplicate, written by the first: the
// barrier makes its WAIT cover that write). Once the replica is back, the
// retry is acknowledged, as a duplicate of the first attempt, and is on
// the replica.
func TestEnqueue_MinReplicas_ReplicaDown_TooFewReplicasUntilBack(t *testing.T) {
	t.Parallel()
	r := newReplicated(t)
	line := queuetest.RequestJSON("dur-down", "")
	r.replica.Pause()
	_, err := r.fast.EnqueueLine(context.Background(), line, queue.Interactive)
	requireTooFewReplicas(t, err)

	other := r.queueOn(t, r.primary, 1, downTimeout)
	_, err = other.EnqueueLine(context.Background(), line, queue.Interactive)
	requireTooFewReplicas(t, err)

	// Without the option nothing waits: today's behaviour.
	_, err = r.queueOn(t, r.primary, 0, 0).EnqueueLine(context.Background(), queuetest.RequestJSON("dur-off", ""), queue.Interactive)
	require.NoError(t, err)

	r.replica.Resume()
	res, err := r.q.EnqueueLine(context.Background(), line, queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.True(t, res.Outcome.Accepted())
	st, err := r.onReplica.Status(context.Background(), "dur-down")
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, st[0].State)
}

// An operator's redrive and discard, and the worker's outcomes, are
// acknowledged the same way.
func TestDeadLetters_MinReplicas_ReplicaDown_RedriveDiscardOutcomes(t *testing.T) {
	t.Parallel()
	r := newReplicated(t)
	ctx := context.Background()
	st := queuetest.Store(t, r.q)
	for _, k := range []string{"dur-a", "dur-b", "dur-c"} {
		_, err := r.q.EnqueueLine(ctx, queuetest.RequestJSON(k, ""), queue.Interactive)
		require.NoError(t, err)
	}
	for _, k := range []string{"dur-a", "dur-b"} {
		j := queuetest.Job(t, r.q, k, "", queue.Interactive)
		require.NoError(t, st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonRetriesExhausted, Message: "boom", Attempts: 1}))
	}

	r.replica.Pause()
	_, err := r.fast.DeadLetters().Redrive(ctx, "dur-a")
	requireTooFewReplicas(t, err)
	_, err = r.fast.DeadLetters().Discard(ctx, "dur-b")
	requireTooFewReplicas(t, err)
	st = queuetest.Store(t, r.fast)
	j := queuetest.Job(t, r.q, "dur-c", "", queue.Interactive)
	requireTooFewReplicas(t, st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonRetriesExhausted, Message: "boom", Attempts: 1}))
	requireTooFewReplicas(t, st.SetURLs(ctx, map[string]string{"dur-c": "https://example.test/doc.pdf"}))
	r.replica.Resume()
}

// ReplicaError says what happened in a way errors.Is and errors.As find
// through wrapping.
func TestReplicaError_IsTooFewReplicas(t *testing.T) {
	err := fmt.Errorf("enqueue: %w", &queue.ReplicaError{Acked: 1, Want: 2, Timeout: time.Second})
	require.True(t, errors.Is(err, queue.ErrTooFewReplicas))
	require.EqualError(t, err, "enqueue: 1 of 2 Redis replicas acknowledged the write within 1s; "+
		"the primary has it but a failover could lose it; retrying is safe (writes are idempotent)")
}

// New refuses MinReplicas out of range and a ReplicaTimeout the client's
// read timeout would cut short (the WAIT runs in a pipeline).
func TestNew_MinReplicas_Validates(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { rdb.Close() })
	_, err := queue.New(rdb, queue.Options{MinReplicas: -1})
	require.ErrorContains(t, err, "MinReplicas must be between 0 and 16, got -1")
	_, err = queue.New(rdb, queue.Options{MinReplicas: 17})
	require.ErrorContains(t, err, "MinReplicas must be between 0 and 16, got 17")
	_, err = queue.New(rdb, queue.Options{MinReplicas: 1, ReplicaTimeout: 5 * time.Second})
	require.ErrorContains(t, err, "ReplicaTimeout (5s) must be below the Redis client's read timeout (5s)")
	q, err := queue.New(rdb, queue.Options{MinReplicas: 1})
	require.NoError(t, err)
	require.Equal(t, queue.DefaultReplicaTimeout, q.Options().ReplicaTimeout)
}
