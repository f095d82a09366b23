package worker_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// enqueueAccountTo enqueues account a's label to a sandbox postal code.
func (h *harness) enqueueAccountTo(t *testing.T, a, key, postal string, lane queue.Lane) {
	t.Helper()
	line := bytes.Replace(queuetest.RequestJSON(key, ""), []byte(`"postalCode":"08817"`), []byte(`"postalCode":"`+postal+`"`), 1)
	res, err := h.accountQueue(t, a).EnqueueLine(context.Background(), line, lane)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome, key)
}

// waitAccountTracking waits until account a's key has a tracking that
// satisfies ok, and returns its status.
func (h *harness) waitAccountTracking(t *testing.T, a, key string, within time.Duration, ok func(*queue.JobStatus) bool) queue.JobStatus {
	t.Helper()
	qa := h.accountQueue(t, a)
	var last queue.JobStatus
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := qa.Status(context.Background(), key)
		require.NoError(c, err)
		last = st[0]
		assert.True(c, last.Tracking != nil && ok(&last), "tracking of %s/%s: %+v", a, key, last.Tracking)
	}, within, 20*time.Millisecond)
	return last
}

// inSchedule reports whether key is in the poll schedule under prefix
// ("fl:<ns>:" or "fl:<ns>@<account>:").
func (h *harness) inSchedule(t *testing.T, prefix, key string) bool {
	t.Helper()
	err := h.rdb.ZScore(context.Background(), prefix+"trk:due", key).Err()
	if err == redis.Nil {
		return false
	}
	require.NoError(t, err)
	return true
}

func (h *harness) accountTrackingCalls(a string) int {
	return h.fake.Ledger().Accounts[a].TrackingCalls
}

// Every account's labels are followed (issue 17): an account's label is
// polled to Delivered with its own token, under its own keys, and another
// account's shipment is followed on its own at the same time; the same key
// of the namespace's own account is followed apart from both. No poll is
// made with another account's token (the fake answers those 403).
func TestAccounts_EachAccountsLabelsFollowedWithItsOwnToken(t *testing.T) {
	t.Parallel()
	h := start(t, opts{tracking: true, accounts: []acct{{name: "brand-a"}, {name: "brand-b"}}})
	h.enqueueAccountTo(t, "brand-a", "k1", "90001", queue.Interactive) // Delivered ~5 s on
	h.enqueueAccountTo(t, "brand-b", "k1", "90003", queue.Bulk)        // InTransit for ever
	h.enqueueTo(t, "k1", "90004")                                      // Cancelled

	a := h.waitAccountTracking(t, "brand-a", "k1", 30*time.Second, final(flexapi.TagDelivered))
	b := h.waitAccountTracking(t, "brand-b", "k1", 10*time.Second, followedAt(flexapi.TagInTransit))
	own := h.waitTracking(t, "k1", 10*time.Second, final(flexapi.TagCancelled))
	require.Equal(t, "brand-a", a.Account)
	require.Equal(t, "brand-b", b.Account)
	require.NotEqual(t, a.Label.ID, b.Label.ID)

	pa, pb := "fl:"+h.ns+"@brand-a:", "fl:"+h.ns+"@brand-b:"
	require.False(t, h.inSchedule(t, pa, "k1"), "Delivered: no longer followed")
	require.True(t, h.inSchedule(t, pb, "k1"), "brand-b's shipment is followed under its own keys")
	require.False(t, h.inSchedule(t, "fl:"+h.ns+":", "k1"), "the namespace's own k1 is Cancelled, and the others are not in its schedule")

	l := h.fake.Ledger()
	require.Positive(t, l.Accounts["brand-a"].TrackingCalls)
	require.Equal(t, l.TrackingCallsPerLabel[a.Label.ID], l.Accounts["brand-a"].TrackingCalls, "brand-a's polls are all of its label, on its token")
	require.Positive(t, l.Accounts["brand-b"].TrackingCalls)
	require.Equal(t, l.TrackingCallsPerLabel[b.Label.ID], l.Accounts["brand-b"].TrackingCalls)
	require.Equal(t, l.TrackingCallsPerLabel[own.Label.ID], l.Accounts["account-1"].TrackingCalls)
	require.Zero(t, l.StatusCounts[403], "no poll with another account's token")
}

