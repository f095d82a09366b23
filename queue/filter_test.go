package queue_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

// TestDeadLetters_Filtered_PagesCountsAndKeysAgree: a key-prefix filter
// over more dead letters than one scan batch finds every match, page by
// page, and CountMatching, KeysMatching and EachMatching agree with the
// pages.
func TestDeadLetters_Filtered_PagesCountsAndKeysAgree(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	for i := range 1100 {
		key := fmt.Sprintf("k-%04d", i)
		if i%250 == 3 {
			key = fmt.Sprintf("x-%04d", i)
			want = append(want, key)
		}
		deadLetter(t, e, key, "", queue.ReasonAuth)
	}
	dl := e.q.DeadLetters()
	o := queue.ListOptions{KeyPrefix: "x-", Limit: 2}
	var got []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := dl.List(ctx, o)
		require.NoError(t, err)
		for _, d := range page {
			got = append(got, d.IdempotencyKey)
		}
		if next == "" {
			break
		}
		o.Cursor = next
	}
	require.Equal(t, want, got)
	n, err := dl.CountMatching(ctx, queue.ListOptions{KeyPrefix: "x-", Cursor: "ignored"})
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), n)
	keys, err := dl.KeysMatching(ctx, queue.ListOptions{KeyPrefix: "x-"})
	require.NoError(t, err)
	require.Equal(t, want, keys)
	var each []string
	require.NoError(t, dl.EachMatching(ctx, queue.ListOptions{KeyPrefix: "x-"}, func(d *queue.DeadLetter) error {
		each = append(each, d.IdempotencyKey)
		return nil
	}))
	require.Equal(t, want, each)

	for _, c := range []struct {
		o    queue.ListOptions
		want int64
	}{
		{queue.ListOptions{}, 1100},
		{queue.ListOptions{Reason: queue.ReasonAuth}, 1100},
		{queue.ListOptions{Reason: queue.ReasonInvalid}, 0},
		{queue.ListOptions{Queue: e.q.Name(queue.Interactive)}, 1100},
		{queue.ListOptions{Queue: e.q.Name(queue.Bulk)}, 0},
		{queue.ListOptions{KeyPrefix: "k-10"}, 99}, // k-1000…k-1099 but x-1003
	} {
		n, err := dl.CountMatching(ctx, c.o)
		require.NoError(t, err)
		require.Equal(t, c.want, n, "%+v", c.o)
		keys, err := dl.KeysMatching(ctx, c.o)
		require.NoError(t, err)
		require.Len(t, keys, int(c.want), "%+v", c.o)
	}

	// time bounds: Since inclusive, Until exclusive
	first, err := dl.Get(ctx, "k-0000")
	require.NoError(t, err)
	last, err := dl.Get(ctx, "k-1099")
	require.NoError(t, err)
	n, err = dl.CountMatching(ctx, queue.ListOptions{Since: last.FailedAt})
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, int64(1))
	n2, err := dl.CountMatching(ctx, queue.ListOptions{Until: last.FailedAt})
	require.NoError(t, err)
	require.Equal(t, int64(1100), n+n2, "since T and until T split the queue")
	n, err = dl.CountMatching(ctx, queue.ListOptions{Until: first.FailedAt})
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = dl.CountMatching(ctx, queue.ListOptions{Reason: "nope"})
	require.ErrorIs(t, err, queue.ErrBadReason)
}
