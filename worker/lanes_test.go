package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func (h *harness) enqueueN(t *testing.T, prefix string, n int, lane queue.Lane) []string {
	t.Helper()
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s-%03d", prefix, i)
		res, err := h.q.EnqueueLine(context.Background(), queuetest.RequestJSON(ks[i], ""), lane)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, res.Outcome)
	}
	return ks
}

// A lane whose slots are all in API calls grows: two interactive slots at
// half a second of latency would make 4 labels a second on a budget of
// 1000; the lane grows until calls wait at the budget or the jobs run out.
func TestLanes_GrowWhileEverySlotIsInACall(t *testing.T) {
	t.Parallel()
	slots := &laneSlots{max: map[string]int{}}
	h := start(t, opts{metrics: slots})
	h.fake.SetLatency(500 * time.Millisecond)
	ks := h.enqueueN(t, "grow", 40, queue.Interactive)
	for _, k := range ks {
		h.wait(t, k, queue.StateCompleted, 30*time.Second)
	}
	assert.GreaterOrEqual(t, slots.of("interactive"), 8, "the interactive lane did not grow from its 2 slots")
	assert.Equal(t, 4, slots.of("bulk"), "the bulk lane grew with no bulk job")
	assert.True(t, strings.Contains(h.logs.String(), "lane grown"), "no log line says the lane grew")
}

// A lane whose jobs wait at the budget does not grow: the budget, not the
// lane, is the limit, and more slots would only hold more jobs waiting.
func TestLanes_DoNotGrowWhileJobsWaitAtTheBudget(t *testing.T) {
	t.Parallel()
	slots := &laneSlots{max: map[string]int{}}
	h := start(t, opts{metrics: slots, rate: 20})
	ks := h.enqueueN(t, "budget", 40, queue.Bulk)
	for _, k := range ks {
		h.wait(t, k, queue.StateCompleted, 30*time.Second)
	}
	assert.Equal(t, 4, slots.of("bulk"), "the bulk lane grew while its jobs waited at the budget")
	assert.False(t, strings.Contains(h.logs.String(), "lane grown"), "a log line says a lane grew")
}

// At shutdown, jobs waiting for the budget are handed back at once — no
// attempt counted, no call made — rather than holding their slots through
// the shutdown timeout; the job in its call finishes.
func TestShutdown_HandsBackJobsWaitingForTheBudget(t *testing.T) {
	t.Parallel()
	// One call per 5 s: the first job is called at once, the others wait.
	h := start(t, opts{rate: 0.2, shutdownTimeout: 20 * time.Second})
	h.fake.SetLatency(time.Second)
	ks := h.enqueueN(t, "back", 4, queue.Bulk)
	require.Eventually(t, func() bool { return h.fake.Ledger().CreateCalls == 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the others are at the budget

	stopped := time.Now()
	h.w.Shutdown()
	// The in-flight call's second, not the 5 s a waiting job's slot is
	// away (nor the 20 s shutdown timeout).
	require.Less(t, time.Since(stopped), 4*time.Second, "shutdown waited for the budget")
	require.Equal(t, 1, h.fake.Ledger().CreateCalls)

	completed := 0
	for _, k := range ks {
		st, err := h.q.Status(context.Background(), k)
		require.NoError(t, err)
		if st[0].State == queue.StateCompleted {
			completed++
			continue
		}
		ti, err := queuetest.Task(h.rdb, h.q.Name(queue.Bulk), k)
		require.NoError(t, err)
		assert.Contains(t, []asynq.TaskState{asynq.TaskStatePending, asynq.TaskStateRetry}, ti.State, k)
		assert.Zero(t, ti.Retried, "%s: a hand-back is not a failed attempt", k)
		assert.Zero(t, st[0].Attempts, "%s: no attempt counted", k)
	}
	assert.Equal(t, 1, completed)
}

// A job waiting for the budget when Redis goes away waits for Redis, as a
// recording does, and runs on once Redis is back: handed to asynq in the
// outage, its retry could not be recorded either, and it would wait for its
// lease to expire (30 s, then the recoverer's minute).
func TestWorker_BudgetWaitOutlastsARedisOutage(t *testing.T) {
	t.Parallel()
	rp := queuetest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	// One call per 3 s: the second job waits at the budget.
	h := start(t, opts{redis: rp.Options(), rate: 1.0 / 3})
	ks := h.enqueueN(t, "outage", 2, queue.Bulk)
	require.Eventually(t, func() bool { return h.fake.Ledger().CreateCalls == 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // the first is recorded, the second at the budget
	rp.Kill()
	time.Sleep(4 * time.Second) // past the second job's slot: it tries while Redis is down
	rp.Restart()
	for _, k := range ks {
		// Well inside the lease (30 s) the job that waited is done.
		h.wait(t, k, queue.StateCompleted, 15*time.Second)
	}
	assert.True(t, strings.Contains(h.logs.String(), "taking a budget slot failed; retrying until Redis answers"), "no line says the job waited for Redis")
	assert.Equal(t, 2, h.fake.Ledger().CreateCalls)
}
