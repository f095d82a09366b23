package worker

import "github.com/flexlabel/flexlabel/queue"

// NewBudgetUnbounded is newBudget for the benchmarks in package worker_test,
// which take the budget out of the way with rates above MaxRate.
func NewBudgetUnbounded(q *queue.Queue, rate float64) *Budget {
	b, err := newBudget(q, rate)
	if err != nil {
		panic(err)
	}
	return b
}
