package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/worker"
)

// Three worker servers share one budget of 10 calls/s: the fake API never
// sees more than 10 calls in a second (+1 for a window edge), counting
// label creations and the batched document-URL calls alike.
func TestBudget_ThreeWorkersNeverExceedIt(t *testing.T) {
	t.Parallel()
	const rate = 10
	e := newBenchEnv(t, 5)
	e.startWorkers(t, 3, 10, rate)
	ks := keys("shared", 40)
	e.enqueue(t, ks, queue.Bulk)
	e.waitCompleted(t, ks, 30*time.Second)
	// The document-URL calls count too: wait until the last batch brought every URL.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		sts, err := e.q.Status(context.Background(), ks...)
		require.NoError(c, err)
		for _, st := range sts {
			if assert.NotNil(c, st.Label, st.IdempotencyKey) {
				assert.NotEmpty(c, st.Label.URL, st.IdempotencyKey)
			}
		}
	}, 30*time.Second, 100*time.Millisecond)
	l := e.fake.Ledger()
	require.Equal(t, 40, l.LabelsCreated)
	secs := make([]int64, 0, len(l.CallsPerSecond))
	for s := range l.CallsPerSecond {
		secs = append(secs, s)
	}
	slices.Sort(secs)
	for _, s := range secs {
		require.LessOrEqual(t, l.CallsPerSecond[s], rate+1, "second %d: %v", s, l.CallsPerSecond)
	}
	// and the budget was used: 40 creates need at least 4 seconds at 10/s
	require.GreaterOrEqual(t, len(secs), 4)
}

// A 429 pauses every worker for its Retry-After: after it, no call arrives
// until the pause has passed.
func TestBudget_429PausesTheFleet(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, 5)
	// 5 calls/s spaces calls 200 ms apart, so without a shared pause the
	// calls after the 429 would arrive long before its 2 s are up.
	e.startWorkers(t, 3, 5, 5)
	e.fake.Force429(1, 2*time.Second)
	start := time.Now()
	ks := keys("paused", 12)
	e.enqueue(t, ks, queue.Bulk)
	e.waitCompleted(t, ks, 20*time.Second)
	l := e.fake.Ledger()
	require.Equal(t, 1, l.RateLimited)
	// Every creating call but the 429'd one came after the 2 s pause.
	var early []string
	for _, k := range ks {
		at, ok := e.arr.at(k)
		require.True(t, ok)
		if at.Sub(start) < 1900*time.Millisecond {
			early = append(early, fmt.Sprintf("%s@%s", k, at.Sub(start)))
		}
	}
	// Only the call that got the 429 arrived before the pause ended.
	require.Len(t, early, 1, "calls during the pause: %v", early)
	require.Equal(t, 12, l.LabelsCreated)
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second)
}

// With FLEXLABEL_MAX_RETRY=2, labels behind repeated 429s still complete:
// neither 429s nor budget waits consume attempts.
func TestBudget_429sAndWaitsDoNotConsumeAttempts(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, 2)
	e.startWorkers(t, 1, 4, 5) // a tight budget: most calls wait for it
	e.fake.Force429(6, time.Second)
	ks := keys("patient", 6)
	e.enqueue(t, ks, queue.Bulk)
	e.waitCompleted(t, ks, 40*time.Second)
	sts, err := e.q.Status(context.Background(), ks...)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, queue.StateCompleted, s.State, "%s: %+v", s.IdempotencyKey, s.DeadLetter)
	}
	require.Equal(t, 6, e.fake.Ledger().RateLimited)
}

// Tracking polls (TakeIdle) take only slots no label caller waits for:
// while bulk callers keep the budget busy, an idle caller gets nothing, and
// it gets slots as soon as they stop.
func TestBudget_IdleCallersTakeOnlyLeftoverSlots(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, 5)
	// 10/s: the bulk caller's waiting mark lasts two intervals (250 ms), far
	// beyond a busy machine's scheduling delays between its tries.
	b := worker.NewBudgetUnbounded(e.q, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var bulkGrants atomic.Int64
	var bulkLast atomic.Int64 // unix ns of the last bulk grant
	bulkDone := make(chan struct{})
	go func() {
		defer close(bulkDone)
		for range 15 { // 1.5 s of the budget
			if _, err := worker.Wait(ctx, b, queue.Bulk); err != nil {
				t.Error(err)
				return
			}
			bulkGrants.Add(1)
			bulkLast.Store(time.Now().UnixNano())
		}
	}()
	require.Eventually(t, func() bool { return bulkGrants.Load() > 0 }, 5*time.Second, time.Millisecond)

	var idleGrants []time.Time // read after idleGranted
	idleGranted := make(chan struct{})
	go func() {
		for {
			if _, err := worker.TakeIdle(ctx, b); err != nil {
				return
			}
			idleGrants = append(idleGrants, time.Now())
			select {
			case <-bulkDone:
				close(idleGranted)
				return
			default:
			}
		}
	}()
	<-bulkDone
	select {
	case <-idleGranted:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle caller got no slot after the bulk callers stopped")
	}
	require.EqualValues(t, 15, bulkGrants.Load())
	last := time.Unix(0, bulkLast.Load())
	for _, g := range idleGrants {
		require.False(t, g.Before(last), "an idle caller took a slot (%s) while bulk callers were waiting (the last bulk grant %s)", g.Format(time.StampMicro), last.Format(time.StampMicro))
	}
}
