package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
)

// A job retried once (500), dead-lettered (the courier's failed label),
// redriven and dead again (the API replays the failure) keeps its first
// failure time, counts every attempt, and lists all three in its history.
func TestWorker_RedrivenJobDeadAgain_KeepsItsFailureHistory(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	ctx := context.Background()
	h.fake.FailFirst(1)
	h.enqueue(t, "hist", flexapitest.RejectProductCode)
	h.wait(t, "hist", queue.StateDead, 10*time.Second)
	first, err := h.q.DeadLetters().Get(ctx, "hist")
	require.NoError(t, err)
	require.Equal(t, 2, first.Attempts)
	require.Len(t, first.History, 2)
	require.Equal(t, 500, first.History[0].HTTPStatus)
	require.Contains(t, first.History[0].Message, "500")
	require.Equal(t, 502, first.History[1].HTTPStatus)
	require.Equal(t, first.FirstFailedAt, first.History[0].At)

	res, err := h.q.DeadLetters().Redrive(ctx, "hist")
	require.NoError(t, err)
	require.True(t, res[0].Done, res[0].Error)
	require.Eventually(t, func() bool { return h.fake.Ledger().CallsPerKey["hist"] == 3 }, 10*time.Second, 20*time.Millisecond)
	var again *queue.DeadLetter
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		again, err = h.q.DeadLetters().Get(ctx, "hist")
		if assert.NoError(c, err) && assert.NotNil(c, again) {
			assert.Equal(c, 3, again.Attempts)
		}
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, first.FirstFailedAt, again.FirstFailedAt)
	require.Len(t, again.History, 3)
	require.Equal(t, []int{1, 2, 3}, []int{again.History[0].Attempt, again.History[1].Attempt, again.History[2].Attempt})
	require.Equal(t, 200, again.History[2].HTTPStatus, "the replayed failed label")
}
