package worker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// This file runs several Flex Forward accounts on one fleet (issue 17,
// docs/ACCOUNTS.md). The namespace's own account ("default": Config's
// Queue, API and Budget) runs as a single-account setup always has: its
// jobs wait pending on its queues and take their budget slot in the
// handler. Every other account's jobs are held (internal/store, release.go)
// until the fleet's release scheduler, which every worker runs, takes the
// account's slot and makes one pending on the accounts' two shared queues:
// a released job calls the API at once, so no worker slot ever waits for
// an account's budget and one account's backlog cannot delay another's
// labels. A retry (asynq makes it pending by itself) takes its slot in the
// handler from its account's budget, and the scheduler holds that account
// back meanwhile. Every account's completed labels are followed by its own
// tracker (tracking.go), on what its budget leaves over: an idle slot is
// never granted while the account has jobs held.

// Account is one Flex Forward account of the fleet other than the
// namespace's own: its name, API client (its token and base URL) and
// budget in calls per second.
type Account struct {
	Name string
	API  LabelAPI
	Rate float64
}

// account is an account as the worker runs it.
type account struct {
	name   string
	st     *store.Store
	api    LabelAPI // nil: the account is not configured here (jobs wait)
	budget *Budget
	rate   float64
	docs   *documentFetcher // the account's document fetch; the default's is w.docs
	trk    *tracker         // the account's tracking follow-up; nil: tracking off
}

// accounts is the worker's set of accounts, replaced whole by SetAccounts.
type accounts struct {
	mu sync.RWMutex
	by map[string]*account
}

func (a *accounts) get(name string) *account {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.by[name]
}

// releaseBatch bounds the accounts one release call serves; a full batch
// is followed by another call at once.
const releaseBatch = 1000

// releaseBuffer is how long released jobs may wait for a worker, at the
// accounts' whole budget: the release scheduler stops releasing while more
// than that many (at least releaseBufferMin) are pending, so that an
// account's calls arrive spaced as they were released (store's Release).
const (
	releaseBuffer    = 50 * time.Millisecond
	releaseBufferMin = 32
)

// releaseIdle is the longest the scheduler sleeps with accounts to serve
// or none: a job held for an idle account waits at most this long.
const releaseIdle = 20 * time.Millisecond

// SetAccounts makes accs the fleet's other accounts, from now on: a new
// account's held jobs start to be released, a removed one's stay held
// (and its jobs already released wait) until it comes back, and a
// changed one (token, base URL or budget) runs with its new client and
// budget. Each account's document fetch and tracking follow-up run with
// it: started for a new account, stopped (after their calls in flight)
// for a removed or replaced one, whose followed shipments stay in its
// schedule until it comes back. With tracking on, every account's API
// must implement TrackingAPI. The names are checked as internal/accounts does.
//
// An Account named "default" (queue.DefaultAccount) replaces the
// namespace's own account (Config.API and Budget's rate) the same way, so
// that an accounts file may add it, rotate its token or change its
// rateLimit without a restart; with API nil it is not configured (its jobs
// wait, and producers must name an account). Absent, the namespace's own
// account stays as it is.
func (w *Worker) SetAccounts(ctx context.Context, accs []Account) error {
	if !w.multi {
		return fmt.Errorf("worker: SetAccounts needs a worker made with Config.Accounts set")
	}
	next := make(map[string]*account, len(accs))
	ivs := make(map[string]time.Duration, len(accs))
	var own *account // the namespace's own, when accs names it
	for _, a := range accs {
		if a.Name == queue.DefaultAccount {
			if own != nil {
				return fmt.Errorf("worker: account %s named twice", a.Name)
			}
			var err error
			if own, err = w.ownAccount(a); err != nil {
				return err
			}
			continue
		}
		switch {
		case !queue.ValidAccountName(a.Name):
			return fmt.Errorf("worker: account %q: a name is 1 to 32 of a-z, 0-9 and -", a.Name)
		case a.API == nil:
			return fmt.Errorf("worker: account %s: API is required", a.Name)
		case !(a.Rate > 0) || a.Rate > MaxRate:
			return fmt.Errorf("worker: account %s: rate budget must be above 0 and at most %d calls per second, got %v", a.Name, MaxRate, a.Rate)
		}
		if _, dup := next[a.Name]; dup {
			return fmt.Errorf("worker: account %s named twice", a.Name)
		}
		old := w.accts.get(a.Name)
		if old != nil && old.api == a.API && old.rate == a.Rate {
			next[a.Name] = old
		} else {
			acc, err := w.newAccount(a)
			if err != nil {
				return err
			}
			next[a.Name] = acc
		}
		ivs[a.Name] = next[a.Name].budget.interval
	}
	if own == nil {
		own = w.accts.get(queue.DefaultAccount)
	}
	if own.api != nil {
		// The namespace's own account is run too: producers may name it
		// (queue.CheckAccount). Its jobs are never held.
		ivs[queue.DefaultAccount] = own.budget.interval
	}
	if err := w.st.SetAccountIntervals(ctx, ivs); err != nil {
		return err
	}
	total := 0.0
	for _, acc := range next {
		total += acc.rate
	}
	w.releaseCap.Store(int64(max(releaseBufferMin, int(math.Ceil(total*releaseBuffer.Seconds())))))
	w.accts.mu.Lock()
	prev := w.accts.by
	by := map[string]*account{queue.DefaultAccount: own}
	maps.Copy(by, next)
	w.accts.by = by
	w.accts.mu.Unlock()

	var removed []string
	if old := prev[queue.DefaultAccount]; old != own {
		// its new client or budget, or no longer configured
		old.docs.stop()
		if old.trk != nil {
			old.trk.stop()
		}
	}
	for name, old := range prev {
		if name == queue.DefaultAccount {
			continue
		}
		if next[name] != old {
			// removed, or replaced by one with its new client or budget
			if old.docs != nil {
				old.docs.stop()
			}
			if old.trk != nil {
				old.trk.stop()
			}
		}
		if _, ok := next[name]; !ok {
			removed = append(removed, name)
		}
	}
	if own.api == nil {
		// The namespace's own account is not run here: producers must
		// name an account (queue.CheckAccount).
		removed = append(removed, queue.DefaultAccount)
	}
	if len(removed) > 0 {
		if err := w.st.DropAccountIntervals(ctx, removed); err != nil {
			w.log.Warn("removed accounts still have a budget in Redis; their held jobs may be released", slog.String("error", err.Error()))
		}
	}
	if w.running.Load() {
		for _, acc := range by {
			if acc.api == nil {
				continue
			}
			acc.docs.start()
			if acc.trk != nil {
				acc.trk.start()
			}
		}
	}
	slices.Sort(removed)
	w.log.Debug("accounts set", slog.Int("accounts", len(next)), slog.Any("removed", removed))
	return nil
}