// A removed account's tracker stops: SetAccounts returns after its checks
// in flight, and no poll of its labels follows; its shipment stays in its
// schedule, and is followed again once the account comes back. The other
// account's is followed throughout.
func TestAccounts_RemovedAccountsTrackerStops(t *testing.T) {
	t.Parallel()
	h := start(t, opts{tracking: true, accounts: []acct{{name: "brand-a"}, {name: "brand-b"}}})
	ctx := context.Background()
	h.enqueueAccountTo(t, "brand-a", "a-1", "90003", queue.Interactive) // InTransit for ever: polled every 25–50 ms
	h.enqueueAccountTo(t, "brand-b", "b-1", "90003", queue.Interactive)
	h.waitAccountTracking(t, "brand-a", "a-1", 10*time.Second, followedAt(flexapi.TagInTransit))
	h.waitAccountTracking(t, "brand-b", "b-1", 10*time.Second, followedAt(flexapi.TagInTransit))

	client := func(a string) worker.LabelAPI {
		c, err := flexapi.NewClient(h.fake.URL(), accountToken(a), flexapi.WithTimeout(2*time.Second))
		require.NoError(t, err)
		return c
	}
	b := worker.Account{Name: "brand-b", API: client("brand-b"), Rate: 1000}
	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{b}))
	stopped := h.accountTrackingCalls("brand-a")
	before := h.accountTrackingCalls("brand-b")
	// brand-b's shipment, polled every 25–50 ms, is polled again a few
	// times meanwhile; had brand-a's tracker not stopped, so would its.
	require.Eventually(t, func() bool { return h.accountTrackingCalls("brand-b") >= before+5 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, stopped, h.accountTrackingCalls("brand-a"), "a removed account's shipments are not polled")
	require.True(t, h.inSchedule(t, "fl:"+h.ns+"@brand-a:", "a-1"), "and stay in its schedule")

	require.NoError(t, h.w.SetAccounts(ctx, []worker.Account{{Name: "brand-a", API: client("brand-a"), Rate: 1000}, b}))
	require.Eventually(t, func() bool { return h.accountTrackingCalls("brand-a") > stopped }, 10*time.Second, 10*time.Millisecond,
		"back: its tracker starts again")
}

// An account's tracking polls take only the budget its labels leave over:
// while the account has jobs held for the release scheduler (a bulk run),
// its due polls wait, even though the scheduler marks no label as waiting
// (store's TakeSlot yields to the account's held jobs). With 5 shipments
// due every 25–50 ms and a budget of 5 calls a second, polls taking slots
// from the release scheduler would have taken about half of them.
func TestAccounts_TrackingPollsYieldToAnAccountsHeldLabels(t *testing.T) {
	t.Parallel()
	const rate = 5
	h := start(t, opts{tracking: true, concurrency: 2, accounts: []acct{{name: "brand-a", rate: rate}}})
	followed := keysOf("f", 3)
	for _, k := range followed {
		h.enqueueAccountTo(t, "brand-a", k, "90003", queue.Interactive)
	}
	for _, k := range followed {
		h.waitAccountTracking(t, "brand-a", k, 20*time.Second, followedAt(flexapi.TagInTransit))
	}
	// The shipments are due again all the time now: the tracker takes
	// every slot it may.
	backlog := keysOf("bulk", 15)
	held := "fl:" + h.ns + "@brand-a:held:b"
	ctx := context.Background()
	before := h.accountTrackingCalls("brand-a")
	h.enqueueAccount(t, "brand-a", queue.Bulk, backlog...)
	require.Eventually(t, func() bool {
		n, err := h.rdb.LLen(ctx, held).Result()
		require.NoError(t, err)
		return n == 0
	}, 30*time.Second, 5*time.Millisecond)
	during := h.accountTrackingCalls("brand-a") - before
	// At most the poll that had its slot as the run began, and one whose
	// slot came after the last release before this test looked.
	assert.LessOrEqual(t, during, 2, "tracking polls took slots while the account's labels were held")
	require.Eventually(t, func() bool { return h.completed(t, "brand-a", backlog) == len(backlog) }, 20*time.Second, 10*time.Millisecond)
	require.Zero(t, h.fake.Ledger().Accounts["brand-a"].RateLimited)
}
