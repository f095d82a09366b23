package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// DefaultURLBatchWindow is the default of Config.URLBatchWindow: 6 s, so
// that at the default budget of 10 calls/s (9.8 labels/s once the batches
// have their share) a batch holds about 58 labels, at least 50 even when
// a run's labels slow down, so a label costs at most 1.02 calls, and its
// URL is stored within about 6 s (3 s for the median label). At 5 s a
// batch held 49 and a 150-label run cost 1.027 calls per label (measured,
// docs/PERFORMANCE.md).
const DefaultURLBatchWindow = 6 * time.Second

// DefaultDocumentWait is the default of Config.DocumentWait and of
// FLEXLABEL_WEBHOOK_DOCUMENT_WAIT.
const DefaultDocumentWait = store.DefaultDocumentWait

// LabelAPI is the part of the Flex Forward API the worker calls;
// *flexapi.Client implements it.
type LabelAPI interface {
	CreateLabelJSON(ctx context.Context, body []byte) (*flexapi.Label, error)
	GetLabels(ctx context.Context, ids ...string) ([]flexapi.LabelDocument, error)
}

// Config configures a Worker. Queue and Budget are required, and API
// unless Accounts is set.
type Config struct {
	Queue  *queue.Queue
	API    LabelAPI
	Budget *Budget
	Logger *slog.Logger
	// Metrics observes outcomes; nil records nothing.
	Metrics Observer

	// Concurrency is the number of bulk jobs run at once to start with
	// (default 10); interactive jobs get their own InteractiveConcurrency
	// slots (default Concurrency/4, at least 2), so a bulk run never
	// occupies the slots an order system's label needs. Each lane grows,
	// up to LaneLimit, while its slots are all in API calls (lanes.go): a
	// slow API then still gets enough calls in flight to use the budget.
	Concurrency            int
	InteractiveConcurrency int
	// BulkServers is how many asynq servers share the bulk lane's
	// Concurrency to start with. asynq dequeues one task per Redis round
	// trip in a single loop per server, which caps one server near 5,000
	// tasks/s on two cores; more loops lift that cap. Default 2.
	BulkServers int
	// LaneLimit caps each lane's slots; default the calls in flight that
	// keep the budget busy at APITimeout with a quarter as headroom
	// (budget × APITimeout × 1.25), at most DefaultLaneLimitMax, and never
	// below the lane's starting size. APITimeout is the API client's
	// timeout; default 30s.
	LaneLimit  int
	APITimeout time.Duration

	// MaxRetry is how many failed attempts are retried before the job is
	// dead-lettered as retries_exhausted; default the queue's MaxRetry. It
	// may not exceed what the queue's tasks allow asynq (the queue's
	// MaxRetry plus a headroom of 10, internal/store.RetryHeadroom), or asynq would archive jobs
	// without a dead letter.
	MaxRetry  int
	RetryBase time.Duration // first backoff ceiling; default DefaultRetryBase (1s)
	RetryMax  time.Duration // backoff cap; default DefaultRetryMax (10m)

	ShutdownTimeout time.Duration // how long in-flight calls may finish; default 30s

	// TaskCheckInterval and DelayedTaskCheckInterval tune asynq's polling:
	// an idle worker picks a new job up within TaskCheckInterval, and a due
	// retry within DelayedTaskCheckInterval of its (whole-second) due time.
	// Defaults 20ms and 100ms.
	TaskCheckInterval        time.Duration
	DelayedTaskCheckInterval time.Duration

	// URLBatchWindow is how long the fleet's labels wait for their document
	// URL to be fetched with others in one GET /labels/{ids}: a batch goes
	// once URLBatchSize labels are pending or the oldest has waited this
	// long. Default DefaultURLBatchWindow. URLBatchSize caps a batch;
	// default (and the API's limit) 100. Every worker of the namespace
	// should use the same values.
	URLBatchWindow time.Duration
	URLBatchSize   int

	// DocumentWait is how long, with webhooks on, a created label's
	// label.completed event waits for its document URL before it is sent
	// without it (label.document follows when the URL comes); default
	// store.DefaultDocumentWait (60s). The worker sweeps for labels whose
	// wait has run out.
	DocumentWait time.Duration

	// Tracking configures the follow-up of created labels by
	// GET /tracking/{id} (tracking.go); the zero value follows none.
	Tracking TrackingConfig

	// Accounts, when not nil (even empty), runs the fleet's other Flex
	// Forward accounts besides the namespace's own (accounts.go): the
	// worker then also serves the accounts' shared queues and runs the
	// release scheduler, and SetAccounts changes the set while it runs.
	// API may then be nil: the namespace's own account is not configured,
	// and a job of it waits (it should have none: producers are refused
	// it). Documents are fetched and labels followed (Tracking) for every
	// account, each with its own token and budget; webhook events are the
	// namespace's own account's only, for now.
	Accounts []Account
}

