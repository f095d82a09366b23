package worker

import (
	"context"
	"time"

	"github.com/flexlabel/flexlabel/queue"
)

// NewBudgetUnbounded is newBudget for the benchmarks in package worker_test,
// which take the budget out of the way with rates above MaxRate.
func NewBudgetUnbounded(q *queue.Queue, rate float64) *Budget {
	b, err := newBudget(q, rate)
	if err != nil {
		panic(err)
	}
	return b
}

// TakeIdle is b.takeIdle for tests in package worker_test (a function, not
// a method: a Budget has no exported methods).
func TakeIdle(ctx context.Context, b *Budget) (time.Duration, error) { return b.takeIdle(ctx) }

// Wait is b.wait for tests in package worker_test.
func Wait(ctx context.Context, b *Budget, lane queue.Lane) (time.Duration, error) {
	return b.wait(ctx, lane)
}

// OwnAtStart is ownAtStart for tests in package worker_test.
func OwnAtStart(cfg Config) bool { return ownAtStart(cfg) }
