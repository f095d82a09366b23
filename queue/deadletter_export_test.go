package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
)

// exportAll runs Export and returns the lines' keys and its summary.
func exportAll(t *testing.T, e *env, reason queue.Reason, newKeys bool) ([]string, queue.ExportSummary, error) {
	t.Helper()
	var keys []string
	sum, err := e.q.DeadLetters().Export(context.Background(), reason, newKeys, func(line []byte) error {
		require.NotContains(t, string(line), "\n", "a line is one line, without its newline")
		var l struct {
			Key string `json:"idempotencyKey"`
		}
		require.NoError(t, json.Unmarshal(line, &l), "%s", line)
		keys = append(keys, l.Key)
		return nil
	})
	return keys, sum, err
}

func TestExport_PlainAndNewKeys_LinesAndSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "cr-a", flexapitest.RejectProductCode, queue.ReasonCourierRejected)
	deadLetter(t, e, "cr-b", flexapitest.RejectProductCode, queue.ReasonCourierRejected)
	deadLetter(t, e, "au-a", "", queue.ReasonAuth)

	keys, sum, err := exportAll(t, e, "", false)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"cr-a", "cr-b", "au-a"}, keys)
	require.Equal(t, queue.ExportSummary{Exported: 3}, sum)
	keys, sum, err = exportAll(t, e, queue.ReasonAuth, false)
	require.NoError(t, err)
	require.Equal(t, []string{"au-a"}, keys)
	require.Equal(t, queue.ExportSummary{Exported: 1}, sum)

	// New keys only for courier rejections, refused before anything is read.
	for _, r := range []queue.Reason{"", queue.ReasonAuth} {
		_, sum, err = exportAll(t, e, r, true)
		require.ErrorIs(t, err, queue.ErrNewKeyReason, "reason %q", r)
		require.ErrorIs(t, queue.CheckExport(r, true), queue.ErrNewKeyReason)
		require.Zero(t, sum)
	}
	require.NoError(t, queue.CheckExport(queue.ReasonCourierRejected, true))
	require.NoError(t, queue.CheckExport("", false))

	keys, sum, err = exportAll(t, e, queue.ReasonCourierRejected, true)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"cr-a-r1", "cr-b-r1"}, keys)
	require.Equal(t, queue.ExportSummary{Exported: 2}, sum)

	// One new key enqueued: its dead letter is left out of the next export.
	nk, err := e.q.DeadLetters().NewKeyLine(ctx, "cr-a")
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, enqueue(t, e, nk.Line, queue.Interactive).Outcome)
	keys, sum, err = exportAll(t, e, queue.ReasonCourierRejected, true)
	require.NoError(t, err)
	require.Equal(t, []string{"cr-b-r1"}, keys)
	require.Equal(t, queue.ExportSummary{Exported: 1, AlreadyEnqueued: 1}, sum)
}

func TestExport_GoneMeanwhileAndFnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "g-1", flexapitest.RejectProductCode, queue.ReasonCourierRejected)
	deadLetter(t, e, "g-2", flexapitest.RejectProductCode, queue.ReasonCourierRejected)
	deadLetter(t, e, "g-3", flexapitest.RejectProductCode, queue.ReasonCourierRejected)

	// A dead letter discarded after the listing, before its turn, is Gone.
	first := true
	sum, err := e.q.DeadLetters().Export(ctx, queue.ReasonCourierRejected, true, func([]byte) error {
		if first {
			first = false
			res, err := e.q.DeadLetters().Discard(ctx, "g-3")
			require.NoError(t, err)
			require.True(t, res[0].Done)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, queue.ExportSummary{Exported: 2, Gone: 1}, sum)

	// fn's error stops the export, with the summary of the lines before it.
	stop := errors.New("client went away")
	calls := 0
	sum, err = e.q.DeadLetters().Export(ctx, "", false, func([]byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, calls)
	require.Equal(t, queue.ExportSummary{Exported: 1}, sum)
}