// Observer receives what the worker does, for metrics. Implementations must
// be safe for concurrent use.
type Observer interface {
	// account is the Flex Forward account of the call or job
	// (queue.DefaultAccount for the namespace's own).
	APICall(account, endpoint string, status int, d time.Duration)
	Outcome(account, queueName, outcome string) // created, retry, rate_limited
	DeadLettered(account, queueName string, reason queue.Reason)
	BudgetWait(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) APICall(string, string, int, time.Duration) {}
func (nopObserver) Outcome(string, string, string)             {}
func (nopObserver) DeadLettered(string, string, queue.Reason)  {}
func (nopObserver) BudgetWait(time.Duration)                   {}

// Worker processes label jobs.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	obs      Observer
	policy   retryPolicy
	st       *store.Store // the queue's records: the worker's bookkeeping
	lanes    *lanes
	outage   throttle     // the "recording failed" lines
	asynqLog *asynqLogger // shared by the lanes' servers, so throttled together
	// stopping ends when Shutdown starts: jobs waiting for the budget are
	// handed back then.
	stopping context.Context
	stop     context.CancelFunc
	docs     *documentFetcher
	sweep    *documentSweeper

	// multi: Config.Accounts was set. accts holds every account the
	// worker serves, the namespace's own under DefaultAccount.
	multi    bool
	accts    accounts
	running  atomic.Bool   // between Start and Shutdown: new accounts' fetchers and trackers start
	released chan struct{} // closed when releaseLoop returns
	// releaseCap is the most released jobs pending (SetAccounts sets it).
	releaseCap atomic.Int64
}

