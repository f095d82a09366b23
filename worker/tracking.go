package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// This file is the tracking follow-up (issue 16): every completed label the
// configuration follows is polled with GET /tracking/{id} on the cadence of
// the API's tracking guide, with the budget that labels leave over.
//
// completeScript schedules a followed label's first check in the same step
// that records the label (store.TrackingOptions). The poller here finds due
// checks in Redis (one cheap read), takes an idle budget slot (takeIdle:
// granted only while no label caller waits, and for an account other than
// the namespace's own while none of its jobs is held for the release
// scheduler, so tracking never delays a label), claims one due key with a lease (its score moves to now + lease,
// so a worker killed mid-poll loses nothing: the key comes due again),
// polls, and writes the tracking, the next due time and any
// tracking.updated event in one script (store.FinishTracking). Any number of
// workers poll the same schedule; each check is made by one of them.
//
// Errors of a poll:
//   - 404: the API does not know the label (it never will): the follow-up
//     stops, the tracking as last polled stays, with nextCheckAt null.
//   - 401 or 403: the token may not read it — a token problem an operator
//     fixes (label jobs dead-letter as auth meanwhile): checked again on
//     the cadence of its tag, as if polled.
//   - 429: the fleet pause (Budget.pause); the check stays due at its due
//     time, first in line.
//   - 5xx, network, timeout: checked again after the shortest interval
//     (15 minutes over the speedup); the key is never lost.

// TrackingAPI is the part of the Flex Forward API the tracking poller calls;
// *flexapi.Client implements it.
type TrackingAPI interface {
	GetTracking(ctx context.Context, id string) (*flexapi.Tracking, error)
}

// TrackingObserver receives what the tracking poller does, for metrics,
// with the account whose label was polled (issue 17); a
// Config.Metrics that implements it gets these calls too.
type TrackingObserver interface {
	// TrackingPoll is one GET /tracking/{id}: its result (one of the
	// TrackingPoll* constants) and its lateness, how long after the check
	// was due it was made.
	TrackingPoll(account, result string, lateness time.Duration)
}

// Results of a tracking poll, the label of flexlabel_tracking_polls_total.
const (
	TrackingPollOK          = "ok"
	TrackingPollNotFound    = "not_found"
	TrackingPollForbidden   = "forbidden"
	TrackingPollRateLimited = "rate_limited"
	TrackingPollError       = "error"
)

// DefaultTrackingMaxAge is the default of TrackingConfig.MaxAge and of
// FLEXLABEL_TRACKING_MAX_AGE: 30 days.
const DefaultTrackingMaxAge = 720 * time.Hour

// TrackingConfig configures the tracking follow-up. The zero value follows
// nothing; the commands turn it on with FLEXLABEL_TRACKING (default on).
type TrackingConfig struct {
	// On follows every label completed from now on whose key has
	// KeyPrefix ("": every key).
	On        bool
	KeyPrefix string
	// MaxAge is how long after its creation a label is followed at most;
	// default DefaultTrackingMaxAge.
	MaxAge time.Duration
	// Speedup divides every cadence interval (for tests and demos: 3600
	// makes an hour a second); default 1, at least 1.
	Speedup float64
	// API is polled for the namespace's own account; default Config.API,
	// which must then implement TrackingAPI. Another account's labels are
	// polled with its Account.API, which must implement TrackingAPI too.
	API TrackingAPI
	// Lease is how long a claimed check stays with its poller before
	// another may claim it (its poller was killed); default 2m. A poll's
	// call is bounded by half of it.
	Lease time.Duration
	// MaxPolls caps the polls in flight; default 32. The pool is sized
	// below it from the budget and the latency observed (Little's law).
	MaxPolls int
}

// cadence is the API's tracking guide: how long after a poll that found
// tag the next one is due, drawn uniformly in [lo, hi], and whether the
// shipment is still followed. A tag the API added later (flexapi reports
// it as Unknown) is polled like InTransit. No interval is below 15 minutes:
// polling more often yields nothing new.
func cadence(tag string) (lo, hi time.Duration, follow bool) {
	switch tag {
	case flexapi.TagDelivered, flexapi.TagCancelled:
		return 0, 0, false
	case flexapi.TagPending, flexapi.TagInfoReceived:
		return 4 * time.Hour, 6 * time.Hour, true
	case flexapi.TagException:
		return 15 * time.Minute, 30 * time.Minute, true
	default: // InTransit, Unknown
		return 30 * time.Minute, 60 * time.Minute, true
	}
}

// minCadence is the shortest interval of the cadence.
const minCadence = 15 * time.Minute

