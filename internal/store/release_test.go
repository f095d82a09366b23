package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func (e *env) pending(t *testing.T, queue string) []string {
	t.Helper()
	ids, err := e.rdb.LRange(context.Background(), "asynq:{"+queue+"}:pending", 0, -1).Result()
	require.NoError(t, err)
	return ids
}

// One release per account per slot: an account's interactive jobs before
// its bulk ones, each onto its lane's queue, the default account's under
// today's names and another's in the accounts' queues.
func TestRelease_OnePerAccountPerSlotInteractiveFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Hour, store.DefaultAccount: time.Hour}))
	for _, id := range []string{"a-b1", "a-b2"} {
		require.NoError(t, e.st.Hold(ctx, "brand-a", store.Bulk, store.HeldTaskID("brand-a", id)))
	}
	require.NoError(t, e.st.Hold(ctx, "brand-a", store.Interactive, store.HeldTaskID("brand-a", "a-i1")))
	require.NoError(t, e.st.Hold(ctx, store.DefaultAccount, store.Bulk, store.HeldTaskID(store.DefaultAccount, "d-b1")))

	n, next, err := e.st.Release(ctx, 100, 0)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one job of each account")
	assert.InDelta(t, time.Hour.Seconds(), next.Seconds(), 5, "the next slot is an interval away")
	assert.Equal(t, []string{"brand-a/a-i1"}, e.pending(t, e.st.AccountQueue("brand-a", store.Interactive)), "interactive first")
	assert.Equal(t, []string{"d-b1"}, e.pending(t, e.st.AccountQueue(store.DefaultAccount, store.Bulk)))
	assert.Equal(t, e.ns+"-bulk", e.st.AccountQueue(store.DefaultAccount, store.Bulk), "today's queue for the default account")
	assert.Equal(t, e.ns+"@", e.st.AccountQueue("brand-a", store.Interactive))

	n, _, err = e.st.Release(ctx, 100, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "no account's slot is due")
	assert.Empty(t, e.pending(t, e.st.AccountQueue("brand-a", store.Bulk)))
}

// A paused account (a 429), an account with a retry waiting for its slot,
// and an account without a budget release nothing; the others go on.
func TestRelease_SkipsPausedWaitingAndUnconfiguredAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{"paused": time.Millisecond, "retrying": time.Millisecond, "ok": time.Millisecond}))
	for _, a := range []string{"paused", "retrying", "ok", "unknown"} {
		require.NoError(t, e.st.Hold(ctx, a, store.Bulk, store.HeldTaskID(a, "k")))
	}
	require.NoError(t, e.st.PauseAccount(ctx, "paused", time.Hour))
	require.NoError(t, e.rdb.Set(ctx, "fl:"+e.ns+"@retrying:bwait", "1", time.Hour).Err())

	n, _, err := e.st.Release(ctx, 100, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"ok/k"}, e.pending(t, e.ns+"@-bulk"))
	ready, err := e.rdb.ZRangeWithScores(ctx, "fl:"+e.ns+":acct:ready", 0, -1).Result()
	require.NoError(t, err)
	members := map[string]bool{}
	for _, z := range ready {
		members[z.Member.(string)] = true
	}
	assert.True(t, members["paused"] && members["retrying"] && members["unknown"], "held accounts stay ready: %v", ready)
}

// An account whose held jobs are all released leaves the ready set, and
// comes back with its next job; the job's record is marked released (its
// slot is taken), so the handler does not take another.
func TestRelease_EmptyAccountLeavesAndReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.st.SetAccountIntervals(ctx, map[string]time.Duration{store.DefaultAccount: time.Microsecond}))
	res := enqueue(t, e, queuetest.RequestJSON("rel-1", ""), store.Bulk)
	require.True(t, res.Outcome.Accepted())
	require.NoError(t, e.st.Hold(ctx, store.DefaultAccount, store.Bulk, "rel-1"))
	for {
		n, next, err := e.st.Release(ctx, 100, 0)
		require.NoError(t, err)
		if n == 0 && next < 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	rel, err := e.rdb.HGet(ctx, "fl:"+e.ns+":k:rel-1", "rel").Result()
	require.NoError(t, err)
	assert.Equal(t, "1", rel)
	n, err := e.rdb.ZCard(ctx, "fl:"+e.ns+":acct:ready").Result()
	require.NoError(t, err)
	assert.Zero(t, n)

	require.NoError(t, e.st.Hold(ctx, store.DefaultAccount, store.Interactive, "rel-2"))
	released, _, err := e.st.Release(ctx, 100, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, released)
	exists, err := e.rdb.Exists(ctx, "fl:"+e.ns+":k:rel-2").Result()
	require.NoError(t, err)
	assert.Zero(t, exists, "no record is made for a job without one")
}

// With a cap on the released jobs pending, Release releases only up to it,
// the most overdue accounts first, and nothing while the pending lists are
// full: released jobs are called about when they were released.
func TestRelease_CapOnPendingReleasesMostOverdueFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	accts := []string{"a-1", "a-2", "a-3", "a-4"}
	ivs := map[string]time.Duration{}
	for _, a := range accts {
		ivs[a] = time.Hour
	}
	require.NoError(t, e.st.SetAccountIntervals(ctx, ivs))
	for _, a := range accts {
		require.NoError(t, e.st.Hold(ctx, a, store.Bulk, store.HeldTaskID(a, "k")))
		time.Sleep(2 * time.Millisecond) // a-1 is the most overdue
	}
	n, next, err := e.st.Release(ctx, 100, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "up to the cap")
	assert.Equal(t, []string{"a-2/k", "a-1/k"}, e.pending(t, e.ns+"@-bulk"), "the most overdue first")
	n, next, err = e.st.Release(ctx, 100, 2)
	require.NoError(t, err)
	assert.Zero(t, n, "the pending lists are full")
	assert.Positive(t, next)
	queuetest.Dequeue(t, e.rdb, e.ns+"@-bulk", "a-1/k")
	n, _, err = e.st.Release(ctx, 100, 2)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "room for one")
	assert.Equal(t, []string{"a-3/k", "a-2/k"}, e.pending(t, e.ns+"@-bulk"))
}
