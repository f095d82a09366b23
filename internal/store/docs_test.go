package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
)

// completedLabels records keys as created labels lbl-<key>, as the worker's
// handler does.
func completedLabels(t *testing.T, h *hookEnv, keys ...string) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, h.wst.Complete(context.Background(), h.job(t, k), created("lbl-"+k)))
	}
}

func pendingDocs(t *testing.T, h *hookEnv) int64 {
	t.Helper()
	n, err := h.wst.PendingDocuments(context.Background())
	require.NoError(t, err)
	return n
}

// The script that records a label completed makes its document pending,
// for any worker to claim; the script that stores the URL ends it.
func TestDocuments_CompletedLabelPendingUntilItsURLIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	completedLabels(t, h, "k1", "k2")
	require.EqualValues(t, 2, pendingDocs(t, h))

	// A full batch (2) is due at once, window or not.
	ok, _, err := h.wst.DocumentTurn(ctx, "w1", time.Hour, 2, 0, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	batch, err := h.wst.ClaimDocuments(ctx, "w1", 2, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []store.PendingDocument{{Key: "k1", LabelID: "lbl-k1"}, {Key: "k2", LabelID: "lbl-k2"}}, batch, "oldest first")
	require.EqualValues(t, 2, pendingDocs(t, h), "leased ids still count as pending")

	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://d/1", "k2": "https://d/2"}))
	require.Zero(t, pendingDocs(t, h))
	require.Zero(t, h.rdb.Exists(ctx, "fl:"+h.ns+":docs:pending", "fl:"+h.ns+":docs:lease", "fl:"+h.ns+":docs:tries").Val(), "nothing left behind")
}

// A batch is due when full or when its oldest has waited for the window;
// before that nobody gets the turn, and the answer says how long to wait.
func TestDocuments_TurnOnlyOnceABatchIsDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	ok, wait, err := h.wst.DocumentTurn(ctx, "w1", time.Hour, 100, 0, time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.Negative(t, wait, "nothing pending")

	completedLabels(t, h, "k1")
	ok, wait, err = h.wst.DocumentTurn(ctx, "w1", time.Hour, 100, 0, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "one label, and it has not waited for the window")
	require.Greater(t, wait, 59*time.Minute)

	// With labels at most one per 100 ms, the 99 missing take 9.9 s: the
	// batch cannot fill sooner, nor be due later than its window.
	ok, wait, err = h.wst.DocumentTurn(ctx, "w1", time.Hour, 100, 100*time.Millisecond, time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 9900*time.Millisecond, wait)
	ok, wait, err = h.wst.DocumentTurn(ctx, "w1", 2*time.Second, 100, 100*time.Millisecond, time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.InDelta(t, 2*time.Second, wait, float64(time.Second), "the window comes first")

	ok, _, err = h.wst.DocumentTurn(ctx, "w1", 0, 100, 0, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "its window has passed")
}

// One worker at a time has the turn (so the fleet takes one budget slot
// per batch); claiming ends it, so the next due batch is anyone's.
func TestDocuments_OneTurnAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	completedLabels(t, h, "k1", "k2", "k3")
	turn := func(token string) bool {
		ok, _, err := h.wst.DocumentTurn(ctx, token, 0, 2, 0, time.Minute)
		require.NoError(t, err)
		return ok
	}
	require.True(t, turn("w1"))
	require.False(t, turn("w2"), "w1 has the turn")
	batch, err := h.wst.ClaimDocuments(ctx, "w1", 2, time.Minute)
	require.NoError(t, err)
	require.Len(t, batch, 2)
	require.True(t, turn("w2"), "w1's claim ended its turn")
	require.NoError(t, h.wst.ReleaseDocumentTurn(ctx, "w1"))
	require.False(t, turn("w3"), "only the holder's token releases it")
	require.NoError(t, h.wst.ReleaseDocumentTurn(ctx, "w2"))
	require.True(t, turn("w3"))
	batch, err = h.wst.ClaimDocuments(ctx, "w3", 2, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []store.PendingDocument{{Key: "k3", LabelID: "lbl-k3"}}, batch, "leased ids are nobody else's")
}

// A worker that claims a batch and dies loses none of it: at the lease's
// end the ids are pending again, and another worker claims them.
func TestDocuments_ExpiredLeaseReturnsToPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	completedLabels(t, h, "k1")
	batch, err := h.wst.ClaimDocuments(ctx, "dead-worker", 10, time.Millisecond)
	require.NoError(t, err)
	require.Len(t, batch, 1)
	require.Eventually(t, func() bool {
		batch, err = h.wst.ClaimDocuments(ctx, "w2", 10, time.Minute)
		require.NoError(t, err)
		return len(batch) == 1
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, "lbl-k1", batch[0].LabelID)
}

// An id the API answers without a URL is tried again after a backoff, and
// given up (reported to the caller) at the last try, not looped on forever.
// A failed call retries without counting a try.
func TestDocuments_WithoutURLRetriedThenGivenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	completedLabels(t, h, "k1")
	r := store.DocumentRetry{Base: time.Millisecond, Cap: time.Millisecond, MaxTries: 2}
	claim := func() []store.PendingDocument {
		var batch []store.PendingDocument
		require.Eventually(t, func() bool {
			var err error
			batch, err = h.wst.ClaimDocuments(ctx, "w", 10, time.Minute)
			require.NoError(t, err)
			return len(batch) > 0
		}, 5*time.Second, 2*time.Millisecond)
		return batch
	}
	claim()
	gone, err := h.wst.RetryDocuments(ctx, []string{"k1"}, false, r)
	require.NoError(t, err)
	require.Empty(t, gone)
	claim()
	gone, err = h.wst.RetryDocuments(ctx, []string{"k1"}, true, r)
	require.NoError(t, err)
	require.Empty(t, gone, "first try without URL")
	gone, err = h.wst.RetryDocuments(ctx, []string{"k1"}, true, r)
	require.NoError(t, err)
	require.Empty(t, gone, "not leased: left alone")
	require.EqualValues(t, 1, pendingDocs(t, h))
	claim()
	gone, err = h.wst.RetryDocuments(ctx, []string{"k1"}, true, r)
	require.NoError(t, err)
	require.Equal(t, []string{"k1"}, gone, "second try without URL: given up")
	require.Zero(t, pendingDocs(t, h))
	require.Zero(t, h.rdb.Exists(ctx, "fl:"+h.ns+":docs:tries").Val())
}

// A pending id whose label has its URL by then (stored by another path) or
// whose record is gone is dropped at the claim, not fetched.
func TestDocuments_ClaimDropsStoredAndVanished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Hour)
	completedLabels(t, h, "k1", "k2", "k3")
	require.NoError(t, h.rdb.HSet(ctx, "fl:"+h.ns+":k:k1", "url", "https://d/1").Err())
	require.NoError(t, h.rdb.Del(ctx, "fl:"+h.ns+":k:k2").Err())
	batch, err := h.wst.ClaimDocuments(ctx, "w", 10, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []store.PendingDocument{{Key: "k3", LabelID: "lbl-k3"}}, batch)
	require.EqualValues(t, 1, pendingDocs(t, h), "k3, leased")
}