// tracker is the tracking poller of one account in one worker: a small
// pool of pollers, sized from the account's budget and the latency a check
// takes. Every account the worker runs has one (issue 17): its labels are
// followed under its own keys (fl:<ns>@<account>:trk:…), polled with its
// own token, on what its own budget leaves over.
type tracker struct {
	w   *Worker
	cfg TrackingConfig
	// the account's store, API and budget
	st     *store.Store
	api    TrackingAPI
	budget *Budget
	log    *slog.Logger
	obs    TrackingObserver // nil: none
	acct   string           // the account's name, for obs
	rate   float64          // the budget, calls per second
	// started is set by start: a second start does nothing.
	started atomic.Bool

	ctx    context.Context // ended by stop: no new check starts
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running int
	// inFlight counts the pollers between the due check and the end of a
	// check: no more go for a slot than checks are due.
	inFlight atomic.Int64
	// busy is the EWMA of how long a check holds a poller once it has its
	// slot (claim, call, write), in ns: the latency of Little's law.
	busy atomic.Int64

	// The schedule as last read while nothing was due (nextDue): shared
	// by the pollers until idleUntil.
	idleMu    sync.Mutex
	idleUntil time.Time
	idleDue   time.Time
	idleOK    bool
}

// newTracker returns the poller of w's account acc, or nil when tracking
// is off or acc is the namespace's own account and not configured
// (Config.API nil with Accounts: it makes no labels to follow).
func newTracker(w *Worker, acc *account) (*tracker, error) {
	c := w.cfg.Tracking
	if !c.On {
		return nil, nil
	}
	own := acc.name == queue.DefaultAccount
	api := c.API
	if !own || api == nil {
		if acc.api == nil {
			return nil, nil
		}
		a, ok := acc.api.(TrackingAPI)
		switch {
		case !ok && own:
			return nil, errors.New("worker: tracking is on, but the API has no GetTracking: set Tracking.API")
		case !ok:
			return nil, fmt.Errorf("worker: account %s: tracking is on, but its API has no GetTracking", acc.name)
		}
		api = a
	}
	c.API = api
	log := w.log
	if !own {
		log = log.With(slog.String("account", acc.name))
	}
	t := &tracker{w: w, cfg: c, st: acc.st, api: api, budget: acc.budget, log: log, rate: acc.budget.rate(), acct: acc.name}
	t.obs, _ = w.cfg.Metrics.(TrackingObserver)
	t.busy.Store(int64(100 * time.Millisecond))
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// trackingDefaults fills in c's defaults and validates it.
func trackingDefaults(c *TrackingConfig) error {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultTrackingMaxAge
	}
	if c.Speedup == 0 {
		c.Speedup = 1
	}
	if !(c.Speedup >= 1) || math.IsInf(c.Speedup, 0) {
		return fmt.Errorf("worker: Tracking.Speedup must be a number of at least 1, got %v", c.Speedup)
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.MaxPolls <= 0 {
		c.MaxPolls = 32
	}
	return nil
}

// storeOptions are what Complete needs to schedule a followed label's
// first check: created with tag InfoReceived, so due by its cadence.
func (c TrackingConfig) storeOptions() store.TrackingOptions {
	lo, hi, _ := cadence(flexapi.TagInfoReceived)
	return store.TrackingOptions{On: c.On, KeyPrefix: c.KeyPrefix, FirstCheckMin: c.scale(lo), FirstCheckMax: c.scale(hi)}
}

func (c TrackingConfig) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Speedup)
}

// rate is the budget in calls per second, for sizing the tracking pool.
func (b *Budget) rate() float64 { return float64(time.Second) / float64(b.interval) }

// start starts the pool; a second start does nothing.
func (t *tracker) start() {
	if t.started.CompareAndSwap(false, true) {
		t.wg.Add(1)
		go t.size()
	}
}

// stop lets the checks in flight finish (each within half the lease) and
// starts no new one. It may be called more than once, and on a tracker
// never started.
func (t *tracker) stop() {
	t.cancel()
	t.wg.Wait()
}

// target is the pool size: the checks in flight that keep the budget busy
// (rate × the time a check holds its poller) with half again as headroom,
// plus one poller waiting at the budget.
func (t *tracker) target() int {
	inFlight := t.rate * time.Duration(t.busy.Load()).Seconds() * 1.5
	return min(max(int(math.Ceil(inFlight))+1, 1), t.cfg.MaxPolls)
}

// size starts pollers up to the target, and again as the latency observed
// moves it; pollers above the target end themselves.
func (t *tracker) size() {
	defer t.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		for n := t.target(); t.running < n; t.running++ {
			t.wg.Add(1)
			go t.poller()
		}
		t.mu.Unlock()
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// surplus reports (and counts out) a poller the pool no longer needs.
func (t *tracker) surplus() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running > t.target() {
		t.running--
		return true
	}
	return false
}

