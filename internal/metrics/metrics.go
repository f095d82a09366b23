// Package metrics exposes flexlabel's Prometheus metrics: counters the
// worker and the producers feed as they work (Recorder, which implements
// worker.Observer), and gauges read from Redis at scrape time (the queue
// depths by state from asynq's Inspector, dead letters by reason from
// flexlabel's own dead-letter queue, followed shipments by tag from the
// counts the tracking scripts keep).
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/worker"
)

// Recorder counts what workers and producers do. It implements
// worker.Observer, and Enqueue fits queue.Options.OnEnqueue.
type Recorder struct {
	apiCalls     *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
	outcomes     *prometheus.CounterVec
	created      *prometheus.CounterVec
	retries      *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	budgetWait   prometheus.Histogram
	enqueues     *prometheus.CounterVec
	// webhook delivery (issue 15)
	hookDeliveries *prometheus.CounterVec
	hookLatency    prometheus.Histogram
	// tracking follow-up (issue 16)
	trackingPolls    *prometheus.CounterVec
	trackingLateness prometheus.Histogram
	// document fetch and lanes (issue 16)
	docsGivenUp *prometheus.CounterVec
	laneSlots   *prometheus.GaugeVec
}

// NewRecorder registers the counters on reg.
func NewRecorder(reg prometheus.Registerer) *Recorder {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	r := &Recorder{
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_api_calls_total", Help: "Flex Forward API calls by endpoint and status class (2xx, 4xx, 5xx, error).",
		}, []string{"account", "endpoint", "status_class"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flexlabel_api_call_duration_seconds", Help: "Flex Forward API call duration.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_job_outcomes_total", Help: "Label job attempts by queue and outcome (created, retry, rate_limited, dead).",
		}, []string{"account", "queue", "outcome"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_labels_created_total", Help: "Labels created (or replayed) by the API.",
		}, []string{"account", "queue"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_retries_total", Help: "Transient failures that will be retried.",
		}, []string{"account", "queue"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_rate_limited_total", Help: "429 answers from the API (each pauses its account's calls), by account.",
		}, []string{"account"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_dead_lettered_total", Help: "Jobs moved to the dead-letter queue, by reason.",
		}, []string{"account", "reason"}),
		budgetWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flexlabel_budget_wait_seconds", Help: "Time spent waiting for the fleet-wide rate budget before an API call.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_enqueue_total", Help: "Enqueue outcomes by lane (interactive, bulk).",
		}, []string{"lane", "outcome"}),
		hookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_webhook_deliveries_total", Help: "Webhook deliveries by result: delivered, failed (not retried, or retries ran out), retrying (an attempt failed, another follows), skipped (endpoint disabled).",
		}, []string{"result"}),
		hookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flexlabel_webhook_delivery_duration_seconds", Help: "Duration of webhook delivery attempts, until the receiver's answer or the error.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		trackingPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_tracking_polls_total", Help: "Tracking polls (GET /tracking/{id}) by account and result: ok, not_found (no longer followed), forbidden, rate_limited, error (checked again later).",
		}, []string{"account", "result"}),
		trackingLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "flexlabel_tracking_poll_lateness_seconds", Help: "How long after its due time a tracking poll was made: tracking takes only the budget labels leave, so it runs late when that is short.",
			Buckets: []float64{.1, 1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600},
		}),
		docsGivenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexlabel_document_urls_given_up_total", Help: "Labels whose document URL the API never answered (10 tries over about 20 minutes), by account; each is also a warning naming the key.",
		}, []string{"account"}),
		laneSlots: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flexlabel_worker_lane_slots", Help: "Label jobs this worker runs at once, by lane (interactive, bulk): FLEXLABEL_CONCURRENCY to start with, grown while every slot is in an API call (a slow API), up to budget × FLEXLABEL_API_TIMEOUT × 1.25.",
		}, []string{"lane"}),
	}
	r.rateLimited.WithLabelValues(queue.DefaultAccount) // present from the start, at 0
	for _, res := range []string{worker.TrackingPollOK, worker.TrackingPollNotFound, worker.TrackingPollForbidden, worker.TrackingPollRateLimited, worker.TrackingPollError} {
		r.trackingPolls.WithLabelValues(queue.DefaultAccount, res)
	}
	r.docsGivenUp.WithLabelValues(queue.DefaultAccount)
	for _, res := range []string{hooks.ResultDelivered, hooks.ResultFailed, hooks.ResultRetrying, hooks.ResultSkipped} {
		r.hookDeliveries.WithLabelValues(res) // every result present from the start, at 0
	}
	for _, c := range []prometheus.Collector{r.apiCalls, r.apiDuration, r.outcomes, r.created, r.retries, r.rateLimited, r.deadLettered, r.budgetWait, r.enqueues, r.hookDeliveries, r.hookLatency, r.trackingPolls, r.trackingLateness, r.docsGivenUp, r.laneSlots} {
		f(c)
	}
	return r
}

