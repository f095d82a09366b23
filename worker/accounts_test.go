package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// accountQueue is account a's queue of h's namespace.
func (h *harness) accountQueue(t *testing.T, a string) *queue.Queue {
	t.Helper()
	qa, err := h.q.ForAccount(a)
	require.NoError(t, err)
	return qa
}

func (h *harness) enqueueAccount(t *testing.T, a string, lane queue.Lane, keys ...string) {
	t.Helper()
	qa := h.accountQueue(t, a)
	for _, k := range keys {
		res, err := qa.EnqueueLine(context.Background(), queuetest.RequestJSON(k, ""), lane)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, res.Outcome, k)
	}
}

func (h *harness) completed(t require.TestingT, a string, keys []string) int {
	sts, err := h.accountQueue(t.(*testing.T), a).States(context.Background(), keys)
	require.NoError(t, err)
	n := 0
	for _, s := range sts {
		if s == queue.StateCompleted {
			n++
		}
	}
	return n
}

func keysOf(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ks
}

// The same key under the namespace's own account and two others is three
// jobs and three labels, one per account, each made with its own token,
// each with its document URL; every status names its account.
func TestAccounts_SameKeyIsALabelPerAccountWithItsOwnToken(t *testing.T) {
	t.Parallel()
	h := start(t, opts{accounts: []acct{{name: "brand-a"}, {name: "brand-b"}}})
	h.enqueue(t, "k1", "")
	h.enqueueAccount(t, "brand-a", queue.Interactive, "k1")
	h.enqueueAccount(t, "brand-b", queue.Bulk, "k1")
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	for _, a := range []string{"brand-a", "brand-b"} {
		qa := h.accountQueue(t, a)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			sts, err := qa.Status(context.Background(), "k1")
			require.NoError(c, err)
			assert.Equal(c, queue.StateCompleted, sts[0].State)
			assert.Equal(c, a, sts[0].Account)
			if assert.NotNil(c, sts[0].Label) {
				assert.NotEmpty(c, sts[0].Label.URL, "the account's document URL is fetched with its token")
			}
		}, 10*time.Second, 20*time.Millisecond, a)
	}
	l := h.fake.Ledger()
	assert.Equal(t, 1, l.Accounts["account-1"].CreatedPerKey["k1"])
	assert.Equal(t, 1, l.Accounts["brand-a"].CreatedPerKey["k1"])
	assert.Equal(t, 1, l.Accounts["brand-b"].CreatedPerKey["k1"])
	assert.Equal(t, 1, l.Accounts["brand-b"].CreateCalls, "one call per label")
}

// One account's backlog does not delay another's labels: the other
// account's jobs are released on its own budget and find worker slots
// free, since a job waiting for its account's budget holds none. With both
// accounts at 5 calls a second and brand-a 40 jobs ahead, brand-b's 5
// labels are done while brand-a is still on its first quarter or so (at
// most 25 of 40, however slow the machine: the two are released at the
// same pace).
func TestAccounts_OneAccountsBacklogDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	h := start(t, opts{concurrency: 2, accounts: []acct{{name: "brand-a", rate: 5}, {name: "brand-b", rate: 5}}})
	backlog := keysOf("a", 40)
	h.enqueueAccount(t, "brand-a", queue.Bulk, backlog...)
	time.Sleep(300 * time.Millisecond) // brand-a's releases are under way
	mine := keysOf("b", 5)
	h.enqueueAccount(t, "brand-b", queue.Bulk, mine...)
	require.Eventually(t, func() bool { return h.completed(t, "brand-b", mine) == len(mine) }, 20*time.Second, 10*time.Millisecond)
	doneA := h.completed(t, "brand-a", backlog)
	assert.Less(t, doneA, 26, "brand-b waited behind brand-a's backlog")
	l := h.fake.Ledger()
	assert.Zero(t, l.Accounts["brand-a"].RateLimited+l.Accounts["brand-b"].RateLimited)
}

// Interactive first within an account: an order system's label of an
// account with a bulk backlog is made within a slot or two of its
// account's budget, not after the backlog.
func TestAccounts_InteractiveFirstWithinAnAccount(t *testing.T) {
	t.Parallel()
	h := start(t, opts{accounts: []acct{{name: "brand-a", rate: 5}}})
	backlog := keysOf("bulk", 30)
	h.enqueueAccount(t, "brand-a", queue.Bulk, backlog...)
	time.Sleep(300 * time.Millisecond)
	h.enqueueAccount(t, "brand-a", queue.Interactive, "order-1")
	require.Eventually(t, func() bool { return h.completed(t, "brand-a", []string{"order-1"}) == 1 }, 20*time.Second, 10*time.Millisecond)
	assert.Less(t, h.completed(t, "brand-a", backlog), 10, "the interactive label waited behind the bulk backlog")
}