// idleCheck is how often a poller with nothing due looks again: often
// enough to catch a new label's first check soon (none comes due sooner
// than the shortest interval, 15 minutes: at most 10 s late is 1 % of it),
// rarely enough to cost nothing with hundreds of accounts (nextDue).
func (t *tracker) idleCheck() time.Duration {
	return min(max(t.cfg.scale(minCadence)/4, 5*time.Millisecond), idleCheckMax)
}

// idleCheckMax bounds idleCheck. (It was 1 s: 200 idle accounts' pollers
// then read the schedule 200 times a second per worker.)
const idleCheckMax = 10 * time.Second

func (t *tracker) poller() {
	defer t.wg.Done()
	failing := false
	for t.ctx.Err() == nil {
		if t.surplus() {
			return
		}
		due, ok, err := t.nextDue()
		if err != nil {
			if !failing && t.ctx.Err() == nil {
				t.log.Warn("tracking: could not read the schedule; retrying", slog.String("error", err.Error()))
			}
			failing = true
			_ = sleep(t.ctx, time.Second)
			continue
		}
		failing = false
		if wait := time.Until(due); !ok || wait > 0 {
			if !ok {
				wait = t.idleCheck()
			}
			_ = sleep(t.ctx, min(wait, t.idleCheck()))
			continue
		}
		if !t.enter() {
			_ = sleep(t.ctx, t.idleCheck())
			continue
		}
		t.takeAndCheck()
		t.inFlight.Add(-1)
	}
}

// nextDue reads when the account's next check is due (ok false: nothing
// is followed). While nothing is due the pollers share one read for up to
// idleCheck — no check comes due sooner than that after it was last read
// (a new label's first check is a cadence away, a lease's end minutes) —
// and one of them reads while the others wait for its answer, so an idle
// account costs one read per idleCheck, not one per poller (measured: 200
// idle accounts' trackers made 600 reads a second per worker, three
// pollers each reading every second).
func (t *tracker) nextDue() (time.Time, bool, error) {
	t.idleMu.Lock()
	defer t.idleMu.Unlock()
	if time.Now().Before(t.idleUntil) {
		return t.idleDue, t.idleOK, nil
	}
	due, ok, err := t.st.NextTrackingDue(t.ctx)
	if err != nil {
		return due, ok, err
	}
	now := time.Now()
	t.idleUntil = time.Time{}
	if !ok || due.After(now) {
		until := now.Add(t.idleCheck())
		if ok && due.Before(until) {
			until = due
		}
		t.idleUntil, t.idleDue, t.idleOK = until, due, ok
	}
	return due, ok, nil
}

// enter admits the poller to a check if fewer pollers of this worker are
// at one than checks are due.
func (t *tracker) enter() bool {
	n := t.inFlight.Add(1)
	due, err := t.st.DueTrackingChecks(t.ctx, time.Now())
	if err != nil || n > due {
		t.inFlight.Add(-1)
		return false
	}
	return true
}

// takeAndCheck takes an idle slot and makes one due check.
func (t *tracker) takeAndCheck() {
	if _, err := t.budget.takeIdle(t.ctx); err != nil {
		if t.ctx.Err() == nil {
			_ = sleep(t.ctx, time.Second)
		}
		return
	}
	start := time.Now()
	// From here the check runs to its end even when the worker stops: its
	// slot is taken, and its claim would otherwise wait out the lease.
	if t.checkOne() {
		t.observeBusy(time.Since(start))
	}
}

func (t *tracker) observeBusy(d time.Duration) {
	old := time.Duration(t.busy.Load())
	t.busy.Store(int64(old + (d-old)/5))
}

// checkOne claims a due check and makes it; false when none was left.
func (t *tracker) checkOne() bool {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Lease/2)
	defer cancel()
	now := time.Now()
	c, err := t.st.ClaimTracking(ctx, now, t.cfg.Lease)
	if err != nil {
		t.log.Warn("tracking: could not claim a check", slog.String("error", err.Error()))
		return false
	}
	if c == nil {
		return false // another poller took the last due one
	}
	log := t.log.With(slog.String("idempotency_key", c.Key))
	u, result := t.check(ctx, log, c, now)
	if result != "" && t.obs != nil {
		t.obs.TrackingPoll(t.acct, result, max(now.Sub(c.DueAt), 0))
	}
	ok, err := t.st.FinishTracking(ctx, c, u)
	switch {
	case err != nil:
		// The claim stays: the key comes due again when the lease ends.
		log.Warn("tracking: could not record the check; it comes due again after the lease",
			slog.String("error", err.Error()), slog.Duration("lease", t.cfg.Lease))
	case !ok:
		log.Warn("tracking: the check took longer than its lease and another poller claimed it; its outcome is dropped")
	}
	return true
}

