package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func sampleLine(t *testing.T, key string) []byte {
	t.Helper()
	return queuetest.RequestJSON(key, "")
}

func redisZ(member string) redis.Z { return redis.Z{Member: member} }

// The same key under two accounts is two jobs: two records, two tasks, the
// default account's pending as always and the other's held for release
// under its own task id; each outcome is the account's own.
func TestAccounts_SameKeyIsTwoJobsAndAnotherAccountsJobIsHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	qa, err := e.q.ForAccount("brand-a")
	require.NoError(t, err)
	assert.Equal(t, "brand-a", qa.Account())
	assert.Equal(t, e.ns+"@", qa.Name(queue.Interactive))
	assert.Equal(t, e.ns+"@-bulk", qa.Name(queue.Bulk))

	line := sampleLine(t, "same-key")
	rd := enqueue(t, e, line, store.Interactive)
	ra, err := qa.EnqueueLine(ctx, line, store.Interactive)
	require.NoError(t, err)
	assert.Equal(t, queue.Enqueued, rd.Outcome)
	assert.Equal(t, queue.DefaultAccount, rd.Account)
	assert.Equal(t, queue.Enqueued, ra.Outcome, "another account's key is its own")
	assert.Equal(t, "brand-a", ra.Account)
	again, err := qa.EnqueueLine(ctx, line, store.Interactive)
	require.NoError(t, err)
	assert.Equal(t, queue.Duplicate, again.Outcome)

	assert.Equal(t, []string{"same-key"}, e.pending(t, e.ns))
	assert.Empty(t, e.pending(t, e.ns+"@"), "held, not pending")
	held, err := e.rdb.LRange(ctx, "fl:"+e.ns+"@brand-a:held:i", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"brand-a/same-key"}, held)
	ti, err := queuetest.Task(e.rdb, e.ns+"@", "brand-a/same-key")
	require.NoError(t, err)
	assert.Equal(t, "brand-a/same-key", ti.ID)

	sts, err := qa.Status(ctx, "same-key", "other")
	require.NoError(t, err)
	assert.Equal(t, queue.StatePending, sts[0].State)
	assert.Equal(t, "brand-a", sts[0].Account)
	assert.Equal(t, queue.StateUnknown, sts[1].State)
	assert.Equal(t, "brand-a", sts[1].Account)

	// Released with its slot, the job's attempt is counted without a
	// second slot.
	sa := queuetest.Store(t, qa)
	require.NoError(t, sa.SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Hour}))
	n, _, err := sa.Release(ctx, 10, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"brand-a/same-key"}, e.pending(t, e.ns+"@"))
	id, key := store.SplitTaskID(e.ns+"@", "brand-a/same-key")
	assert.Equal(t, "brand-a", id)
	assert.Equal(t, "same-key", key)
	job := &store.Job{Key: key, Queue: e.ns + "@", Payload: line}
	slot, err := sa.TakeSlot(ctx, store.SlotRequest{Lane: store.Interactive, Interval: time.Hour, Job: job})
	require.NoError(t, err)
	assert.True(t, slot.Granted, "the released job holds its slot already")
	assert.Equal(t, 1, slot.Attempt)
	slot, err = sa.TakeSlot(ctx, store.SlotRequest{Lane: store.Interactive, Interval: time.Hour, Job: job})
	require.NoError(t, err)
	assert.False(t, slot.Granted, "a second try (a retry) takes the account's budget, spent for an hour")
	assert.Equal(t, store.BlockedBudget, slot.Blocked)
}