// New validates cfg and returns a Worker ready to Start.
func New(cfg Config) (*Worker, error) {
	if cfg.Queue == nil || cfg.Budget == nil || (cfg.API == nil && cfg.Accounts == nil) {
		return nil, errors.New("worker: Queue, API and Budget are required (API may be nil with Accounts)")
	}
	if a := cfg.Queue.Account(); a != queue.DefaultAccount {
		return nil, fmt.Errorf("worker: Config.Queue is account %s's; give the namespace's own (its other accounts go in Accounts)", a)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopObserver{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.BulkServers <= 0 {
		cfg.BulkServers = 2
	}
	cfg.BulkServers = min(cfg.BulkServers, cfg.Concurrency)
	if cfg.InteractiveConcurrency <= 0 {
		cfg.InteractiveConcurrency = max(2, cfg.Concurrency/4)
	}
	def(&cfg.APITimeout, 30*time.Second)
	if cfg.LaneLimit <= 0 {
		cfg.LaneLimit = defaultLaneLimit(cfg.Budget.rate(), cfg.APITimeout)
	}
	def(&cfg.DocumentWait, DefaultDocumentWait)
	if err := trackingDefaults(&cfg.Tracking); err != nil {
		return nil, err
	}
	// With tracking on, Complete schedules the first checks.
	st, err := storeOf(cfg.Queue, cfg.DocumentWait, cfg.Tracking.storeOptions())
	if err != nil {
		return nil, err
	}
	queueMax := st.Options().MaxRetry
	if cfg.MaxRetry == 0 {
		cfg.MaxRetry = queueMax
	}
	if cfg.MaxRetry < 1 {
		return nil, fmt.Errorf("worker: MaxRetry must be at least 1, got %d", cfg.MaxRetry)
	}
	if limit := queueMax + store.RetryHeadroom; cfg.MaxRetry > limit {
		return nil, fmt.Errorf("worker: MaxRetry %d is more than the queue's tasks allow asynq (%d: the queue's MaxRetry %d plus %d headroom); asynq would archive jobs without a dead letter",
			cfg.MaxRetry, limit, queueMax, store.RetryHeadroom)
	}
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.ShutdownTimeout, 30*time.Second)
	def(&cfg.TaskCheckInterval, 20*time.Millisecond)
	def(&cfg.DelayedTaskCheckInterval, 100*time.Millisecond)
	def(&cfg.URLBatchWindow, DefaultURLBatchWindow)
	if cfg.URLBatchSize <= 0 {
		cfg.URLBatchSize = 100
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, obs: cfg.Metrics, st: st,
		policy: retryPolicy{maxRetry: cfg.MaxRetry, base: cfg.RetryBase, max: cfg.RetryMax},
		multi:  cfg.Accounts != nil, released: make(chan struct{})}
	own := &account{name: queue.DefaultAccount, st: st, api: cfg.API, budget: cfg.Budget, rate: cfg.Budget.rate()}
	w.accts.by = map[string]*account{queue.DefaultAccount: own}
	w.docs = newDocumentFetcher(w, own)
	own.docs = w.docs
	w.sweep = newDocumentSweeper(w)
	if own.trk, err = newTracker(w, own); err != nil {
		return nil, err
	}
	// The label lanes: asynq servers, one queue each (no wasted round
	// trip on an empty queue). Priority for the API itself is the
	// Budget's: while an interactive job waits for a slot, bulk jobs hold
	// back.
	w.stopping, w.stop = context.WithCancel(context.Background())
	w.asynqLog = newAsynqLogger(cfg.Logger)
	w.lanes = newLanes(w)
	if w.multi {
		if err := w.SetAccounts(context.Background(), cfg.Accounts); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Start begins processing in the background. It returns once the asynq
// server is running; an unreachable Redis is an error here.
func (w *Worker) Start() error {
	if err := w.lanes.start(); err != nil {
		return err
	}
	w.running.Store(true)
	w.accts.mu.RLock()
	for _, acc := range w.accts.by {
		if acc.api != nil {
			acc.docs.start()
		}
		if acc.trk != nil {
			acc.trk.start()
		}
	}
	w.accts.mu.RUnlock()
	if w.multi {
		go w.releaseLoop()
	} else {
		close(w.released)
	}
	w.sweep.start()
	w.log.Info("worker started",
		slog.Int("concurrency", w.cfg.Concurrency),
		slog.Int("interactive_concurrency", w.cfg.InteractiveConcurrency),
		slog.String("queue", w.st.Name(queue.Interactive)),
		slog.String("bulk_queue", w.st.Name(queue.Bulk)))
	return nil
}

// Shutdown stops taking jobs, lets in-flight calls finish within the
// shutdown timeout (asynq requeues any still running), finishes the
// document batch in hand, if any (the labels still pending are fetched by
// another worker, or this one's next start), and stops sweeping for labels
// whose document wait ran out (another worker, or this one's next start,
// sweeps them). Tracking checks in flight finish; no new one starts.
func (w *Worker) Shutdown() {
	w.log.Info("worker stopping", slog.Duration("shutdown_timeout", w.cfg.ShutdownTimeout))
	w.stop() // jobs waiting for the budget are handed back
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.lanes.shutdown() }()
	for _, t := range w.trackers() {
		wg.Add(1)
		go func() { defer wg.Done(); t.stop() }()
	}
	wg.Wait()
	w.running.Store(false)
	<-w.released
	w.accts.mu.RLock()
	for _, acc := range w.accts.by {
		acc.docs.stop()
		if acc.trk != nil {
			acc.trk.stop() // one SetAccounts started meanwhile
		}
	}
	w.accts.mu.RUnlock()
	w.sweep.stop()
	w.log.Info("worker stopped")
}

// unknownAccountWait is how long a job of an account the worker does not
// have waits before it is tried again.
const unknownAccountWait = 30 * time.Second

// Control-flow errors the handler returns to asynq, one per decision of the
// retry policy that runs the job again; retryDelay and isFailure read them.
type (
	// retryError: a failed attempt, run again after the policy's backoff.
	retryError struct {
		after time.Duration
		err   error
	}
	// waitError: not a failed attempt (429, rate budget); run again after the delay.
	waitError struct {
		after time.Duration
		err   error
	}
)

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }
func (e *waitError) Error() string  { return e.err.Error() }
func (e *waitError) Unwrap() error  { return e.err }

// deadLettered is returned once the job's dead letter is recorded: asynq
// archives it (for the UI) and never retries it.
func deadLettered(reason string) error {
	return fmt.Errorf("dead-lettered (%s): %w", reason, asynq.SkipRetry)
}

func isFailure(err error) bool {
	var we *waitError
	return !errors.As(err, &we)
}

func (w *Worker) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var we *waitError
	if errors.As(err, &we) {
		return we.after
	}
	var re *retryError
	if errors.As(err, &re) {
		return re.after
	}
	// Not the handler's decision (a panic asynq recovered): a failed attempt.
	return w.policy.backoff(n)
}

