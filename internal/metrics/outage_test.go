package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// scrape gathers reg and returns each flexlabel_jobs, flexlabel_dead_letters
// and flexlabel_redis_up sample, keyed by name and label values.
func scrape(t require.TestingT, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err, "a scrape during an outage is still a valid scrape")
	out := map[string]float64{}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "flexlabel_jobs", "flexlabel_dead_letters", "flexlabel_redis_up":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// count returns how many samples of the metric name s holds.
func count(s map[string]float64, name string) int {
	n := 0
	for k := range s {
		if k == name || len(k) > len(name) && k[:len(name)+1] == name+"," {
			n++
		}
	}
	return n
}

func TestQueueCollector_RedisOutage_GaugesAbsentAndRedisUpZero(t *testing.T) {
	t.Parallel()
	srv := queuetest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := redis.NewClient(srv.Options())
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	reg, _ := metrics.Registry(q, slog.New(slog.DiscardHandler))

	ctx := context.Background()
	_, err = q.EnqueueLine(ctx, queuetest.RequestJSON("o1", ""), queue.Bulk)
	require.NoError(t, err)
	j := &store.Job{Key: "o2", Queue: q.Name(queue.Interactive), Hash: "h", Payload: queuetest.RequestJSON("o2", "")}
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized"}))

	pending := "flexlabel_jobs,queue=" + q.Name(queue.Bulk) + ",state=pending"
	auth := "flexlabel_dead_letters,account=default,reason=auth"

	// Up: every gauge, with the values in Redis.
	s := scrape(t, reg)
	require.Equal(t, 1.0, s["flexlabel_redis_up"])
	require.Equal(t, 1.0, s[pending])
	require.Equal(t, 1.0, s[auth])
	require.Equal(t, 12, count(s, "flexlabel_jobs"), "6 states × 2 queues")
	require.Equal(t, len(queue.Reasons), count(s, "flexlabel_dead_letters"))

	// Down: redis_up 0, and no queue or dead-letter gauge at all (not 0).
	srv.Kill()
	s = scrape(t, reg)
	require.Equal(t, map[string]float64{"flexlabel_redis_up": 0}, s)

	// Over HTTP too: the scrape succeeds, without the gauges.
	hs := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(hs.Close)
	resp, err := hs.Client().Get(hs.URL)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), "flexlabel_redis_up 0")
	require.NotContains(t, string(b), "flexlabel_jobs{")
	require.NotContains(t, string(b), "flexlabel_dead_letters{")

	// Back: the real values again, with no restart of ours.
	srv.Restart()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s := scrape(c, reg)
		require.Equal(c, 1.0, s["flexlabel_redis_up"])
		require.Equal(c, 1.0, s[pending])
		require.Equal(c, 1.0, s[auth])
		require.Equal(c, 12, count(s, "flexlabel_jobs"))
	}, 10*time.Second, 20*time.Millisecond)
}