// An account removed from the set keeps its jobs: held, they wait (no
// call, no dead letter) until it is configured again, and then run. A
// refused token dead-letters its own account's jobs with auth, nobody
// else's.
func TestAccounts_RemovedAccountsJobsWaitAndARefusedTokenIsItsOwn(t *testing.T) {
	t.Parallel()
	h := start(t, opts{accounts: []acct{{name: "brand-a"}, {name: "brand-b"}}})
	ctx := context.Background()
	client := func(a string) worker.LabelAPI {
		c, err := flexapi.NewClient(h.fake.URL(), accountToken(a), flexapi.WithTimeout(2*time.Second))
		require.NoError(t, err)
		return c
	}
	b := client("brand-b")
	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{{Name: "brand-b", API: b, Rate: 1000}}))
	h.enqueueAccount(t, "brand-a", queue.Interactive, "wait-1")
	h.enqueueAccount(t, "brand-b", queue.Interactive, "b-1")
	require.Eventually(t, func() bool { return h.completed(t, "brand-b", []string{"b-1"}) == 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	sts, err := h.accountQueue(t, "brand-a").Status(ctx, "wait-1")
	require.NoError(t, err)
	assert.Equal(t, queue.StatePending, sts[0].State, "held while its account is away")
	assert.Zero(t, h.fake.Ledger().Accounts["brand-a"].Calls)

	h.fake.Revoke(accountToken("brand-a"))
	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{{Name: "brand-a", API: client("brand-a"), Rate: 1000}, {Name: "brand-b", API: b, Rate: 1000}}))
	h.enqueueAccount(t, "brand-b", queue.Interactive, "b-2")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		sts, err := h.accountQueue(t, "brand-a").Status(ctx, "wait-1")
		require.NoError(c, err)
		assert.Equal(c, queue.StateDead, sts[0].State)
		if assert.NotNil(c, sts[0].DeadLetter) {
			assert.Equal(c, queue.ReasonAuth, sts[0].DeadLetter.Reason)
		}
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return h.completed(t, "brand-b", []string{"b-2"}) == 1 }, 10*time.Second, 10*time.Millisecond)
	dls, _, err := h.q.DeadLetters().List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, dls, "the namespace's own account has no dead letter")
}

// The namespace's own account is set like any other (an accounts file may
// add it, rotate its token, change its rateLimit or remove it without a
// restart): not configured, producers must name an account; configured
// again with a new token and budget, its labels are made with that token
// (the old one revoked) and its budget is the fleet's new one.
func TestAccounts_DefaultAccountSetWithoutARestart(t *testing.T) {
	t.Parallel()
	h := start(t, opts{accounts: []acct{{name: "brand-a"}}})
	ctx := context.Background()
	a, err := flexapi.NewClient(h.fake.URL(), accountToken("brand-a"), flexapi.WithTimeout(2*time.Second))
	require.NoError(t, err)
	brandA := worker.Account{Name: "brand-a", API: a, Rate: 1000}
	require.NoError(t, h.q.CheckAccount(ctx), "run at start (Config.API)")

	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{{Name: queue.DefaultAccount}, brandA}))
	err = h.q.CheckAccount(ctx)
	require.ErrorIs(t, err, queue.ErrUnknownAccount, "the default account removed")
	assert.Contains(t, err.Error(), "name the account")
	h.enqueueAccount(t, "brand-a", queue.Interactive, "a-1")
	require.Eventually(t, func() bool { return h.completed(t, "brand-a", []string{"a-1"}) == 1 }, 10*time.Second, 10*time.Millisecond, "the other accounts go on")

	const rotated = "tok-own-rotated-SECRET-5f1e"
	h.fake.AddToken(rotated, "account-1")
	own, err := flexapi.NewClient(h.fake.URL(), rotated, flexapi.WithTimeout(2*time.Second))
	require.NoError(t, err)
	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{{Name: queue.DefaultAccount, API: own, Rate: 250}, brandA}))
	h.fake.Revoke(token)
	require.NoError(t, h.q.CheckAccount(ctx), "the default account back")
	iv, err := h.rdb.HGet(ctx, "fl:"+h.ns+":acct:iv", queue.DefaultAccount).Int64()
	require.NoError(t, err)
	assert.EqualValues(t, 4000, iv, "its budget the new rateLimit's: 250/s, 4,000 µs apart")
	h.enqueue(t, "own-1", "")
	st := h.wait(t, "own-1", queue.StateCompleted, 10*time.Second)
	assert.Equal(t, queue.DefaultAccount, st.Account)
	require.Eventually(t, func() bool {
		s, err := h.q.Status(ctx, "own-1")
		return err == nil && s[0].Label != nil && s[0].Label.URL != ""
	}, 10*time.Second, 20*time.Millisecond, "its document URL fetched with the new token too")
}

// A call the worker does not make itself (the command's token check)
// takes a slot of its account's budget, counted in the account's window
// as a label's call is; an account the worker does not run has none.
func TestAccounts_TakeSlotForACallOfTheCommand(t *testing.T) {
	t.Parallel()
	h := start(t, opts{accounts: []acct{{name: "brand-a", rate: 2}}})
	ctx := context.Background()
	require.NoError(t, h.w.TakeSlot(ctx, "brand-a"))
	calls, err := h.rdb.LLen(ctx, "fl:"+h.ns+"@brand-a:budget:w").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, calls, "counted in brand-a's window of calls")
	start := time.Now()
	require.NoError(t, h.w.TakeSlot(ctx, "brand-a"))
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "the next slot of 2/s")
	require.NoError(t, h.w.TakeSlot(ctx, queue.DefaultAccount))
	err = h.w.TakeSlot(ctx, "brand-z")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "brand-z")
}

// The namespace's own account's lanes look for work at TaskCheckInterval
// when the worker runs that account from its start, through Config.API or
// an account named default; without it, once a second.
func TestLanes_OwnAccountsLanesPollSlowlyOnlyWithoutIt(t *testing.T) {
	t.Parallel()
	api := worker.LabelAPI(nil)
	assert.False(t, worker.OwnAtStart(worker.Config{Accounts: []worker.Account{{Name: "brand-a"}}}))
	assert.False(t, worker.OwnAtStart(worker.Config{Accounts: []worker.Account{{Name: queue.DefaultAccount, API: api}}}))
	c, err := flexapi.NewClient("http://127.0.0.1:1", "tok-x-SECRET-0000")
	require.NoError(t, err)
	assert.True(t, worker.OwnAtStart(worker.Config{Accounts: []worker.Account{{Name: queue.DefaultAccount, API: c}}}))
	assert.True(t, worker.OwnAtStart(worker.Config{API: c, Accounts: []worker.Account{}}))
}