// again maps a retry or wait decision onto the error asynq acts on.
func again(dec decision, err error) error {
	if dec.action == wait {
		return &waitError{after: dec.delay, err: err}
	}
	return &retryError{after: dec.delay, err: err}
}

// unrecorded is the retry for an outcome Redis did not take.
func (w *Worker) unrecorded(failed int, err error) error {
	return again(w.policy.decide(outcome{failed: failed, unrecorded: true}), err)
}

func (w *Worker) handleError(ctx context.Context, t *asynq.Task, err error) {
	if errors.Is(err, asynq.SkipRetry) {
		return // logged with its reason by the handler
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if retried >= maxRetry {
		key, _ := asynq.GetTaskID(ctx)
		w.log.Error("asynq archived a job without a dead letter (Redis failed while recording its outcome); redrive it from the asynq archive",
			slog.String("idempotency_key", key))
	}
}

// handle runs one attempt of a label job.
func (w *Worker) handle(ctx context.Context, t *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	qn, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	lane := queue.Interactive
	if strings.HasSuffix(qn, "-bulk") {
		lane = queue.Bulk
	}
	name, key := store.SplitTaskID(qn, id)
	log := &jobLog{l: w.log, ctx: ctx, attrs: make([]slog.Attr, 0, 9)}
	log.with(slog.String("idempotency_key", key), slog.String("queue", qn))
	if name != queue.DefaultAccount {
		log.with(slog.String("account", name))
	}
	acc := w.accts.get(name)
	if acc == nil || acc.api == nil {
		// Not configured here (removed from the accounts file, or this
		// worker's file is behind): not a failed attempt; the job waits
		// for its account to come back.
		log.Warn("job of an account this worker does not have; waiting for it to be configured", slog.Duration("retry_in", unknownAccountWait))
		return &waitError{after: unknownAccountWait, err: fmt.Errorf("account %q is not configured", name)}
	}

	job, err := store.DecodeJob(key, qn, t.Payload())
	if err != nil {
		job = &store.Job{Key: key, Queue: qn, Payload: t.Payload()}
		dec := w.policy.decide(outcome{api: flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonInvalid}})
		return w.deadLetter(ctx, log, acc, job, store.Failure{Reason: dec.reason, Message: err.Error()}, retried)
	}

	// One round trip takes the budget slot and counts the attempt (a job
	// the release scheduler released has its slot: the attempt only).
	wctx, release := w.untilStopping(ctx)
	slot, waited, err := w.takeSlot(wctx, log, acc, lane, job)
	release()
	w.obs.BudgetWait(waited)
	if err != nil && ctx.Err() == nil && w.stopping.Err() != nil {
		log.Info("worker stopping; job handed back before its API call")
		return &waitError{err: errHandedBack}
	}
	if err != nil {
		// Not a failed attempt: the call was never made.
		dec := w.policy.decide(outcome{api: flexapi.Decision{Class: flexapi.RateLimited}, failed: retried})
		return again(dec, fmt.Errorf("waiting for the rate budget: %w", err))
	}
	if slot.State == queue.StateCompleted || slot.State == queue.StateDead {
		log.Info("job already finished; not calling the API again", slog.String("state", string(slot.State)))
		if slot.State == queue.StateDead {
			return deadLettered("recorded earlier")
		}
		return nil
	}
	attempt := slot.Attempt
	log.with(slog.Int("attempt", attempt))

	l := w.lanes.ofQueue(qn)
	l.calling.Add(1)
	start := time.Now()
	label, err := acc.api.CreateLabelJSON(ctx, job.Payload)
	latency := time.Since(start)
	l.calling.Add(-1)
	w.lanes.observeCall(latency)
	d := flexapi.Classify(label, err)
	w.obs.APICall(acc.name, "create_label", d.StatusCode, latency)
	log.with(slog.Int("http_status", d.StatusCode), slog.Duration("latency", latency))

	dec := w.policy.decide(outcome{api: d, failed: retried})
	switch dec.action {
	case done:
		if err := w.record(ctx, log, func() error { return acc.st.Complete(ctx, job, label) }); err != nil {
			log.Error("label created but recording it failed; retrying (the API will replay it)", slog.String("error", err.Error()))
			return w.unrecorded(retried, err)
		}
		w.obs.Outcome(acc.name, qn, "created")
		log.Info("label created", slog.String("label_id", label.ID), slog.Bool("replayed", label.Replayed))
		return nil // Complete made its document pending for the fleet's fetch

	case wait: // a 429
		if perr := acc.budget.pause(ctx, dec.delay); perr != nil {
			log.Warn("could not set the fleet pause", slog.String("error", perr.Error()))
		}
		_ = acc.st.Fail(ctx, job, err.Error())
		w.obs.Outcome(acc.name, qn, "rate_limited")
		log.Warn("rate limited by the API; pausing the fleet", slog.Duration("retry_after", dec.delay))
		return again(dec, err)

	case retry:
		f := store.Failure{HTTPStatus: d.StatusCode, Message: err.Error(), Attempts: attempt}
		if ferr := acc.st.FailAttempt(ctx, job, f); ferr != nil {
			log.Warn("could not record the failure", slog.String("error", ferr.Error()))
		}
		w.obs.Outcome(acc.name, qn, "retry")
		log.Warn("transient failure; will retry", slog.String("error", err.Error()))
		return again(dec, err)

	default: // deadLetter
		return w.deadLetter(ctx, log, acc, job, failure(dec.reason, d, err, attempt), retried)
	}
}