// check polls one claimed shipment and returns what to record, and the
// poll's result ("" when no call was made).
func (t *tracker) check(ctx context.Context, log *slog.Logger, c *store.TrackingClaim, now time.Time) (store.TrackingUpdate, string) {
	deadline := c.CreatedAt.Add(t.cfg.MaxAge)
	if !now.Before(deadline) {
		log.Debug("tracking: age limit reached; no longer followed", slog.Duration("max_age", t.cfg.MaxAge))
		return keep(c.Tracking, nil), ""
	}
	start := time.Now()
	tr, err := t.api.GetTracking(ctx, c.LabelID)
	var rl *flexapi.RateLimitError
	var ae *flexapi.APIError
	status := 0
	switch {
	case err == nil:
		status = 200
	case errors.As(err, &rl):
		status = rl.StatusCode
	case errors.As(err, &ae):
		status = ae.StatusCode
	}
	t.w.obs.APICall(t.st.Account(), "get_tracking", status, time.Since(start))
	switch {
	case err == nil:
		cur := fromAPI(tr, time.Now())
		cur.NextCheckAt = t.next(cur.Tag, deadline)
		if cur.NextCheckAt == nil {
			log.Debug("tracking: no longer followed", slog.String("tag", cur.Tag))
		}
		return store.TrackingUpdate{Tracking: cur, Next: cur.NextCheckAt}, TrackingPollOK
	case errors.As(err, &rl):
		pause := rl.RetryAfter
		if pause <= 0 {
			pause = time.Second
		}
		if perr := t.budget.pause(ctx, pause); perr != nil {
			log.Warn("could not set the fleet pause", slog.String("error", perr.Error()))
		}
		log.Warn("tracking: rate limited by the API; pausing the fleet", slog.Duration("retry_after", pause))
		due := c.DueAt.UTC()
		return keep(c.Tracking, &due), TrackingPollRateLimited
	case errors.As(err, &ae) && ae.StatusCode == 404:
		log.Warn("tracking: the API does not know the label; no longer followed", slog.String("label_id", c.LabelID))
		return keep(c.Tracking, nil), TrackingPollNotFound
	case errors.As(err, &ae) && (ae.StatusCode == 401 || ae.StatusCode == 403):
		tag := flexapi.TagInfoReceived
		if c.Tracking != nil {
			tag = c.Tracking.Tag
		}
		next := t.next(tag, deadline)
		log.Warn("tracking: the token may not read this label's tracking; checking again later",
			slog.Int("http_status", ae.StatusCode), slog.String("label_id", c.LabelID))
		return keep(c.Tracking, next), TrackingPollForbidden
	default:
		next := time.Now().Add(t.cfg.scale(minCadence)).UTC().Truncate(time.Millisecond)
		log.Warn("tracking: poll failed; checking again later", slog.String("error", err.Error()), slog.Time("next_check", next))
		return keep(c.Tracking, &next), TrackingPollError
	}
}

// next is when a shipment last found with tag is checked again, or nil
// when it is no longer followed (its tag is final, or the age limit comes
// first).
func (t *tracker) next(tag string, deadline time.Time) *time.Time {
	lo, hi, follow := cadence(tag)
	if !follow {
		return nil
	}
	n := time.Now().Add(t.cfg.scale(lo + rand.N(hi-lo+1))).UTC().Truncate(time.Millisecond)
	if !n.Before(deadline) {
		return nil
	}
	return &n
}

// keep is the update that changes nothing but the next check.
func keep(old *store.Tracking, next *time.Time) store.TrackingUpdate {
	if old == nil {
		return store.TrackingUpdate{Next: next}
	}
	cp := *old
	cp.NextCheckAt = next
	return store.TrackingUpdate{Tracking: &cp, Next: next}
}

// fromAPI is the API's tracking as status shows it.
func fromAPI(tr *flexapi.Tracking, now time.Time) *store.Tracking {
	out := &store.Tracking{Tag: tr.Tag, Subtag: tr.Subtag, SubtagMessage: tr.SubtagMessage,
		Checkpoints: tr.Checkpoints, CheckedAt: now.UTC().Truncate(time.Millisecond)}
	if tr.TrackingNumber != nil {
		out.TrackingNumber = *tr.TrackingNumber
	}
	if out.Checkpoints == nil {
		out.Checkpoints = []flexapi.Checkpoint{}
	}
	return out
}
