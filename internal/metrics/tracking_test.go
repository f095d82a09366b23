package metrics_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

var (
	_ worker.TrackingObserver = (*metrics.Recorder)(nil)
	_ worker.LaneObserver     = (*metrics.Recorder)(nil)
)

// Followed shipments by account and tag come from the counts the tracking
// scripts keep (fl:<ns>:trk:tags, fl:<ns>@<account>:trk:tags for another
// account of the fleet); polls and their lateness from the worker.
func TestMetrics_TrackingFollowedPollsAndLateness(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(t, err)
	reg, rec := metrics.Registry(q, slog.New(slog.DiscardHandler))
	scrape := func() string { return scrapeOf(t, reg) }
	body := scrape()
	require.Contains(t, body, `flexlabel_tracking_followed{account="default",tag="InTransit"} 0`)
	require.Contains(t, body, `flexlabel_tracking_polls_total{account="default",result="ok"} 0`)
	require.NotContains(t, body, `account="brand-a"`, "not an account of the fleet yet")

	ctx := context.Background()
	require.NoError(t, queuetest.Store(t, q).SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Hour}))
	require.NoError(t, rdb.HSet(ctx, "fl:"+ns+":trk:tags", "InTransit", 3, "none", 2, "Exception", 1).Err())
	require.NoError(t, rdb.HSet(ctx, "fl:"+ns+"@brand-a:trk:tags", "InTransit", 5).Err())
	rec.TrackingPoll(queue.DefaultAccount, worker.TrackingPollOK, 2*time.Second)
	rec.TrackingPoll(queue.DefaultAccount, worker.TrackingPollError, 0)
	rec.TrackingPoll("brand-a", worker.TrackingPollOK, time.Second)
	body = scrape()
	for _, want := range []string{
		`flexlabel_tracking_followed{account="default",tag="InTransit"} 3`,
		`flexlabel_tracking_followed{account="default",tag="none"} 2`,
		`flexlabel_tracking_followed{account="default",tag="Exception"} 1`,
		`flexlabel_tracking_followed{account="brand-a",tag="InTransit"} 5`,
		`flexlabel_tracking_followed{account="brand-a",tag="none"} 0`,
		`flexlabel_tracking_polls_total{account="default",result="ok"} 1`,
		`flexlabel_tracking_polls_total{account="default",result="error"} 1`,
		`flexlabel_tracking_polls_total{account="brand-a",result="ok"} 1`,
		`flexlabel_tracking_poll_lateness_seconds_count 3`,
		`flexlabel_tracking_poll_lateness_seconds_sum 3`,
	} {
		require.Contains(t, body, want)
	}
}

// The lanes' sizes come from the worker as they grow.
func TestMetrics_LaneSlots(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	reg, rec := metrics.Registry(q, slog.New(slog.DiscardHandler))
	rec.LaneSlots("interactive", 2)
	rec.LaneSlots("bulk", 10)
	rec.LaneSlots("bulk", 20)
	body := scrapeOf(t, reg)
	require.Contains(t, body, `flexlabel_worker_lane_slots{lane="interactive"} 2`)
	require.Contains(t, body, `flexlabel_worker_lane_slots{lane="bulk"} 20`)
}