// takeSlot takes the job's budget slot, and while Redis is unreachable
// waits for it within the job's own time, as record does: an error handed
// to asynq in an outage is one asynq cannot record either, and the job
// would wait for its lease to expire (a minute or two) to run again.
func (w *Worker) takeSlot(ctx context.Context, log *jobLog, acc *account, lane queue.Lane, job *store.Job) (store.Slot, time.Duration, error) {
	start := time.Now()
	delay := 100 * time.Millisecond
	for {
		slot, _, err := acc.budget.take(ctx, lane, job)
		if err == nil || ctx.Err() != nil || w.st.Ping(ctx) == nil {
			return slot, time.Since(start), err
		}
		if ok, suppressed := w.outage.allow(time.Now()); ok {
			log.Warn("taking a budget slot failed; retrying until Redis answers", slog.String("error", err.Error()),
				slog.Int("similar_lines_suppressed", suppressed))
		}
		if serr := sleep(ctx, delay); serr != nil {
			return slot, time.Since(start), err
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func failure(reason queue.Reason, d flexapi.Decision, err error, attempts int) store.Failure {
	f := store.Failure{Reason: reason, HTTPStatus: d.StatusCode, Attempts: attempts}
	var ae *flexapi.APIError
	var cr *flexapi.CourierRejectedError
	switch {
	case errors.As(err, &ae):
		f.Message, f.Details = ae.Message, ae.Details
	case errors.As(err, &cr) && cr.Label != nil && cr.Label.Error != nil:
		f.Message = cr.Label.Error.Code + ": " + cr.Label.Error.Message
	default:
		f.Message = err.Error()
	}
	return f
}

func (w *Worker) deadLetter(ctx context.Context, log *jobLog, acc *account, job *store.Job, f store.Failure, failed int) error {
	if err := w.record(ctx, log, func() error { return acc.st.DeadLetter(ctx, job, f) }); err != nil {
		// Never drop a failure: retry so the outcome is recorded next time.
		log.Error("could not record the dead letter; retrying", slog.String("error", err.Error()))
		return w.unrecorded(failed, err)
	}
	w.obs.DeadLettered(acc.name, job.Queue, f.Reason)
	log.Warn("dead-lettered", slog.String("reason", string(f.Reason)), slog.String("message", f.Message))
	return deadLettered(string(f.Reason))
}

// record writes an outcome to Redis, and while Redis is unreachable (or,
// with FLEXLABEL_REDIS_MIN_REPLICAS, fewer replicas than that acknowledge
// the write) keeps trying within the job's own time (its context) rather
// than giving up: the
// API call was made, and a job whose outcome is not recorded would otherwise
// wait for asynq's crash recovery (one to two minutes) to run again. asynq
// cannot retry its own bookkeeping after an outage (v0.26.0 cancels the
// context it retries with), so this keeps a short outage short.
//
// A write refused with READONLY is waited for the same way: the server
// answers but is a replica, which during a failover is the old primary (or a
// managed endpoint not yet moved to the new one). go-redis has already
// retried it, on fresh connections, and the failover client asks the
// sentinels again; once the primary takes writes, the write goes through.
// The outcome writes are safe to repeat (a completed job stays completed).
func (w *Worker) record(ctx context.Context, log *jobLog, write func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := write()
		if err == nil || ctx.Err() != nil {
			return err
		}
		// A replica as primary (READONLY, before the failover settles) or
		// too few replicas acknowledging is an outage of the writes:
		// waiting for them is what helps (every outcome script is
		// idempotent, so writing again is safe).
		if !redis.IsReadOnlyError(err) && !errors.Is(err, store.ErrTooFewReplicas) && w.st.Ping(ctx) == nil {
			return err // Redis answers and takes writes: not an outage, so waiting will not help
		}
		// One line a second for the whole worker: in an outage every job
		// in flight is here, and its line would say the same.
		if ok, suppressed := w.outage.allow(time.Now()); ok {
			log.Warn("recording the outcome failed; retrying until Redis takes it", slog.String("error", err.Error()),
				slog.Int("similar_lines_suppressed", suppressed))
		}
		if serr := sleep(ctx, delay); serr != nil {
			return err
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// throttle lets one line a second through, and counts the others.
type throttle struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one.
func (t *throttle) allow(now time.Time) (bool, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.last) < time.Second {
		t.suppressed++
		return false, 0
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	return true, n
}

// jobLog logs about one job. Its attributes are gathered as the job runs and
// rendered only when a line is written (slog's With would render them for
// every job, logged or not).
type jobLog struct {
	l     *slog.Logger
	ctx   context.Context
	attrs []slog.Attr
}

func (j *jobLog) with(a ...slog.Attr) { j.attrs = append(j.attrs, a...) }

func (j *jobLog) log(level slog.Level, msg string, a []slog.Attr) {
	if j.l.Enabled(j.ctx, level) {
		j.l.LogAttrs(j.ctx, level, msg, append(j.attrs[:len(j.attrs):len(j.attrs)], a...)...)
	}
}

func (j *jobLog) Info(msg string, a ...slog.Attr)  { j.log(slog.LevelInfo, msg, a) }
func (j *jobLog) Warn(msg string, a ...slog.Attr)  { j.log(slog.LevelWarn, msg, a) }
func (j *jobLog) Error(msg string, a ...slog.Attr) { j.log(slog.LevelError, msg, a) }

// AsynqLogger feeds asynq's own log lines into l, marked component=asynq:
// for every asynq server flexlabel runs (the label lanes here, webhook
// delivery in internal/hooks). Its warnings and errors are throttled: one
// line a second for each kind (the text before the first colon), with the
// count of those suppressed, since in a Redis outage every server's
// forwarder, heartbeat and dequeue loop each fail several times a second
// with the same error.
func AsynqLogger(l *slog.Logger) asynq.Logger { return newAsynqLogger(l) }

func newAsynqLogger(l *slog.Logger) *asynqLogger {
	return &asynqLogger{l: l, kinds: &kinds{by: map[string]*throttle{}}}
}

type asynqLogger struct {
	l     *slog.Logger
	kinds *kinds // shared by every logger made by with
}

// kinds are the throttles of asynq's lines, by kind.
type kinds struct {
	mu sync.Mutex
	by map[string]*throttle
}

func (k *kinds) of(kind string) *throttle {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.by[kind]
	if t == nil {
		if len(k.by) >= 100 { // kinds are few; never let them grow without bound
			clear(k.by)
		}
		t = &throttle{}
		k.by[kind] = t
	}
	return t
}

// with is the same throttled logger with attrs added to its lines.
func (a *asynqLogger) with(attrs ...any) *asynqLogger {
	return &asynqLogger{l: a.l.With(attrs...), kinds: a.kinds}
}

func (a *asynqLogger) throttled(level slog.Level, args []any) {
	msg := fmt.Sprint(args...)
	kind, _, _ := strings.Cut(msg, ":")
	ok, suppressed := a.kinds.of(kind).allow(time.Now())
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("component", "asynq")}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("similar_lines_suppressed", suppressed))
	}
	a.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (a *asynqLogger) Debug(args ...any) {
	a.l.Debug(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a *asynqLogger) Info(args ...any) {
	a.l.Info(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a *asynqLogger) Warn(args ...any)  { a.throttled(slog.LevelWarn, args) }
func (a *asynqLogger) Error(args ...any) { a.throttled(slog.LevelError, args) }
func (a *asynqLogger) Fatal(args ...any) { a.throttled(slog.LevelError, args) }

// storeOf is the store of q's namespace, account and options: the worker
// does its bookkeeping there, which package queue does not offer.
// tracking says which completed labels Complete schedules for tracking.
func storeOf(q *queue.Queue, documentWait time.Duration, tracking store.TrackingOptions) (*store.Store, error) {
	o := q.Options()
	return store.New(q.Redis(), store.Options{Namespace: o.Namespace, MaxRetry: o.MaxRetry, TaskTimeout: o.TaskTimeout,
		Retention: o.Retention, DocumentWait: documentWait, MinReplicas: o.MinReplicas, ReplicaTimeout: o.ReplicaTimeout,
		Account: o.Account, Tracking: tracking})
}

// trackers are the trackers of the worker's accounts.
func (w *Worker) trackers() []*tracker {
	w.accts.mu.RLock()
	defer w.accts.mu.RUnlock()
	var out []*tracker
	for _, acc := range w.accts.by {
		if acc.trk != nil {
			out = append(out, acc.trk)
		}
	}
	return out
}