// A dead letter of another account is its own: redriven, it is held again
// for its account's release; discarded, its task (by its own id) is gone.
func TestAccounts_DeadLettersRedriveHeldAndDiscardTheirOwnTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	qa, err := e.q.ForAccount("brand-b")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa)
	for _, k := range []string{"d1", "d2"} {
		r, err := qa.EnqueueLine(ctx, sampleLine(t, k), store.Bulk)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, r.Outcome)
	}
	// As a worker would: release both, and dead-letter them.
	require.NoError(t, sa.SetAccountIntervals(ctx, map[string]time.Duration{"brand-b": time.Microsecond}))
	for range 2 {
		time.Sleep(time.Millisecond)
		_, _, err := sa.Release(ctx, 10, 0)
		require.NoError(t, err)
	}
	assert.ElementsMatch(t, []string{"brand-b/d1", "brand-b/d2"}, e.pending(t, e.ns+"@-bulk"))
	for _, k := range []string{"d1", "d2"} {
		queuetest.Dequeue(t, e.rdb, e.ns+"@-bulk", "brand-b/"+k)
		j := &store.Job{Key: k, Queue: e.ns + "@-bulk", Payload: sampleLine(t, k)}
		require.NoError(t, sa.DeadLetter(ctx, j, store.Failure{Reason: store.ReasonAuth, HTTPStatus: 401, Message: "revoked", Attempts: 1}))
		// asynq archives what the handler dead-letters (SkipRetry)
		require.NoError(t, e.rdb.ZAdd(ctx, "asynq:{"+e.ns+"@-bulk}:archived", redisZ("brand-b/"+k)).Err())
	}
	dls, _, err := qa.DeadLetters().List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, dls, 2)
	own, _, err := e.q.DeadLetters().List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, own, "another account's dead letters are not the default account's")

	res, err := qa.DeadLetters().Redrive(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, queue.OpRedriven, res[0].Code)
	held, err := e.rdb.LRange(ctx, "fl:"+e.ns+"@brand-b:held:b", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"brand-b/d1"}, held, "a redriven job waits for its account's budget")
	archived, err := e.rdb.ZRange(ctx, "asynq:{"+e.ns+"@-bulk}:archived", 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"brand-b/d2"}, archived)

	res, err = qa.DeadLetters().Discard(ctx, "d2")
	require.NoError(t, err)
	assert.Equal(t, queue.OpDiscarded, res[0].Code)
	n, err := e.rdb.Exists(ctx, "asynq:{"+e.ns+"@-bulk}:t:brand-b/d2").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the discarded job's task is gone")
	archived, err = e.rdb.ZRange(ctx, "asynq:{"+e.ns+"@-bulk}:archived", 0, -1).Result()
	require.NoError(t, err)
	assert.Empty(t, archived)
}

func TestAccounts_NamesAreChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, bad := range []string{"Brand", "a/b", "a:b", "a b", "toolong-toolong-toolong-toolong-x", "ü"} {
		_, err := e.q.ForAccount(bad)
		assert.ErrorContains(t, err, "1 to 32 of a-z, 0-9 and -", bad)
	}
	_, err := queue.New(e.rdb, queue.Options{Namespace: "a@b"})
	assert.ErrorContains(t, err, "@")
	for _, ok := range []string{"a", "brand-a", "0-9", "abcdefghijabcdefghijabcdefghij12"} {
		assert.True(t, queue.ValidAccountName(ok), ok)
	}
}

