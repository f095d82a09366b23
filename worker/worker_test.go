package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

const token = "tok-SECRET-d6f1c0ffee42"

type harness struct {
	rdb  *redis.Client
	q    *queue.Queue
	fake *flexapitest.Server
	w    *worker.Worker
	logs *queuetest.Buffer
	ns   string
}

type opts struct {
	maxRetry int
	rate     float64
	metrics  worker.Observer // nil: none
	// webhooks turns event recording on before the worker starts;
	// documentWait is the worker's DocumentWait (0: its default).
	webhooks     bool
	documentWait time.Duration
	// api, when set, wraps the client of the fake API.
	api func(worker.LabelAPI) worker.LabelAPI
	// redis, when set, is the Redis to use instead of queuetest's;
	// minReplicas and replicaTimeout are the queue's durable
	// acknowledgements (issue 18).
	redis          *redis.Options
	minReplicas    int
	replicaTimeout time.Duration
	// concurrency and shutdownTimeout: the worker's (0: 4 and 5 s).
	concurrency     int
	shutdownTimeout time.Duration
	// accounts, when not nil, are the fleet's other accounts, each with a
	// token of its own on the fake API (its ledger account is its name).
	accounts []acct
	// tracking follows every label on the fast clock of tracking_test.go
	// (the fake's journeys and the worker's cadence sped up alike).
	tracking bool
}

type acct struct {
	name string
	rate float64 // 0: 1000
}

// accountToken is account a's Flex Forward token in the tests.
func accountToken(a string) string { return "tok-" + a + "-SECRET-77aa" }

func start(t *testing.T, o opts) *harness {
	t.Helper()
	if o.maxRetry == 0 {
		o.maxRetry = 5
	}
	if o.rate == 0 {
		o.rate = 1000
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	if o.shutdownTimeout == 0 {
		o.shutdownTimeout = 5 * time.Second
	}
	ro := o.redis
	if ro == nil {
		ro = queuetest.Redis(t)
	}
	rdb := redis.NewClient(ro)
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns, MaxRetry: o.maxRetry, MinReplicas: o.minReplicas, ReplicaTimeout: o.replicaTimeout})
	require.NoError(t, err)
	fake := flexapitest.NewTestServer(t, token)
	api, err := flexapi.NewClient(fake.URL(), token, flexapi.WithTimeout(2*time.Second))
	require.NoError(t, err)
	var tracking worker.TrackingConfig
	if o.tracking {
		fake.SetTrackingSpeedup(trackSpeedup)
		tracking = worker.TrackingConfig{On: true, Speedup: trackSpeedup, Lease: time.Second}
	}
	budget, err := worker.NewBudget(q, o.rate)
	require.NoError(t, err)
	var labelAPI worker.LabelAPI = api
	if o.api != nil {
		labelAPI = o.api(api)
	}
	if o.webhooks {
		queuetest.WebhooksOn(t, rdb, ns)
	}
	var accs []worker.Account
	if o.accounts != nil {
		accs = []worker.Account{}
		for _, a := range o.accounts {
			fake.AddToken(accountToken(a.name), a.name)
			c, err := flexapi.NewClient(fake.URL(), accountToken(a.name), flexapi.WithTimeout(2*time.Second))
			require.NoError(t, err)
			if a.rate == 0 {
				a.rate = 1000
			}
			accs = append(accs, worker.Account{Name: a.name, API: c, Rate: a.rate})
		}
	}
	logs := &queuetest.Buffer{}
	w, err := worker.New(worker.Config{
		Accounts: accs,
		Queue:    q, API: labelAPI, Budget: budget,
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Concurrency:     o.concurrency,
		MaxRetry:        o.maxRetry,
		RetryBase:       100 * time.Millisecond,
		RetryMax:        time.Second,
		ShutdownTimeout: o.shutdownTimeout,
		URLBatchWindow:  100 * time.Millisecond,
		Metrics:         o.metrics,
		DocumentWait:    o.documentWait,
		Tracking:        tracking,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	h := &harness{rdb: rdb, q: q, fake: fake, w: w, logs: logs, ns: ns}
	t.Cleanup(func() {
		w.Shutdown()
		h.requireNoSecrets(t)
	})
	return h
}

func (h *harness) enqueue(t *testing.T, key, product string) {
	t.Helper()
	res, err := h.q.EnqueueLine(context.Background(), queuetest.RequestJSON(key, product), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
}

func (h *harness) wait(t *testing.T, key string, want queue.State, within time.Duration) queue.JobStatus {
	t.Helper()
	var last queue.JobStatus
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := h.q.Status(context.Background(), key)
		require.NoError(c, err)
		last = st[0]
		assert.Equal(c, want, last.State)
	}, within, 20*time.Millisecond, "key %s never reached %s", key, want)
	return last
}

