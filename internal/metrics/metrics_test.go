package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

func TestMetrics_CountersAndQueueGauges(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	reg, rec := metrics.Registry(q, slog.New(slog.DiscardHandler))

	ctx := context.Background()
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON("m1", ""), queue.Bulk)
	require.NoError(t, err)
	rec.Enqueue(queue.Bulk, res.Outcome)
	j := &store.Job{Key: "m2", Queue: q.Name(queue.Interactive), Hash: "h", Payload: queuetest.RequestJSON("m2", "")}
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized"}))
	rec.APICall("create_label", 201, 30*time.Millisecond)
	rec.APICall("create_label", 0, time.Second)
	rec.Outcome(q.Name(queue.Bulk), "created")
	rec.Outcome(q.Name(queue.Bulk), "retry")
	rec.DeadLettered(q.Name(queue.Interactive), queue.ReasonAuth)
	rec.BudgetWait(120 * time.Millisecond)
	// A completed label waits for its document URL (issue 16).
	_, err = q.EnqueueLine(ctx, queuetest.RequestJSON("m3", ""), queue.Interactive)
	require.NoError(t, err)
	j3 := queuetest.Job(t, q, "m3", "", queue.Interactive)
	queuetest.Attempt(t, q, j3)
	require.NoError(t, queuetest.Store(t, q).Complete(ctx, j3, &flexapi.Label{ID: "lbl-m3", Status: "created"}))
	rec.DocumentsGivenUp(2)

	srv := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(b)
	for _, want := range []string{
		`flexlabel_enqueue_total{lane="bulk",outcome="enqueued"} 1`,
		`flexlabel_api_calls_total{endpoint="create_label",status_class="2xx"} 1`,
		`flexlabel_api_calls_total{endpoint="create_label",status_class="error"} 1`,
		`flexlabel_labels_created_total{queue="` + q.Name(queue.Bulk) + `"} 1`,
		`flexlabel_retries_total{queue="` + q.Name(queue.Bulk) + `"} 1`,
		`flexlabel_dead_lettered_total{reason="auth"} 1`,
		`flexlabel_job_outcomes_total{outcome="dead",queue="` + q.Name(queue.Interactive) + `"} 1`,
		`flexlabel_dead_letters{reason="auth"} 1`,
		`flexlabel_dead_letters{reason="invalid"} 0`,
		`flexlabel_jobs{queue="` + q.Name(queue.Bulk) + `",state="pending"} 1`,
		`flexlabel_budget_wait_seconds_count 1`,
		`flexlabel_document_urls_pending 1`,
		`flexlabel_document_urls_given_up_total 2`,
		`flexlabel_redis_up 1`,
	} {
		require.Contains(t, body, want)
	}
}
