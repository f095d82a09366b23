package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// A lane can make at most (its slots ÷ the API's latency) calls per second:
// at 1 s latency the two interactive slots of the default concurrency make 2
// labels per second on a budget of 10. So each lane grows while its slots
// are all in API calls, none left waiting at the budget: then more calls in
// flight would use budget that now goes unused. A lane whose slots wait at
// the budget is big enough — the budget is the limit, not the lane — so a
// fleet of any size grows, together, to about budget × latency calls in
// flight (Little's law) plus the few waiting, and a lane alone can use the
// whole budget whatever the latency.
//
// asynq fixes a server's concurrency when it is made, so a lane grows by an
// asynq server of its own size (doubling it; more dequeue loops come with
// it), up to LaneLimit. It does not shrink until the worker restarts: a lane
// grown for a slow spell holds more jobs waiting at the budget, which costs
// goroutines, not calls.

// DefaultLaneLimitMax caps the default LaneLimit.
const DefaultLaneLimitMax = 4096

// laneCheckInterval is how often the lanes look whether to grow.
const laneCheckInterval = 200 * time.Millisecond

// LaneObserver receives the lanes' sizes, for metrics; a Config.Metrics
// that implements it is told each lane's slots at start and whenever one
// grows.
type LaneObserver interface {
	LaneSlots(lane string, slots int)
}

// lane is one label lane's asynq servers.
type lane struct {
	lane  queue.Lane
	queue string // the asynq queue it serves
	name  string // for logs and metrics: interactive, bulk, accounts-interactive, accounts-bulk
	limit int

	mu   sync.Mutex
	srvs []*asynq.Server
	size int // slots: the sum of srvs' concurrency

	// calling counts the lane's handlers in an API call now.
	calling atomic.Int64
}

// lanes are the worker's two label lanes and what grows them.
type lanes struct {
	w   *Worker
	mux *asynq.ServeMux
	all []*lane // interactive, bulk; then the accounts' interactive and bulk (Config.Accounts)
	// latency is the EWMA of the create calls' latency, in ns, for the log.
	latency atomic.Int64

	stop     chan struct{}
	done     chan struct{} // closed when grow returns
	stopOnce sync.Once
	started  atomic.Bool // grow runs: shutdown waits for it
}

func newLanes(w *Worker) *lanes {
	ls := &lanes{w: w, mux: asynq.NewServeMux(), stop: make(chan struct{}), done: make(chan struct{})}
	ls.mux.HandleFunc(store.TaskType, w.handle)
	cfg := w.cfg
	// The interactive lane's slots are its own, so a bulk run never
	// occupies what an order system's label needs. The bulk lane's start
	// on BulkServers servers: asynq dequeues one task per Redis round trip
	// in one loop per server.
	ls.all = append(ls.all, &lane{lane: queue.Interactive, queue: w.st.Name(queue.Interactive), name: "interactive",
		limit: max(cfg.LaneLimit, cfg.InteractiveConcurrency)})
	ls.all[0].add(w, cfg.InteractiveConcurrency)
	ls.all = append(ls.all, &lane{lane: queue.Bulk, queue: w.st.Name(queue.Bulk), name: "bulk", limit: max(cfg.LaneLimit, cfg.Concurrency)})
	ls.all[1].addSpread(w, cfg.Concurrency, cfg.BulkServers)
	if cfg.Accounts != nil {
		// The other accounts' jobs come released, their slot taken: these
		// lanes' slots are all in API calls or between jobs, and grow up
		// to the calls in flight of every account's budget.
		ia := &lane{lane: queue.Interactive, queue: w.st.AccountQueue("x", queue.Interactive), name: "accounts-interactive",
			limit: DefaultLaneLimitMax}
		ia.add(w, cfg.InteractiveConcurrency)
		ba := &lane{lane: queue.Bulk, queue: w.st.AccountQueue("x", queue.Bulk), name: "accounts-bulk", limit: DefaultLaneLimitMax}
		ba.addSpread(w, cfg.Concurrency, cfg.BulkServers)
		ls.all = append(ls.all, ia, ba)
	}
	return ls
}

// addSpread makes conc slots on n servers, the remainder on the first.
func (l *lane) addSpread(w *Worker, conc, n int) {
	for i := range n {
		c := conc / n
		if i < conc%n {
			c++
		}
		l.add(w, c)
	}
}

// of is the namespace's own account's lane of l.
func (ls *lanes) of(l queue.Lane) *lane {
	if l == queue.Bulk {
		return ls.all[1]
	}
	return ls.all[0]
}

// ofQueue is the lane serving the asynq queue qn (the interactive lane
// for a queue none serves).
func (ls *lanes) ofQueue(qn string) *lane {
	for _, l := range ls.all {
		if l.queue == qn {
			return l
		}
	}
	return ls.all[0]
}

// idleTaskCheck is how often the namespace's own account's lanes look
// for a job while their queues are empty when the worker starts without
// that account (an accounts file with no default): asynq's own default,
// rather than TaskCheckInterval's 20 ms, since their jobs wait anyway until
// the account is configured. Each idle server's look is a script call: at
// 20 ms, the three servers of those lanes made 150 a second per worker
// process for nothing.
const idleTaskCheck = time.Second

// ownAtStart reports whether the worker runs the namespace's own account
// from its start: Config.API, or an account named default in
// Config.Accounts.
func ownAtStart(cfg Config) bool {
	if cfg.API != nil {
		return true
	}
	for _, a := range cfg.Accounts {
		if a.Name == queue.DefaultAccount && a.API != nil {
			return true
		}
	}
	return false
}