// requireArchived waits until asynq has archived key's task, retried as
// often as given: from then on no handler runs for it, so the API calls
// counted are final.
func (h *harness) requireArchived(t *testing.T, key string, retried int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ti, err := queuetest.Task(h.rdb, h.q.Name(queue.Interactive), key)
		require.NoError(c, err)
		assert.Equal(c, asynq.TaskStateArchived, ti.State)
		assert.Equal(c, retried, ti.Retried)
	}, 5*time.Second, 10*time.Millisecond, "asynq never archived %s", key)
}

// requireTaskGone waits until asynq has deleted key's task, as it does once
// a handler succeeded: no handler runs for it again.
func (h *harness) requireTaskGone(t *testing.T, key string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := queuetest.Task(h.rdb, h.q.Name(queue.Interactive), key)
		assert.ErrorIs(c, err, asynq.ErrTaskNotFound)
	}, 5*time.Second, 10*time.Millisecond, "asynq still has a task for %s", key)
}

// requireNoSecrets scans every key and value this test wrote, and the logs.
func (h *harness) requireNoSecrets(t *testing.T) {
	t.Helper()
	require.NotContains(t, h.logs.String(), token, "token in logs")
	require.NotContains(t, h.logs.String(), "-SECRET-77aa", "an account's token in logs")
	ctx := context.Background()
	for _, pat := range queuetest.KeyPatterns(h.ns) {
		keys, err := h.rdb.Keys(ctx, pat).Result()
		require.NoError(t, err)
		for _, k := range keys {
			require.NotContains(t, k, token)
			dump, err := h.rdb.Dump(ctx, k).Result()
			if err == redis.Nil {
				continue
			}
			require.NoError(t, err)
			require.NotContains(t, dump, token, "token in Redis key %s", k)
			require.NotContains(t, dump, "-SECRET-77aa", "an account's token in Redis key %s", k)
		}
	}
}