// APICall implements worker.Observer.
func (r *Recorder) APICall(account, endpoint string, status int, d time.Duration) {
	class := "error"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	r.apiCalls.WithLabelValues(account, endpoint, class).Inc()
	r.apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Outcome implements worker.Observer.
func (r *Recorder) Outcome(account, queueName, outcome string) {
	r.outcomes.WithLabelValues(account, queueName, outcome).Inc()
	switch outcome {
	case "created":
		r.created.WithLabelValues(account, queueName).Inc()
	case "retry":
		r.retries.WithLabelValues(account, queueName).Inc()
	case "rate_limited":
		r.rateLimited.WithLabelValues(account).Inc()
	}
}

// DeadLettered implements worker.Observer: one "dead" outcome, counted by
// reason too.
func (r *Recorder) DeadLettered(account, queueName string, reason queue.Reason) {
	r.deadLettered.WithLabelValues(account, string(reason)).Inc()
	r.outcomes.WithLabelValues(account, queueName, "dead").Inc()
}

// BudgetWait implements worker.Observer.
func (r *Recorder) BudgetWait(d time.Duration) { r.budgetWait.Observe(d.Seconds()) }

// TrackingPoll implements worker.TrackingObserver.
func (r *Recorder) TrackingPoll(account, result string, lateness time.Duration) {
	r.trackingPolls.WithLabelValues(account, result).Inc()
	r.trackingLateness.Observe(lateness.Seconds())
}

// LaneSlots implements worker.LaneObserver.
func (r *Recorder) LaneSlots(lane string, slots int) {
	r.laneSlots.WithLabelValues(lane).Set(float64(slots))
}

// DocumentsGivenUp counts labels of account whose document URL the worker
// gave up on.
func (r *Recorder) DocumentsGivenUp(account string, n int) {
	r.docsGivenUp.WithLabelValues(account).Add(float64(n))
}

// WebhookDelivery implements hooks.Observer: one delivery result, and the
// attempt's latency when there was an attempt (not for skipped).
func (r *Recorder) WebhookDelivery(result string, latency time.Duration) {
	r.hookDeliveries.WithLabelValues(result).Inc()
	if result != hooks.ResultSkipped && result != hooks.ResultPending {
		r.hookLatency.Observe(latency.Seconds())
	}
}

// Enqueue counts one enqueue outcome; use it as queue.Options.OnEnqueue.
func (r *Recorder) Enqueue(l queue.Lane, o queue.Outcome) {
	r.enqueues.WithLabelValues(l.String(), string(o)).Inc()
}

// queueCollector reads queue depths and dead letters from Redis at scrape time.
type queueCollector struct {
	q    *queue.Queue
	insp *asynq.Inspector
	log  *slog.Logger
	jobs *prometheus.Desc
	dead *prometheus.Desc
	held *prometheus.Desc
	up   *prometheus.Desc
	hook *prometheus.Desc
	st   *store.Store // the tracking counts
	trk  *prometheus.Desc
	docs *prometheus.Desc
}

// NewQueueCollector returns a collector of flexlabel_jobs{queue,state},
// flexlabel_dead_letters{reason}, flexlabel_webhook_backlog,
// flexlabel_document_urls_pending and flexlabel_redis_up, read from Redis on
// each scrape.
//
// A gauge that could not be read is left out of the scrape rather than
// reported as 0: while Redis is unreachable, flexlabel_jobs and
// flexlabel_dead_letters are absent and flexlabel_redis_up is 0. A false 0
// would hide the outage from absent() alerts and, once Redis is back, make
// every "grew since offset 30m" comparison look like a jump from nothing.
// Prometheus marks the missing series stale, so queries neither see the old
// value nor a made-up one.
func NewQueueCollector(q *queue.Queue, log *slog.Logger) prometheus.Collector {
	// The namespace is valid: q was built with it.
	st, _ := store.New(q.Redis(), store.Options{Namespace: q.Options().Namespace})
	return &queueCollector{
		st:   st,
		trk:  prometheus.NewDesc("flexlabel_tracking_followed", "Shipments followed by tracking, by account and tag as last polled (none: not polled yet); absent while Redis cannot be read.", []string{"account", "tag"}, nil),
		q:    q,
		insp: asynq.NewInspectorFromRedisClient(q.Redis()),
		log:  log,
		jobs: prometheus.NewDesc("flexlabel_jobs", "Label jobs in asynq by queue and state; absent while Redis cannot be read.", []string{"queue", "state"}, nil),
		dead: prometheus.NewDesc("flexlabel_dead_letters", "Entries in flexlabel's dead-letter queue by account and reason; absent while Redis cannot be read.", []string{"account", "reason"}, nil),
		held: prometheus.NewDesc("flexlabel_account_jobs_held", "Jobs of an account other than the default waiting, held, for its budget (issue 17), by account; absent while Redis cannot be read.", []string{"account"}, nil),
		up:   prometheus.NewDesc("flexlabel_redis_up", "1 if every Redis read of this scrape succeeded, else 0.", nil, nil),
		docs: prometheus.NewDesc("flexlabel_document_urls_pending", "Completed labels whose document URL the workers are still to fetch, by account; absent while Redis cannot be read.", []string{"account"}, nil),
		hook: prometheus.NewDesc("flexlabel_webhook_backlog", "Webhook deliveries owed: events pending or being delivered, and the retry and redelivery tasks waiting on the webhooks queue (pending, scheduled and retry); absent while Redis cannot be read.", []string{"queue"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.dead
	ch <- c.held
	ch <- c.up
	ch <- c.hook
	ch <- c.trk
	ch <- c.docs
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One PING first: when Redis is down, the scrape answers at once with
	// flexlabel_redis_up 0 instead of waiting for each read to fail.
	if err := c.q.Ping(ctx); err != nil {
		c.log.Warn("metrics: Redis unreachable; queue gauges left out of this scrape", slog.String("error", err.Error()))
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	up := 1.0
	// The fleet's other accounts (issue 17), as its workers record them.
	accts, err := c.q.FleetAccounts(ctx)
	if err != nil {
		up = 0
		c.log.Warn("metrics: reading the fleet's accounts", slog.String("error", err.Error()))
	}
	others := slices.DeleteFunc(slices.Clone(accts), func(a string) bool { return a == queue.DefaultAccount })
	queues := []string{c.q.Name(queue.Interactive), c.q.Name(queue.Bulk)}
	if len(others) > 0 {
		// The other accounts' jobs share two queues.
		for _, lane := range []queue.Lane{queue.Interactive, queue.Bulk} {
			if qa, err := c.q.ForAccount(others[0]); err == nil {
				queues = append(queues, qa.Name(lane))
			}
		}
	}
	for _, name := range queues {
		info, err := c.insp.GetQueueInfo(name)
		switch {
		case err == nil:
		case queueNotFound(err):
			// No task was ever enqueued on it: 0 is the truth.
			info = &asynq.QueueInfo{}
		default:
			up = 0
			c.log.Warn("metrics: reading queue", slog.String("queue", name), slog.String("error", err.Error()))
			continue
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), name, state)
		}
	}
	// The webhooks (issue 15): their backlog, what receivers owe — events
	// not yet delivered by the drain (pending or leased) and the retry and
	// redelivery tasks of the webhooks queue.
	hq := hooks.QueueName(c.q.Name(queue.Interactive))
	if n, err := c.hookBacklog(ctx, hq); err != nil {
		up = 0
		c.log.Warn("metrics: reading the webhook backlog", slog.String("queue", hq), slog.String("error", err.Error()))
	} else {
		ch <- prometheus.MustNewConstMetric(c.hook, prometheus.GaugeValue, float64(n), hq)
	}
	for _, a := range append([]string{queue.DefaultAccount}, others...) {
		qa, err := c.q.ForAccount(a)
		if err != nil {
			continue // a name the workers recorded is valid
		}
		counts, err := qa.DeadLetters().CountByReason(ctx)
		if err != nil {
			up = 0
			c.log.Warn("metrics: counting dead letters", slog.String("account", a), slog.String("error", err.Error()))
			continue
		}
		for _, r := range queue.Reasons {
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(counts[r]), a, string(r))
		}
		if n, err := qa.PendingDocuments(ctx); err != nil {
			up = 0
			c.log.Warn("metrics: counting pending document URLs", slog.String("account", a), slog.String("error", err.Error()))
		} else {
			ch <- prometheus.MustNewConstMetric(c.docs, prometheus.GaugeValue, float64(n), a)
		}
		if a == queue.DefaultAccount {
			continue
		}
		if n, err := qa.HeldJobs(ctx); err != nil {
			up = 0
			c.log.Warn("metrics: counting held jobs", slog.String("account", a), slog.String("error", err.Error()))
		} else {
			ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(n), a)
		}
	}
	for _, a := range append([]string{queue.DefaultAccount}, others...) {
		if !c.trackingCounts(ctx, ch, a) {
			up = 0
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// trackingCounts sends account a's followed shipments by tag, false when
// they could not be read.
func (c *queueCollector) trackingCounts(ctx context.Context, ch chan<- prometheus.Metric, a string) bool {
	st := c.st
	if a != queue.DefaultAccount {
		var err error
		// The namespace is valid (c.st has it) and so is a name the
		// workers recorded.
		if st, err = store.New(c.q.Redis(), store.Options{Namespace: c.q.Options().Namespace, Account: a}); err != nil {
			return true
		}
	}
	counts, err := st.TrackingCounts(ctx)
	if err != nil {
		c.log.Warn("metrics: counting followed shipments", slog.String("account", a), slog.String("error", err.Error()))
		return false
	}
	// The tags a followed shipment can have are present at 0 too.
	for _, tag := range []string{store.TagNotPolled, flexapi.TagPending, flexapi.TagInfoReceived, flexapi.TagInTransit, flexapi.TagException, flexapi.TagUnknown} {
		if _, ok := counts[tag]; !ok {
			counts[tag] = 0
		}
	}
	for tag, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.trk, prometheus.GaugeValue, float64(n), a, tag)
	}
	return true
}

// hookBacklog counts the webhook deliveries owed: the events on the
// pending list and leased by a deliverer, plus the pending, scheduled and
// retry tasks of the webhooks queue hq.
func (c *queueCollector) hookBacklog(ctx context.Context, hq string) (int, error) {
	ns := c.q.Name(queue.Interactive)
	pending, err := c.q.Redis().LLen(ctx, hooks.PendingKey(ns)).Result()
	if err != nil {
		return 0, err
	}
	leased, err := hooks.Leased(ctx, c.q.Redis(), ns)
	if err != nil {
		return 0, err
	}
	n := int(pending + leased)
	switch info, err := c.insp.GetQueueInfo(hq); {
	case err == nil:
		n += info.Pending + info.Scheduled + info.Retry
	case queueNotFound(err):
	default:
		return 0, err
	}
	return n, nil
}

// queueNotFound reports whether asynq's Inspector says a queue does not
// exist yet. asynq exports no sentinel for GetQueueInfo, only this text.
func queueNotFound(err error) bool {
	return strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found")
}

// Registry returns a registry with Go and process collectors, the queue
// collector for q, and a Recorder.
func Registry(q *queue.Queue, log *slog.Logger) (*prometheus.Registry, *Recorder) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(NewQueueCollector(q, log))
	return reg, NewRecorder(reg)
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
