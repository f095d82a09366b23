package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// Budget is the Flex Forward call budget of one account, shared by every
// worker process on the same Redis: at most Rate calls in any sliding second
// (GCRA with a burst of one, in Redis), plus a fleet-wide pause that a 429
// sets. Interactive callers go first: while one waits, bulk callers hold
// back, so a bulk run delays an order system's label by a slot or two.
// Within a process one caller per lane polls Redis at a time (the lane's
// gate); the others queue in the process, so a lane grown to hundreds of
// jobs waiting at the budget costs Redis no more than one.
// Tracking polls come last (takeIdle): they take only slots no label
// caller is waiting for.
//
// A job's way to its API call is one round trip: store.TakeSlot reads the
// pause, takes the slot and counts the attempt in one script. Only the
// worker it is given to takes slots and sets the pause: a Budget has no
// exported methods (a call no worker makes takes its slot with TakeSlot).
type Budget struct {
	st       *store.Store
	interval time.Duration
	// gates let one caller per lane and process poll for a slot at a
	// time (interactive, bulk): the others queue here, in order, instead of
	// all waking for every slot, which costs a round trip each and on a
	// busy machine makes the winner late and the slot partly wasted.
	gates [2]chan struct{}
}

// NewBudget returns the budget of rate calls per second for the queue's
// namespace; rate is above 0 and at most MaxRate.
func NewBudget(q *queue.Queue, rate float64) (*Budget, error) {
	if !(rate > 0) || rate > MaxRate {
		return nil, fmt.Errorf("worker: rate budget must be above 0 and at most %d calls per second, got %v", MaxRate, rate)
	}
	return newBudget(q, rate)
}

// newBudget is NewBudget without the bound, for benchmarks that measure the
// worker with the budget out of the way (up to 1e6/s, the budget script's
// microsecond resolution).
func newBudget(q *queue.Queue, rate float64) (*Budget, error) {
	st, err := storeOf(q, 0, store.TrackingOptions{})
	if err != nil {
		return nil, err
	}
	return &Budget{
		st:       st,
		interval: time.Duration(float64(time.Second) / rate),
		gates:    [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},
	}, nil
}

// TakeSlot blocks until the budget of q's account at rate calls per
// second grants one API call that no worker makes — the worker command's
// token check at start, doctor's — so that it never lands beside the
// fleet's own calls at the API's limit. It goes first, as an interactive
// label does. It fails when ctx ends, Redis cannot be reached or rate is
// out of NewBudget's bounds.
func TakeSlot(ctx context.Context, q *queue.Queue, rate float64) error {
	b, err := NewBudget(q, rate)
	if err != nil {
		return err
	}
	_, err = b.wait(ctx, queue.Interactive)
	return err
}

// wait blocks until the caller may make one API call, and returns how long it
// waited. It fails only when ctx ends or Redis is unreachable.
func (b *Budget) wait(ctx context.Context, lane queue.Lane) (time.Duration, error) {
	_, waited, err := b.take(ctx, lane, nil)
	return waited, err
}

// take blocks until the caller may make one API call for job (nil: a call
// for no job, such as a batch of document URLs) and counts the job's
// attempt with it. A job already completed or dead returns at once with
// that state and no slot taken. It fails only when ctx ends or Redis is
// unreachable.
func (b *Budget) take(ctx context.Context, lane queue.Lane, job *store.Job) (store.Slot, time.Duration, error) {
	start := time.Now()
	// A caller tries once on its own; if it has to wait, it queues at its
	// lane's gate so that only one caller per lane and process polls.
	gate := b.gates[0]
	if lane == queue.Bulk {
		gate = b.gates[1]
	}
	gated := false
	defer func() {
		if gated {
			<-gate
		}
	}()
	req := store.SlotRequest{Lane: lane, Interval: b.interval, Job: job}
	for {
		s, err := b.st.TakeSlot(ctx, req)
		if err != nil {
			return s, time.Since(start), fmt.Errorf("worker: rate budget: %w", err)
		}
		if s.Granted || s.State == queue.StateCompleted || s.State == queue.StateDead {
			return s, time.Since(start), nil
		}
		if s.Wait <= 0 {
			return s, time.Since(start), fmt.Errorf("worker: rate budget: no slot and no wait (%q)", s.Blocked)
		}
		if !gated {
			gated = true
			select {
			case gate <- struct{}{}: // the gate is free: this caller polls
			default:
				select {
				case gate <- struct{}{}:
				case <-ctx.Done():
					gated = false
					return s, time.Since(start), ctx.Err()
				}
				if s.Blocked != store.BlockedPause {
					continue // the slot may have come while queued at the gate
				}
			}
		}
		if err := sleep(ctx, s.Wait); err != nil {
			return s, time.Since(start), err
		}
	}
}

// takeIdle blocks until the caller may make one API call that no label
// needs — a tracking poll: it is granted only while no interactive or bulk
// caller is waiting, so it never delays a label. It returns how long it
// waited, and fails only when ctx ends or Redis is unreachable.
func (b *Budget) takeIdle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	req := store.SlotRequest{Idle: true, Interval: b.interval}
	for {
		s, err := b.st.TakeSlot(ctx, req)
		if err != nil {
			return time.Since(start), fmt.Errorf("worker: rate budget: %w", err)
		}
		if s.Granted {
			return time.Since(start), nil
		}
		if s.Wait <= 0 {
			return time.Since(start), fmt.Errorf("worker: rate budget: no slot and no wait (%q)", s.Blocked)
		}
		if err := sleep(ctx, s.Wait); err != nil {
			return time.Since(start), err
		}
	}
}

// pause stops every worker's calls for d (a 429's Retry-After). A pause
// already longer is kept.
func (b *Budget) pause(ctx context.Context, d time.Duration) error {
	return b.st.Pause(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