func TestWorker_Created_RecordsLabelAndURL(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.enqueue(t, "ok-1", "")
	st := h.wait(t, "ok-1", queue.StateCompleted, 5*time.Second)
	require.NotNil(t, st.Label)
	require.Equal(t, "created", st.Label.Status)
	require.NotEmpty(t, st.Label.ID)
	require.NotNil(t, st.Label.CourierTrackingNumber)
	require.Equal(t, 1, st.Attempts)
	require.Eventually(t, func() bool {
		st, _ := h.q.Status(context.Background(), "ok-1")
		return st[0].Label != nil && st[0].Label.URL != ""
	}, 5*time.Second, 20*time.Millisecond)
	l := h.fake.Ledger()
	require.Equal(t, 1, l.CallsPerKey["ok-1"])
	require.Equal(t, 1, l.CreatedPerKey["ok-1"])
	// Completed within retention: the same request is a duplicate carrying the label.
	res, err := h.q.EnqueueLine(context.Background(), queuetest.RequestJSON("ok-1", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.Equal(t, queue.StateCompleted, res.State)
	require.NotNil(t, res.Label)
	require.Equal(t, st.Label.ID, res.Label.ID)
	require.Contains(t, h.logs.String(), `"idempotency_key":"ok-1"`)
}

func TestWorker_TwoServerErrors_ThreeCallsOneLabel(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.fake.FailFirst(2)
	h.enqueue(t, "flaky", "")
	st := h.wait(t, "flaky", queue.StateCompleted, 10*time.Second)
	require.Equal(t, 3, st.Attempts)
	l := h.fake.Ledger()
	require.Equal(t, 3, l.CallsPerKey["flaky"])
	require.Equal(t, 1, l.CreatedPerKey["flaky"])
	require.Equal(t, 1, l.LabelsCreated)
}

func TestWorker_CreatedThenDropped_ReplayGivesOneLabel(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.fake.DropAfterCreate(1)
	h.enqueue(t, "dropped", "")
	st := h.wait(t, "dropped", queue.StateCompleted, 10*time.Second)
	l := h.fake.Ledger()
	require.Equal(t, 2, l.CallsPerKey["dropped"])
	require.Equal(t, 1, l.CreatedPerKey["dropped"])
	require.Equal(t, 1, l.ReplaysPerKey["dropped"])
	lbl, ok := h.fake.LabelByKey("account-1", "dropped")
	require.True(t, ok)
	require.Equal(t, lbl.ID, st.Label.ID)
}

func TestWorker_Permanent_DeadAfterExactlyOneCall(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, product string
		reason        queue.Reason
		status        int
		setup         func(*flexapitest.Server)
	}{
		{"401", "", queue.ReasonAuth, 401, func(s *flexapitest.Server) { s.Revoke(token) }},
		{"403", "", queue.ReasonAuth, 403, func(s *flexapitest.Server) { s.Forbid(token) }},
		{"404", flexapitest.NoAccountProductCode, queue.ReasonNotFound, 404, nil},
		{"courier", flexapitest.RejectProductCode, queue.ReasonCourierRejected, 502, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, opts{})
			if c.setup != nil {
				c.setup(h.fake)
			}
			h.enqueue(t, "p-"+c.name, c.product)
			st := h.wait(t, "p-"+c.name, queue.StateDead, 5*time.Second)
			require.Equal(t, c.reason, st.DeadLetter.Reason)
			require.Equal(t, c.status, st.DeadLetter.HTTPStatus)
			require.NotEmpty(t, st.DeadLetter.Message)
			h.requireArchived(t, "p-"+c.name, 0) // no retry can follow
			require.Equal(t, 1, h.fake.Ledger().CallsPerKey["p-"+c.name])
			dl, err := h.q.DeadLetters().Get(context.Background(), "p-"+c.name)
			require.NoError(t, err)
			require.Equal(t, 1, dl.Attempts)
			require.Contains(t, string(dl.Request), `"idempotencyKey":"p-`+c.name+`"`)
		})
	}
}

// A hand-made task whose payload is a JSON object but no label request (it
// has no record and cannot be hashed) still gets a record and is
// dead-lettered by the API's 400, after one call.
func TestWorker_NotALabelRequest_DeadAfterOneCall(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	c := asynq.NewClientFromRedisClient(h.rdb)
	_, err := c.Enqueue(asynq.NewTask(store.TaskType, []byte(`{"shipment":"nope","idempotencyKey":7}`)), asynq.TaskID("odd-1"), asynq.Queue(h.q.Name(queue.Interactive)), asynq.MaxRetry(5))
	require.NoError(t, err)
	st := h.wait(t, "odd-1", queue.StateDead, 5*time.Second)
	require.Equal(t, queue.ReasonInvalid, st.DeadLetter.Reason)
	require.Equal(t, 400, st.DeadLetter.HTTPStatus)
	require.Equal(t, 1, st.Attempts)
}