func (w *Worker) newAccount(a Account) (*account, error) {
	qa, err := w.cfg.Queue.ForAccount(a.Name)
	if err != nil {
		return nil, err
	}
	// The worker's tracking options: the account's completed labels are
	// followed under its own keys.
	st, err := storeOf(qa, w.cfg.DocumentWait, w.cfg.Tracking.storeOptions())
	if err != nil {
		return nil, err
	}
	b, err := NewBudget(qa, a.Rate)
	if err != nil {
		return nil, err
	}
	acc := &account{name: a.Name, st: st, api: a.API, budget: b, rate: a.Rate}
	acc.docs = newDocumentFetcher(w, acc)
	if acc.trk, err = newTracker(w, acc); err != nil {
		return nil, err
	}
	return acc, nil
}

// TakeSlot blocks until the named account's budget grants one API call
// the worker does not make itself (the worker command's token check of an
// account at start and when its token changes), so that such a call never
// lands beside the account's own calls at the API's limit. It goes first,
// as an interactive label does. It fails when ctx ends, Redis cannot be
// reached, or the worker does not run the account.
func (w *Worker) TakeSlot(ctx context.Context, account string) error {
	acc := w.accts.get(account)
	if acc == nil || acc.api == nil {
		return fmt.Errorf("worker: account %q is not run by this worker", account)
	}
	_, err := acc.budget.wait(ctx, queue.Interactive)
	return err
}

// ownAccount is the namespace's own account as a (named "default") makes
// it: the one the worker runs while its client and budget stay, else a
// new one on the namespace's store, with its own document fetch and
// tracking follow-up; with a.API nil, one not configured.
func (w *Worker) ownAccount(a Account) (*account, error) {
	if a.API != nil && (!(a.Rate > 0) || a.Rate > MaxRate) {
		return nil, fmt.Errorf("worker: account %s: rate budget must be above 0 and at most %d calls per second, got %v", a.Name, MaxRate, a.Rate)
	}
	old := w.accts.get(queue.DefaultAccount)
	b := old.budget
	if a.API != nil && time.Duration(float64(time.Second)/a.Rate) != b.interval {
		var err error
		if b, err = NewBudget(w.cfg.Queue, a.Rate); err != nil {
			return nil, err
		}
	}
	if old.api == a.API && old.budget == b {
		return old, nil
	}
	acc := &account{name: queue.DefaultAccount, st: w.st, api: a.API, budget: b, rate: b.rate()}
	acc.docs = newDocumentFetcher(w, acc)
	if a.API == nil {
		return acc, nil
	}
	var err error
	if acc.trk, err = newTracker(w, acc); err != nil {
		return nil, err
	}
	return acc, nil
}

// releaseLoop is the worker's part of the fleet's release scheduler: until
// the worker stops, it releases every account's due job, then sleeps until
// the next account is due (at most releaseIdle). Every worker runs one;
// they share the work through the one script, with no leader.
func (w *Worker) releaseLoop() {
	defer close(w.released)
	for {
		n, next, err := w.st.Release(w.stopping, releaseBatch, int(w.releaseCap.Load()))
		if w.stopping.Err() != nil {
			return
		}
		d := releaseIdle
		switch {
		case err != nil:
			if ok, suppressed := w.outage.allow(time.Now()); ok {
				w.log.Warn("releasing the accounts' jobs failed; retrying", slog.String("error", err.Error()),
					slog.Int("similar_lines_suppressed", suppressed))
			}
			d = 500 * time.Millisecond
		case n >= releaseBatch:
			d = 0
		case next >= 0 && next < d:
			d = next
		}
		if d > 0 && sleep(w.stopping, d) != nil {
			return
		}
	}
}
