package worker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
)

// recordingObserver keeps what the worker reported.
type recordingObserver struct {
	mu       sync.Mutex
	outcomes []string
	dead     []queue.Reason
}

func (o *recordingObserver) APICall(string, string, int, time.Duration) {}
func (o *recordingObserver) BudgetWait(time.Duration)                   {}
func (o *recordingObserver) Outcome(_, _, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outcomes = append(o.outcomes, outcome)
}

func (o *recordingObserver) DeadLettered(_, _ string, r queue.Reason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead = append(o.dead, r)
}

// TestWorker_DeadLetter_ReportsTheReasonTyped: a dead letter reaches the
// observer as DeadLettered with its reason, not as an outcome string to
// parse back.
func TestWorker_DeadLetter_ReportsTheReasonTyped(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	h := start(t, opts{metrics: obs})
	h.enqueue(t, "obs-1", flexapitest.RejectProductCode)
	h.enqueue(t, "obs-2", "")
	h.wait(t, "obs-1", queue.StateDead, 5*time.Second)
	h.wait(t, "obs-2", queue.StateCompleted, 5*time.Second)
	// The observer hears of an outcome just after it is recorded.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		assert.Equal(c, []queue.Reason{queue.ReasonCourierRejected}, obs.dead)
		assert.Equal(c, []string{"created"}, obs.outcomes, "a dead letter is no Outcome")
	}, 5*time.Second, 10*time.Millisecond)
}
