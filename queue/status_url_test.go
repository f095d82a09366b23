package queue_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The worker stores a label's document URL a few seconds after the label:
// Status (GET /v1/labels/{key}, flexlabel status) and URLs show it from
// then on.
func TestStatus_ShowsTheURLTheWorkerStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON("u-1", ""), queue.Bulk)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	require.NoError(t, queuetest.Store(t, q).Complete(ctx, &store.Job{Key: "u-1"}, &flexapi.Label{ID: "lbl-1", Status: "created"}))

	sts, err := q.Status(ctx, "u-1")
	require.NoError(t, err)
	require.Equal(t, queue.StateCompleted, sts[0].State)
	require.Empty(t, sts[0].Label.URL, "no URL before the worker has fetched it")
	urls, err := q.URLs(ctx, []string{"u-1", "nobody"})
	require.NoError(t, err)
	require.Equal(t, []string{"", ""}, urls)

	require.NoError(t, queuetest.Store(t, q).SetURLs(ctx, map[string]string{"u-1": "https://cdn.example/lbl-1.pdf"}))
	sts, err = q.Status(ctx, "u-1")
	require.NoError(t, err)
	require.Equal(t, "https://cdn.example/lbl-1.pdf", sts[0].Label.URL)
	urls, err = q.URLs(ctx, []string{"u-1", "nobody"})
	require.NoError(t, err)
	require.Equal(t, []string{"https://cdn.example/lbl-1.pdf", ""}, urls)
}
