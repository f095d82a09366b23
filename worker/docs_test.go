package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// docLedger is the API as several workers see it: which worker created
// which label, and each GET /labels batch (the ids asked for).
type docLedger struct {
	mu        sync.Mutex
	createdBy map[string]int // label id → worker
	batches   [][]string
	// blank, while above 0, answers that many batches without documents.
	blank int
}

type docAPI struct {
	worker.LabelAPI
	l *docLedger
	n int // this worker
}

func (a docAPI) CreateLabelJSON(ctx context.Context, body []byte) (*flexapi.Label, error) {
	l, err := a.LabelAPI.CreateLabelJSON(ctx, body)
	if err == nil && l != nil {
		a.l.mu.Lock()
		a.l.createdBy[l.ID] = a.n
		a.l.mu.Unlock()
	}
	return l, err
}

func (a docAPI) GetLabels(ctx context.Context, ids ...string) ([]flexapi.LabelDocument, error) {
	a.l.mu.Lock()
	a.l.batches = append(a.l.batches, append([]string(nil), ids...))
	blank := a.l.blank > 0
	if blank {
		a.l.blank--
	}
	a.l.mu.Unlock()
	if blank {
		return nil, nil // the batch answer leaves out labels it has no document for
	}
	return a.LabelAPI.GetLabels(ctx, ids...)
}

// startDocWorkers starts n workers on one queue and budget, each with its
// own client of one fake API, recorded in the ledger; size is their
// URLBatchSize (0: the default).
func startDocWorkers(t *testing.T, n int, window time.Duration, size int, l *docLedger) (*queue.Queue, *queuetest.Buffer) {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	fake := flexapitest.NewTestServer(t, token)
	logs := &queuetest.Buffer{}
	for i := range n {
		api, err := flexapi.NewClient(fake.URL(), token)
		require.NoError(t, err)
		budget, err := worker.NewBudget(q, 1000)
		require.NoError(t, err)
		w, err := worker.New(worker.Config{
			Queue: q, API: docAPI{api, l, i}, Budget: budget, Concurrency: 4,
			Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
			URLBatchWindow: window, URLBatchSize: size,
		})
		require.NoError(t, err)
		require.NoError(t, w.Start())
		t.Cleanup(w.Shutdown)
	}
	return q, logs
}

func enqueueDocKeys(t *testing.T, q *queue.Queue, prefix string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%02d", prefix, i)
		res, err := q.EnqueueLine(context.Background(), queuetest.RequestJSON(keys[i], ""), queue.Bulk)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, res.Outcome)
	}
	return keys
}

func waitURLs(t *testing.T, q *queue.Queue, keys []string, within time.Duration) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		urls, err := q.URLs(context.Background(), keys)
		require.NoError(c, err)
		for i, u := range urls {
			assert.NotEmpty(c, u, keys[i])
		}
	}, within, 20*time.Millisecond)
}

// The fleet batches together: one GET /labels carries labels that
// different workers created (each worker batched only its own before
// issue 16), and every label's id is asked for once.
func TestWorker_DocumentBatchesSpanTheFleet(t *testing.T) {
	t.Parallel()
	l := &docLedger{createdBy: map[string]int{}}
	q, _ := startDocWorkers(t, 3, 2*time.Second, 0, l)
	keys := enqueueDocKeys(t, q, "fleet", 30)
	waitURLs(t, q, keys, 30*time.Second)

	l.mu.Lock()
	defer l.mu.Unlock()
	asked := map[string]int{}
	mixed := false
	for _, b := range l.batches {
		by := map[int]bool{}
		for _, id := range b {
			asked[id]++
			by[l.createdBy[id]] = true
		}
		mixed = mixed || len(by) > 1
	}
	require.Len(t, l.createdBy, 30)
	require.Len(t, asked, 30, "every label's document asked for")
	for id, n := range asked {
		require.Equal(t, 1, n, "label %s asked for more than once", id)
	}
	require.True(t, mixed, "no batch carried labels of more than one worker: %v", l.batches)
	n, err := q.PendingDocuments(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}

// A full batch goes before its window: the fetch waits for the window, or
// for the time the batch's missing labels take at the budget (1,000/s:
// milliseconds), whichever is sooner, and asks again.
func TestWorker_FullDocumentBatchGoesBeforeItsWindow(t *testing.T) {
	t.Parallel()
	l := &docLedger{createdBy: map[string]int{}}
	q, _ := startDocWorkers(t, 2, time.Hour, 5, l)
	// Part of a batch first: the fetchers see it pending and wait.
	keys := enqueueDocKeys(t, q, "part", 3)
	require.Eventually(t, func() bool {
		n, err := q.PendingDocuments(context.Background())
		return err == nil && n == 3
	}, 10*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	keys = append(keys, enqueueDocKeys(t, q, "full", 7)...)
	waitURLs(t, q, keys, 30*time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		require.Len(t, b, 5, "only full batches before the hour: %v", l.batches)
	}
}

// A batch the API answers without documents is not the end of those
// labels' URLs: they are pending again and a later batch fetches them.
func TestWorker_DocumentAnsweredWithoutURL_FetchedLater(t *testing.T) {
	t.Parallel()
	l := &docLedger{createdBy: map[string]int{}, blank: 1}
	q, logs := startDocWorkers(t, 1, 50*time.Millisecond, 0, l)
	keys := enqueueDocKeys(t, q, "later", 3)
	waitURLs(t, q, keys, 60*time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	require.GreaterOrEqual(t, len(l.batches), 2, "fetched again after the blank answer")
	require.NotContains(t, logs.String(), "given up")
}