func TestWorker_400_DeadWithDetails(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	// A job whose request our validation would refuse can still reach a
	// worker (an older producer, a hand-made task): the API's 400 dead-letters
	// it after one call, with the API's details.
	bad := strings.Replace(string(queuetest.RequestJSON("bad-400", "")), `"weight":0.5`, `"weight":0`, 1)
	c := asynq.NewClientFromRedisClient(h.rdb)
	_, err := c.Enqueue(asynq.NewTask(store.TaskType, []byte(bad)), asynq.TaskID("bad-400"), asynq.Queue(h.q.Name(queue.Interactive)), asynq.MaxRetry(5))
	require.NoError(t, err)
	st := h.wait(t, "bad-400", queue.StateDead, 5*time.Second)
	require.Equal(t, queue.ReasonInvalid, st.DeadLetter.Reason)
	require.Equal(t, 400, st.DeadLetter.HTTPStatus)
	require.Equal(t, []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}}, st.DeadLetter.Details)
	h.requireArchived(t, "bad-400", 0) // no retry can follow
	require.Equal(t, 1, h.fake.Ledger().CallsPerKey["bad-400"])
	// The key may be reused with a corrected request (the API allows it after a 400).
	res, err := h.q.EnqueueLine(context.Background(), queuetest.RequestJSON("bad-400", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	h.wait(t, "bad-400", queue.StateCompleted, 5*time.Second)
	require.Equal(t, 1, h.fake.Ledger().CreatedPerKey["bad-400"])
}

func TestWorker_RateLimited_DoesNotConsumeAttempts(t *testing.T) {
	t.Parallel()
	// MaxRetry 1 allows one failed attempt; three 429s must not count.
	h := start(t, opts{maxRetry: 1})
	h.fake.Force429(3, time.Second)
	h.enqueue(t, "limited", "")
	st := h.wait(t, "limited", queue.StateCompleted, 15*time.Second)
	require.NotNil(t, st.Label)
	l := h.fake.Ledger()
	require.Equal(t, 4, l.CallsPerKey["limited"])
	require.Equal(t, 3, l.RateLimited)
}

func TestWorker_RetriesExhausted_Dead(t *testing.T) {
	t.Parallel()
	h := start(t, opts{maxRetry: 2})
	h.fake.FailFirst(100)
	h.enqueue(t, "doomed", "")
	st := h.wait(t, "doomed", queue.StateDead, 15*time.Second)
	require.Equal(t, queue.ReasonRetriesExhausted, st.DeadLetter.Reason)
	require.Equal(t, 500, st.DeadLetter.HTTPStatus)
	require.Equal(t, 3, st.DeadLetter.Attempts)
	require.Equal(t, 3, h.fake.Ledger().CallsPerKey["doomed"])
	require.False(t, st.DeadLetter.FirstFailedAt.After(st.DeadLetter.FailedAt))
}

func TestWorker_RedriveAfterTokenRestored_CompletesOnce(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.fake.Revoke(token)
	for _, k := range []string{"rd-1", "rd-2"} {
		h.enqueue(t, k, "")
	}
	h.wait(t, "rd-1", queue.StateDead, 5*time.Second)
	h.wait(t, "rd-2", queue.StateDead, 5*time.Second)
	h.fake.Restore(token)
	keys, err := h.q.DeadLetters().Keys(context.Background(), queue.ReasonAuth)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"rd-1", "rd-2"}, keys)
	res, err := h.q.DeadLetters().Redrive(context.Background(), keys...)
	require.NoError(t, err)
	for _, r := range res {
		require.True(t, r.Done, r.Error)
	}
	h.wait(t, "rd-1", queue.StateCompleted, 5*time.Second)
	h.wait(t, "rd-2", queue.StateCompleted, 5*time.Second)
	// Redriving again does nothing: they are not dead.
	res, err = h.q.DeadLetters().Redrive(context.Background(), "rd-1")
	require.NoError(t, err)
	require.False(t, res[0].Done)
	h.requireTaskGone(t, "rd-1") // asynq is done with both: no second create can follow
	h.requireTaskGone(t, "rd-2")
	l := h.fake.Ledger()
	require.Equal(t, 1, l.CreatedPerKey["rd-1"])
	require.Equal(t, 1, l.CreatedPerKey["rd-2"])
	require.Equal(t, 2, l.CallsPerKey["rd-1"]) // one 401, one create
}

func TestWorker_Discard(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.enqueue(t, "gone", flexapitest.RejectProductCode)
	h.wait(t, "gone", queue.StateDead, 5*time.Second)
	res, err := h.q.DeadLetters().Discard(context.Background(), "gone")
	require.NoError(t, err)
	require.True(t, res[0].Done)
	n, err := h.q.DeadLetters().Count(context.Background(), "")
	require.NoError(t, err)
	require.Zero(t, n)
	st, err := h.q.Status(context.Background(), "gone")
	require.NoError(t, err)
	require.Equal(t, queue.StateUnknown, st[0].State)
}

func TestBackoff_FullJitterWithinBounds(t *testing.T) {
	t.Parallel()
	base, max := 100*time.Millisecond, time.Second
	for n := range 20 {
		ceil := min(base<<n, max)
		if n > 10 {
			ceil = max
		}
		var top time.Duration
		for range 200 {
			d := worker.Backoff(n, base, max)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceil)
			top = maxDur(top, d)
		}
		require.Greater(t, top, ceil/2, "jitter should spread up to the ceiling (n=%d)", n)
	}
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