// add makes (does not start) a server of conc slots for the lane.
func (l *lane) add(w *Worker, conc int) *asynq.Server {
	cfg := w.cfg
	check := cfg.TaskCheckInterval
	if !ownAtStart(cfg) && (l.name == "interactive" || l.name == "bulk") {
		check = max(check, idleTaskCheck)
	}
	srv := asynq.NewServerFromRedisClient(w.st.Redis(), asynq.Config{
		Concurrency:              conc,
		Queues:                   map[string]int{l.queue: 1},
		RetryDelayFunc:           w.retryDelay,
		IsFailure:                isFailure,
		ErrorHandler:             asynq.ErrorHandlerFunc(w.handleError),
		Logger:                   w.asynqLog.with(slog.String("lane", l.name)),
		LogLevel:                 asynq.InfoLevel,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        check,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		HealthCheckFunc: func(err error) {
			if err != nil {
				cfg.Logger.Error("redis unreachable; waiting for it", slog.String("error", err.Error()))
			}
		},
	})
	l.mu.Lock()
	l.srvs = append(l.srvs, srv)
	l.size += conc
	l.mu.Unlock()
	return srv
}

// start starts every server made so far, then the growing.
func (ls *lanes) start() error {
	var started []*asynq.Server
	for _, l := range ls.all {
		for _, srv := range l.servers() {
			if err := srv.Start(ls.mux); err != nil {
				for _, s := range started {
					s.Shutdown()
				}
				return fmt.Errorf("worker: starting: %w", err)
			}
			started = append(started, srv)
		}
	}
	ls.observe()
	ls.started.Store(true)
	go ls.grow()
	return nil
}

func (l *lane) servers() []*asynq.Server {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*asynq.Server(nil), l.srvs...)
}

func (l *lane) slots() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// observeCall records a create call's latency.
func (ls *lanes) observeCall(d time.Duration) {
	old := time.Duration(ls.latency.Load())
	if old == 0 {
		ls.latency.Store(int64(d))
		return
	}
	ls.latency.Store(int64(old + (d-old)/8))
}

func (ls *lanes) observe() {
	o, ok := ls.w.obs.(LaneObserver)
	if !ok {
		return
	}
	for _, l := range ls.all {
		o.LaneSlots(l.name, l.slots())
	}
}

// grow looks at the lanes every laneCheckInterval until shutdown.
func (ls *lanes) grow() {
	defer close(ls.done)
	tick := time.NewTicker(laneCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-tick.C:
		}
		for _, l := range ls.all {
			if n := l.want(); n > 0 {
				ls.addSlots(l, n)
			}
		}
	}
}

// want is how many slots the lane should gain now: as many as it has (up
// to its limit) when its slots are all in API calls but for a few (an
// eighth), which stay between jobs or wait at the budget.
func (l *lane) want() int {
	size := l.slots()
	if size >= l.limit || int(l.calling.Load()) < size-size/8 {
		return 0
	}
	return min(size, l.limit-size)
}

func (ls *lanes) addSlots(l *lane, n int) {
	select {
	case <-ls.stop:
		return // shutting down: no new server
	default:
	}
	srv := l.add(ls.w, n)
	if err := srv.Start(ls.mux); err != nil {
		// Redis is unreachable; the lane keeps its size and grows later.
		l.mu.Lock()
		l.srvs = l.srvs[:len(l.srvs)-1]
		l.size -= n
		l.mu.Unlock()
		ls.w.log.Warn("could not grow a lane", slog.String("lane", l.name), slog.String("error", err.Error()))
		return
	}
	ls.observe()
	ls.w.log.Info("lane grown: its slots were all in API calls",
		slog.String("lane", l.name), slog.Int("slots", l.slots()), slog.Int("limit", l.limit),
		slog.Duration("api_latency", time.Duration(ls.latency.Load()).Round(time.Millisecond)))
}

// shutdown stops the growing and every server, in parallel; each lets its
// calls in flight finish within the shutdown timeout.
func (ls *lanes) shutdown() {
	ls.stopOnce.Do(func() { close(ls.stop) })
	if ls.started.Load() {
		<-ls.done
	}
	var wg sync.WaitGroup
	for _, l := range ls.all {
		for _, srv := range l.servers() {
			wg.Add(1)
			go func() { defer wg.Done(); srv.Shutdown() }()
		}
	}
	wg.Wait()
}

// defaultLaneLimit is the calls in flight that keep a budget of rate busy
// at the API's timeout (every call as slow as allowed), with a quarter
// again as headroom, capped at DefaultLaneLimitMax.
func defaultLaneLimit(rate float64, apiTimeout time.Duration) int {
	n := math.Ceil(rate * apiTimeout.Seconds() * 1.25)
	if n > DefaultLaneLimitMax || math.IsNaN(n) {
		return DefaultLaneLimitMax
	}
	return int(n)
}

// errHandedBack is the error of a job handed back at shutdown while it waited
// for the budget: not a failed attempt (no call was made), run again at
// once by another worker or this one's next start.
var errHandedBack = errors.New("worker stopping: handed back before its API call")

// untilStopping is ctx ended also when the worker starts shutting down: a
// job waiting for the budget is handed back at once rather than holding its
// slot through the shutdown timeout.
func (w *Worker) untilStopping(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(w.stopping, cancel)
	return c, func() { stop(); cancel() }
}
