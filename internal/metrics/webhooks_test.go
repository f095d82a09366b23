package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

var _ hooks.Observer = (*metrics.Recorder)(nil)

// scrapeOf is one scrape of reg's /metrics.
func scrapeOf(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMetrics_WebhookDeliveriesAndBacklog(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(t, err)
	reg, rec := metrics.Registry(q, slog.New(slog.DiscardHandler))

	scrape := func() string { return scrapeOf(t, reg) }
	body := scrape()
	require.Contains(t, body, `flexlabel_webhook_backlog{queue="`+ns+`-webhooks"} 0`)
	require.Contains(t, body, `flexlabel_webhook_deliveries_total{result="failed"} 0`)

	cli := asynq.NewClientFromRedisClient(rdb)
	for _, id := range []string{"evt_a", "evt_b"} {
		_, err := cli.Enqueue(asynq.NewTask(hooks.TaskEvent, []byte(id)), asynq.Queue(hooks.QueueName(ns)), asynq.TaskID(id))
		require.NoError(t, err)
	}
	_, err = cli.Enqueue(asynq.NewTask(hooks.TaskEvent, []byte("evt_c")), asynq.Queue(hooks.QueueName(ns)), asynq.ProcessIn(time.Hour))
	require.NoError(t, err)
	// Events on the pending list, and one leased by a deliverer, are owed too.
	require.NoError(t, rdb.LPush(context.Background(), hooks.PendingKey(ns), "evt_d", "evt_e").Err())
	require.NoError(t, rdb.RPush(context.Background(), hooks.LeaseKey(ns, "7"), "evt_f").Err())
	require.NoError(t, rdb.ZAdd(context.Background(), hooks.InflightKey(ns), redis.Z{Score: 1, Member: "7"}).Err())
	rec.WebhookDelivery(hooks.ResultDelivered, 40*time.Millisecond)
	rec.WebhookDelivery(hooks.ResultRetrying, time.Second)
	rec.WebhookDelivery(hooks.ResultSkipped, 0)

	body = scrape()
	for _, want := range []string{
		`flexlabel_webhook_backlog{queue="` + ns + `-webhooks"} 6`,
		`flexlabel_webhook_deliveries_total{result="delivered"} 1`,
		`flexlabel_webhook_deliveries_total{result="retrying"} 1`,
		`flexlabel_webhook_deliveries_total{result="skipped"} 1`,
		`flexlabel_webhook_delivery_duration_seconds_count 2`,
	} {
		require.Contains(t, body, want)
	}

	// Prometheus' own linter on the exposition, where installed.
	if bin, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(bin, "check", "metrics")
		cmd.Stdin = bytes.NewBufferString(body)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics:\n%s", out)
	}
}
