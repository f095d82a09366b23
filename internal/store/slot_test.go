package store_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// job enqueues a label and returns its job as the worker would decode it.
func job(t *testing.T, e *env, key string) *store.Job {
	t.Helper()
	res := enqueue(t, e, queuetest.RequestJSON(key, ""), queue.Bulk)
	require.True(t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(t, e.q, key, "", queue.Bulk)
	return j
}

// Grants from many concurrent callers keep the schedule of one per
// interval by Redis's clock: a grant falls in [its slot, its slot +
// interval), so any k+1 grants span more than k-1 intervals and no sliding
// second holds more than rate+1 calls.
func TestTakeSlot_GrantsAreOneIntervalApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const interval = 20 * time.Millisecond // 50 calls/s
	ctx := context.Background()
	var mu sync.Mutex
	var grants []time.Time
	var wg sync.WaitGroup
	deadline := time.Now().Add(600 * time.Millisecond)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				s, err := e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Bulk, Interval: interval})
				if err != nil {
					t.Error(err)
					return
				}
				if !s.Granted {
					// Not require: this is not the test's goroutine.
					if !assert.Equal(t, store.BlockedBudget, s.Blocked) || !assert.Positive(t, s.Wait) ||
						!assert.LessOrEqual(t, s.Wait, interval) {
						return
					}
					continue // hammer: no sleeping
				}
				mu.Lock()
				grants = append(grants, s.At)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(grants, func(i, j int) bool { return grants[i].Before(grants[j]) })
	require.GreaterOrEqual(t, len(grants), 5, "the budget was used") // (utilisation is a benchmark's business)
	require.LessOrEqual(t, len(grants), 31+1)
	for i := range grants {
		for k := 1; i+k < len(grants); k++ {
			require.GreaterOrEqual(t, grants[i+k].Sub(grants[i]), time.Duration(k-1)*interval, "grants %d and %d", i, i+k)
		}
	}
}

// A caller late for its slot keeps the schedule: the next slot is one
// interval after the slot it was late for, not after its late grant, so
// lateness (a sleep's overshoot, a round trip) is not budget lost.
func TestTakeSlot_LateCallerKeepsTheSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const interval = 2 * time.Second
	ctx := context.Background()
	req := store.SlotRequest{Lane: queue.Bulk, Interval: interval}
	s, err := e.st.TakeSlot(ctx, req)
	require.NoError(t, err)
	require.True(t, s.Granted)
	first := time.Now()
	time.Sleep(interval + interval/4) // late for the next slot by a quarter
	s, err = e.st.TakeSlot(ctx, req)
	require.NoError(t, err)
	require.True(t, s.Granted, "the slot was due")
	s, err = e.st.TakeSlot(ctx, req)
	require.NoError(t, err)
	late := time.Since(first) - interval
	require.Less(t, late, interval-200*time.Millisecond, "the test slept too long to be late only")
	require.False(t, s.Granted)
	// The next slot is two intervals after the first grant: the wait is
	// what is left of the interval after the lateness, not a whole one.
	require.InDelta(t, (interval - late).Seconds(), s.Wait.Seconds(), 0.1, "wait %s after being %s late", s.Wait, late)
}

// A slot counts the job's attempt in the same round trip; a finished job
// gets no slot and no attempt.
func TestTakeSlot_CountsAttemptsAndSparesFinishedJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := job(t, e, "slot-1")
	req := store.SlotRequest{Lane: queue.Bulk, Interval: time.Microsecond, Job: j}
	for want := 1; want <= 3; want++ {
		var s store.Slot
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var err error
			s, err = e.st.TakeSlot(ctx, req)
			require.NoError(c, err)
			assert.True(c, s.Granted)
		}, time.Second, time.Millisecond)
		require.Equal(t, want, s.Attempt)
		require.Equal(t, queue.StateActive, s.State)
	}

	d := job(t, e, "slot-dead")
	queuetest.Attempt(t, e.q, d)
	require.NoError(t, e.st.DeadLetter(ctx, d, store.Failure{Reason: queue.ReasonAuth, Message: "no"}))
	// A long interval: had the dead job taken a slot, the next caller would wait.
	slow := store.SlotRequest{Lane: queue.Bulk, Interval: time.Hour, Job: d}
	s, err := e.st.TakeSlot(ctx, slow)
	require.NoError(t, err)
	require.False(t, s.Granted)
	require.Equal(t, queue.StateDead, s.State)
	s, err = e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Bulk, Interval: time.Hour})
	require.NoError(t, err)
	require.True(t, s.Granted, "the dead job took no slot")
	st, err := e.q.Status(ctx, "slot-dead")
	require.NoError(t, err)
	require.Equal(t, 1, st[0].Attempts, "no attempt counted for the dead job")
}

// A job whose record is gone (a task made outside Enqueue) gets its record
// back from its payload with the slot.
func TestTakeSlot_RecreatesAMissingRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := job(t, e, "slot-lost")
	require.NoError(t, e.rdb.Del(ctx, queuetest.RecordKey(e.ns, "slot-lost")).Err())
	s, err := e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Interactive, Interval: time.Microsecond, Job: j})
	require.NoError(t, err)
	require.True(t, s.Granted)
	require.Equal(t, 1, s.Attempt)
	st, err := e.q.Status(ctx, "slot-lost")
	require.NoError(t, err)
	require.Equal(t, 1, st[0].Attempts)
	require.NotEqual(t, queue.StateUnknown, st[0].State)
	h, err := e.rdb.HGet(ctx, queuetest.RecordKey(e.ns, "slot-lost"), "h").Result()
	require.NoError(t, err)
	require.NotEmpty(t, h, "the request hash is back, so a re-enqueue can be checked against it")
}

