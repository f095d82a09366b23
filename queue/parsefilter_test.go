package queue_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

var testParams = queue.FilterParams{KeyPrefix: "prefix", Reason: "reason", Queue: "queue", Since: "since", Until: "until"}

func TestParseFilter_ReadsEveryFieldAndNamesEachBadParameter(t *testing.T) {
	t.Parallel()
	v := url.Values{"prefix": {"shop-a-"}, "reason": {"auth"}, "queue": {"bulk"}, "since": {"2026-01-31T14:00"}, "until": {"2026-02-01T00:00:00Z"}}
	f, err := queue.ParseFilter(testParams, v.Get)
	require.NoError(t, err)
	require.Equal(t, queue.Filter{
		KeyPrefix: "shop-a-", Reason: queue.ReasonAuth, Lane: "bulk",
		Since: time.Date(2026, 1, 31, 14, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
	}, f)
	require.False(t, f.Empty())

	f, err = queue.ParseFilter(testParams, url.Values{}.Get)
	require.NoError(t, err)
	require.True(t, f.Empty())

	bad := url.Values{"reason": {"Auth"}, "queue": {"fast"}, "since": {"yesterday"}, "until": {"soon"}}
	_, err = queue.ParseFilter(testParams, bad.Get)
	require.ErrorIs(t, err, queue.ErrBadReason)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 4, err.Error())
	for i, name := range []string{"reason: ", "queue: ", "since: ", "until: "} {
		require.True(t, strings.HasPrefix(lines[i], name), lines[i])
	}
	_, err = queue.ParseFilter(testParams, url.Values{"queue": {"fast"}}.Get)
	require.False(t, errors.Is(err, queue.ErrBadReason), "only a bad reason is ErrBadReason")
}

// TestDeadLetters_Options_LaneAndExportMatching: a lane filter selects its
// queue's dead letters, and ExportMatching exports what the filter selects.
func TestDeadLetters_Options_LaneAndExportMatching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "of-a1", "", queue.ReasonAuth)
	deadLetter(t, e, "of-b1", "", queue.ReasonAuth)
	deadLetter(t, e, "of-a2", "", queue.ReasonInvalid)
	dl := e.q.DeadLetters()
	n, err := dl.CountMatching(ctx, dl.Options(queue.Filter{Lane: "interactive"}))
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	n, err = dl.CountMatching(ctx, dl.Options(queue.Filter{Lane: "bulk"}))
	require.NoError(t, err)
	require.Zero(t, n)

	var keys []string
	sum, err := dl.ExportMatching(ctx, dl.Options(queue.Filter{KeyPrefix: "of-a"}), false, func(line []byte) error {
		keys = append(keys, string(line))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Exported)
	require.Contains(t, keys[0], `"idempotencyKey":"of-a1"`)
	require.Contains(t, keys[1], `"idempotencyKey":"of-a2"`)
	_, err = dl.ExportMatching(ctx, dl.Options(queue.Filter{KeyPrefix: "of-a"}), true, func([]byte) error { return nil })
	require.ErrorIs(t, err, queue.ErrNewKeyReason)
}
