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
	rec.APICall(queue.DefaultAccount, "create_label", 201, 30*time.Millisecond)
	rec.APICall(queue.DefaultAccount, "create_label", 0, time.Second)
	rec.Outcome(queue.DefaultAccount, q.Name(queue.Bulk), "created")
	rec.Outcome(queue.DefaultAccount, q.Name(queue.Bulk), "retry")
	rec.DeadLettered(queue.DefaultAccount, q.Name(queue.Interactive), queue.ReasonAuth)
	rec.BudgetWait(120 * time.Millisecond)
	// A completed label waits for its document URL (issue 16).
	_, err = q.EnqueueLine(ctx, queuetest.RequestJSON("m3", ""), queue.Interactive)
	require.NoError(t, err)
	j3 := queuetest.Job(t, q, "m3", "", queue.Interactive)
	queuetest.Attempt(t, q, j3)
	require.NoError(t, queuetest.Store(t, q).Complete(ctx, j3, &flexapi.Label{ID: "lbl-m3", Status: "created"}))
	rec.DocumentsGivenUp(queue.DefaultAccount, 2)
	rec.DocumentsGivenUp("brand-a", 1)

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
		`flexlabel_api_calls_total{account="default",endpoint="create_label",status_class="2xx"} 1`,
		`flexlabel_api_calls_total{account="default",endpoint="create_label",status_class="error"} 1`,
		`flexlabel_labels_created_total{account="default",queue="` + q.Name(queue.Bulk) + `"} 1`,
		`flexlabel_retries_total{account="default",queue="` + q.Name(queue.Bulk) + `"} 1`,
		`flexlabel_dead_lettered_total{account="default",reason="auth"} 1`,
		`flexlabel_job_outcomes_total{account="default",outcome="dead",queue="` + q.Name(queue.Interactive) + `"} 1`,
		`flexlabel_rate_limited_total{account="default"} 0`,
		`flexlabel_dead_letters{account="default",reason="auth"} 1`,
		`flexlabel_dead_letters{account="default",reason="invalid"} 0`,
		`flexlabel_jobs{queue="` + q.Name(queue.Bulk) + `",state="pending"} 1`,
		`flexlabel_budget_wait_seconds_count 1`,
		`flexlabel_document_urls_pending{account="default"} 1`,
		`flexlabel_document_urls_given_up_total{account="default"} 2`,
		`flexlabel_document_urls_given_up_total{account="brand-a"} 1`,
		`flexlabel_redis_up 1`,
	} {
		require.Contains(t, body, want)
	}
}

// With several accounts (issue 17), the outcome metrics and the dead-letter
// gauge are by account, the accounts' shared queues are in flexlabel_jobs,
// and each account's held jobs are a gauge.
func TestQueueCollector_Accounts(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	reg, rec := metrics.Registry(q, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	require.NoError(t, queuetest.Store(t, q).SetAccountIntervals(ctx, map[string]time.Duration{"brand-a": time.Hour, queue.DefaultAccount: time.Hour}))
	qa, err := q.ForAccount("brand-a")
	require.NoError(t, err)
	for _, k := range []string{"a1", "a2"} {
		_, err = qa.EnqueueLine(ctx, queuetest.RequestJSON(k, ""), queue.Bulk)
		require.NoError(t, err)
	}
	j := &store.Job{Key: "a3", Queue: qa.Name(queue.Bulk), Hash: "h", Payload: queuetest.RequestJSON("a3", "")}
	require.NoError(t, queuetest.Store(t, qa).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized"}))
	rec.Outcome("brand-a", qa.Name(queue.Bulk), "created")
	rec.Outcome("brand-a", qa.Name(queue.Bulk), "rate_limited")

	srv := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(b)
	for _, want := range []string{
		`flexlabel_labels_created_total{account="brand-a",queue="` + qa.Name(queue.Bulk) + `"} 1`,
		`flexlabel_rate_limited_total{account="brand-a"} 1`,
		`flexlabel_dead_letters{account="brand-a",reason="auth"} 1`,
		`flexlabel_dead_letters{account="default",reason="auth"} 0`,
		`flexlabel_account_jobs_held{account="brand-a"} 2`,
		`flexlabel_document_urls_pending{account="brand-a"} 0`,
		`flexlabel_jobs{queue="` + qa.Name(queue.Bulk) + `",state="pending"} 0`,
		`flexlabel_redis_up 1`,
	} {
		require.Contains(t, body, want)
	}
}