// The fleet pause blocks every lane for its length, and no attempt is
// counted while it does; a shorter pause does not cut a longer one.
func TestTakeSlot_PauseBlocksEveryone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := job(t, e, "slot-paused")
	require.NoError(t, e.st.Pause(ctx, 2*time.Second))
	require.NoError(t, e.st.Pause(ctx, 100*time.Millisecond))
	for _, lane := range []queue.Lane{queue.Interactive, queue.Bulk} {
		s, err := e.st.TakeSlot(ctx, store.SlotRequest{Lane: lane, Interval: time.Microsecond, Job: j})
		require.NoError(t, err)
		require.False(t, s.Granted)
		require.Equal(t, store.BlockedPause, s.Blocked)
		require.Greater(t, s.Wait, time.Second)
		require.LessOrEqual(t, s.Wait, 2*time.Second)
	}
	st, err := e.q.Status(ctx, "slot-paused")
	require.NoError(t, err)
	require.Equal(t, 0, st[0].Attempts)
}

// While an interactive caller waits for a slot, bulk callers hold back; once
// it has its slot, they may go.
func TestTakeSlot_InteractiveGoesFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const interval = 200 * time.Millisecond
	s, err := e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Bulk, Interval: interval})
	require.NoError(t, err)
	require.True(t, s.Granted)
	// An interactive caller finds the slot taken and announces itself.
	s, err = e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Interactive, Interval: interval})
	require.NoError(t, err)
	require.Equal(t, store.BlockedBudget, s.Blocked)
	time.Sleep(s.Wait)
	// The slot is free now, but a bulk caller must leave it to the interactive one.
	s, err = e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Bulk, Interval: interval})
	require.NoError(t, err)
	require.False(t, s.Granted)
	require.Equal(t, store.BlockedInteractive, s.Blocked)
	s, err = e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Interactive, Interval: interval})
	require.NoError(t, err)
	require.True(t, s.Granted)
	// and with the interactive caller served, bulk is only waiting for the budget
	s, err = e.st.TakeSlot(ctx, store.SlotRequest{Lane: queue.Bulk, Interval: interval})
	require.NoError(t, err)
	require.Equal(t, store.BlockedBudget, s.Blocked)
}

// An idle caller (tracking polls) gets a slot only while no label caller is
// waiting: a bulk or interactive try marks the lane as waiting for two
// intervals, granted or not, and the idle caller holds back meanwhile.
func TestTakeSlot_IdleYieldsToLabelCallers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const interval = 10 * time.Millisecond
	ctx := context.Background()
	idle := store.SlotRequest{Idle: true, Interval: interval}
	take := func(r store.SlotRequest) store.Slot {
		t.Helper()
		s, err := e.st.TakeSlot(ctx, r)
		require.NoError(t, err)
		return s
	}
	require.True(t, take(idle).Granted, "nobody waits: the idle caller gets the slot")

	for _, lane := range []queue.Lane{queue.Bulk, queue.Interactive} {
		time.Sleep(3 * interval) // the previous grant's spacing and marks lapse
		require.True(t, take(idle).Granted, lane)
		// A label caller tries (it may be granted or not; either way it
		// is waiting for slots now).
		take(store.SlotRequest{Lane: lane, Interval: interval})
		s := take(idle)
		require.False(t, s.Granted, lane)
		require.Equal(t, store.BlockedLabels, s.Blocked, lane)
		require.Positive(t, s.Wait, lane)
		// Once label callers stop trying, the mark lapses.
		time.Sleep(2*interval + 100*time.Millisecond)
		require.True(t, take(idle).Granted, lane)
	}
}

// An account's idle caller (its tracking polls) holds back while the
// account has jobs held for the release scheduler: the scheduler takes
// their slots from the account's budget without marking them as waiting,
// so an idle grant would take the slot a held label is released with.
// Another account's held jobs do not hold it back.
func TestTakeSlot_IdleOfAnAccountYieldsToItsHeldJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	storeOf := func(a string) *store.Store {
		qa, err := e.q.ForAccount(a)
		require.NoError(t, err)
		return queuetest.Store(t, qa)
	}
	a, b := storeOf("brand-a"), storeOf("brand-b")
	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Hour, "brand-b": time.Hour}))
	require.NoError(t, e.st.Hold(ctx, "brand-a", store.Bulk, store.HeldTaskID("brand-a", "a-1")))
	idle := store.SlotRequest{Idle: true, Interval: time.Hour}

	s, err := a.TakeSlot(ctx, idle)
	require.NoError(t, err)
	require.False(t, s.Granted, "brand-a has a job held: its idle caller waits")
	require.Equal(t, store.BlockedLabels, s.Blocked)
	require.Positive(t, s.Wait)

	s, err = b.TakeSlot(ctx, idle)
	require.NoError(t, err)
	require.True(t, s.Granted, "brand-b has nothing held: brand-a's held job is not its concern")

	n, _, err := e.st.Release(ctx, 100, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the held job's slot was still free for its release")
	require.Equal(t, []string{"brand-a/a-1"}, e.pending(t, e.st.AccountQueue("brand-a", store.Bulk)))

	s, err = a.TakeSlot(ctx, idle)
	require.NoError(t, err)
	require.False(t, s.Granted)
	require.Equal(t, store.BlockedBudget, s.Blocked, "nothing held now; the slot went to the release")
}
