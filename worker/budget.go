package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/queue"
)

// Budget is the Flex Forward call budget of one account, shared by every
// worker process on the same Redis: at most Rate calls in any sliding second
// (GCRA with a burst of one, via redis_rate), plus a fleet-wide pause that a
// 429 sets. Interactive callers go first: while one waits, bulk callers hold
// back, so a bulk run delays an order system's label by a slot or two.
type Budget struct {
	rdb      redis.UniversalClient
	limiter  *redis_rate.Limiter
	limit    redis_rate.Limit
	rateKey  string
	pauseKey string
	iwaitKey string
	interval time.Duration
	// bulkGate lets one bulk caller per process poll the limiter at a time:
	// the others queue here instead of all waking for every slot, which on a
	// busy machine makes the winner late and the slot partly wasted.
	bulkGate chan struct{}
}

// NewBudget returns the budget of rate calls per second for the queue's namespace.
func NewBudget(q *queue.Queue, rate float64) (*Budget, error) {
	if !(rate > 0) {
		return nil, fmt.Errorf("worker: rate budget must be positive, got %v", rate)
	}
	interval := time.Duration(float64(time.Second) / rate)
	// redis_rate counts Rate events per Period; express fractional rates as
	// one event per interval.
	lim := redis_rate.Limit{Rate: 1, Burst: 1, Period: interval}
	if rate == float64(int(rate)) {
		lim = redis_rate.Limit{Rate: int(rate), Burst: 1, Period: time.Second}
	}
	return &Budget{
		rdb:      q.Redis(),
		limiter:  redis_rate.NewLimiter(q.Redis()),
		limit:    lim,
		rateKey:  q.Key("budget"),
		pauseKey: q.Key("pause"),
		iwaitKey: q.Key("iwait"),
		interval: interval,
		bulkGate: make(chan struct{}, 1),
	}, nil
}

// Wait blocks until the caller may make one API call, and returns how long it
// waited. It fails only when ctx ends or Redis is unreachable.
func (b *Budget) Wait(ctx context.Context, lane queue.Lane) (time.Duration, error) {
	return b.WaitWith(ctx, lane, nil)
}

// WaitWith is Wait, with prep adding commands to its first round trip (the
// worker counts the attempt there). Errors of prep's commands are the
// caller's to read; they do not fail the wait.
func (b *Budget) WaitWith(ctx context.Context, lane queue.Lane, prep func(redis.Pipeliner)) (time.Duration, error) {
	start := time.Now()
	// A bulk caller tries once on its own; if it has to wait, it queues at
	// the process's bulk gate so that only one bulk caller per process polls.
	gated := false
	defer func() {
		if gated {
			<-b.bulkGate
		}
	}()
	gate := func() error {
		if gated || lane == queue.Interactive {
			return nil
		}
		select {
		case b.bulkGate <- struct{}{}:
			gated = true
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		// One round trip reads the fleet pause and announces (interactive)
		// or looks for (bulk) an interactive caller.
		pipe := b.rdb.Pipeline()
		pause := pipe.PTTL(ctx, b.pauseKey)
		checks := []redis.Cmder{pause}
		var iwait *redis.IntCmd
		if lane == queue.Interactive {
			// Announce an interactive caller for a couple of slots.
			checks = append(checks, pipe.Set(ctx, b.iwaitKey, 1, 2*b.interval+50*time.Millisecond))
		} else {
			iwait = pipe.Exists(ctx, b.iwaitKey)
			checks = append(checks, iwait)
		}
		if prep != nil {
			prep(pipe)
			prep = nil
		}
		_, _ = pipe.Exec(ctx)
		for _, c := range checks {
			if err := c.Err(); err != nil {
				return time.Since(start), fmt.Errorf("worker: rate budget: %w", err)
			}
		}
		if d := pause.Val(); d > 0 {
			if err := gate(); err != nil {
				return time.Since(start), err
			}
			if err := sleep(ctx, d); err != nil {
				return time.Since(start), err
			}
			continue
		}
		if iwait != nil && iwait.Val() > 0 {
			if err := gate(); err != nil {
				return time.Since(start), err
			}
			if err := sleep(ctx, b.interval); err != nil {
				return time.Since(start), err
			}
			continue
		}
		res, err := b.limiter.Allow(ctx, b.rateKey, b.limit)
		if err != nil {
			return time.Since(start), fmt.Errorf("worker: rate budget: %w", err)
		}
		if res.Allowed > 0 {
			if lane == queue.Interactive {
				b.rdb.Del(ctx, b.iwaitKey) // best effort; it expires anyway
			}
			return time.Since(start), nil
		}
		if !gated && lane != queue.Interactive {
			if err := gate(); err != nil {
				return time.Since(start), err
			}
			continue // the slot may have gone by while queued at the gate
		}
		if err := sleep(ctx, res.RetryAfter); err != nil {
			return time.Since(start), err
		}
	}
}

// Pause stops every worker's calls for d (a 429's Retry-After). A pause
// already longer is kept.
func (b *Budget) Pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		d = time.Second
	}
	cur, err := b.rdb.PTTL(ctx, b.pauseKey).Result()
	if err == nil && cur >= d {
		return nil
	}
	if err := b.rdb.Set(ctx, b.pauseKey, 1, d).Err(); err != nil {
		return fmt.Errorf("worker: setting the fleet pause: %w", err)
	}
	return nil
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