// A completed label of another account shows its account in its status
// JSON (the contract of status --json and GET /v1/labels/{key}).
func TestAccounts_StatusJSONNamesTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	qa, err := e.q.ForAccount("brand-c")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa)
	_, err = qa.EnqueueLine(ctx, sampleLine(t, "c1"), store.Interactive)
	require.NoError(t, err)
	j := &store.Job{Key: "c1", Queue: e.ns + "@", Payload: sampleLine(t, "c1")}
	require.NoError(t, sa.Complete(ctx, j, &flexapi.Label{ID: "lbl_1", Status: "Created"}))
	sts, err := qa.Status(ctx, "c1")
	require.NoError(t, err)
	b, err := json.Marshal(sts[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"idempotencyKey":"c1","account":"brand-c","state":"completed"`)
	other, err := e.q.Status(ctx, "c1")
	require.NoError(t, err)
	assert.Equal(t, queue.StateUnknown, other[0].State, "the default account has no key c1")
}

// Producers learn which accounts the fleet runs from the budgets its
// workers record: another account only once a worker runs it, the
// namespace's own unless the workers run accounts without it.
func TestAccounts_CheckAccountFollowsTheWorkersBudgets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	qa, err := e.q.ForAccount("brand-a")
	require.NoError(t, err)
	require.NoError(t, e.q.CheckAccount(ctx), "a single-account setup runs the default account")
	err = qa.CheckAccount(ctx)
	require.ErrorIs(t, err, queue.ErrUnknownAccount)
	assert.Contains(t, err.Error(), `"brand-a"`)

	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Second}))
	require.NoError(t, qa.CheckAccount(ctx))
	err = e.q.CheckAccount(ctx)
	require.ErrorIs(t, err, queue.ErrUnknownAccount, "accounts without a default one")
	assert.Contains(t, err.Error(), "name the account")

	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{store.DefaultAccount: time.Second}))
	require.NoError(t, e.q.CheckAccount(ctx))
	require.NoError(t, e.st.DropAccountIntervals(ctx, []string{"brand-a"}))
	require.ErrorIs(t, qa.CheckAccount(ctx), queue.ErrUnknownAccount, "removed from the fleet")
}

// Another account's calls are kept to its budget rounded up in any window
// of that many intervals by Redis's clock: a released job that would be the
// third call in a second at 2 a second waits until the first leaves the
// window — not until the next second of the clock, which a late handler
// could reach just after two calls at its end and bunch three calls into
// one second of the API's count.
func TestAccounts_CallsWithinTheBudgetInAnyWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	qa, err := e.q.ForAccount("brand-w")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa)
	keys := []string{"w1", "w2", "w3"}
	for _, k := range keys {
		_, err := qa.EnqueueLine(ctx, sampleLine(t, k), store.Bulk)
		require.NoError(t, err)
	}
	require.NoError(t, sa.SetAccountIntervals(ctx, map[string]time.Duration{"brand-w": time.Microsecond}))
	for range keys {
		time.Sleep(time.Millisecond)
		_, _, err := sa.Release(ctx, 10, 0)
		require.NoError(t, err)
	}
	require.Len(t, e.pending(t, e.ns+"@-bulk"), 3, "all three released, each with its slot")
	// Start late in a second of the clock, so that half-way through the
	// window is the next second, when a count per second would have room.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 700*time.Millisecond)))
	start := time.Now()
	var got []bool
	var wait time.Duration
	for _, k := range keys {
		j := &store.Job{Key: k, Queue: e.ns + "@-bulk", Payload: sampleLine(t, k)}
		s, err := sa.TakeSlot(ctx, store.SlotRequest{Lane: store.Bulk, Interval: 500 * time.Millisecond, Job: j})
		require.NoError(t, err)
		got = append(got, s.Granted)
		if !s.Granted {
			wait = s.Wait
			assert.Equal(t, store.BlockedBudget, s.Blocked)
		}
	}
	assert.Equal(t, []bool{true, true, false}, got, "2 calls a second at 2/s")
	assert.Greater(t, wait, 900*time.Millisecond-time.Since(start), "until the first call leaves the window")
	assert.LessOrEqual(t, wait, time.Second)
	j3 := &store.Job{Key: "w3", Queue: e.ns + "@-bulk", Payload: sampleLine(t, "w3")}
	// Half-way, in the next second of the clock, the window is still full.
	time.Sleep(wait / 2)
	s, err := sa.TakeSlot(ctx, store.SlotRequest{Lane: store.Bulk, Interval: 500 * time.Millisecond, Job: j3})
	require.NoError(t, err)
	require.False(t, s.Granted, "two calls within the last second")
	time.Sleep(s.Wait)
	s, err = sa.TakeSlot(ctx, store.SlotRequest{Lane: store.Bulk, Interval: 500 * time.Millisecond, Job: j3})
	require.NoError(t, err)
	assert.True(t, s.Granted, "the first call has left the window")
	assert.Equal(t, 1, s.Attempt, "the attempt counted once, when granted")
}
