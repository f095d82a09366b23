package worker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// scheduleReads counts the reads of the tracking schedule (ZRANGE of a
// trk:due key) a client makes.
type scheduleReads struct{ n atomic.Int64 }

func (h *scheduleReads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scheduleReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if a := cmd.Args(); strings.EqualFold(cmd.Name(), "zrange") && len(a) > 1 {
			if k, _ := a[1].(string); strings.HasSuffix(k, "trk:due") {
				h.n.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}

func (h *scheduleReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A tracker's pollers with nothing due share one read of the schedule
// until the next check could come due: an idle account costs one read per
// idleCheck however many pollers it has (issue 17: hundreds of accounts
// per worker). A check due now is read afresh every time.
func TestTracker_IdlePollersShareOneScheduleRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	reads := &scheduleReads{}
	rdb.AddHook(reads)
	ns := queuetest.Prefix(t)
	st, err := store.New(rdb, store.Options{Namespace: ns})
	require.NoError(t, err)
	tr := &tracker{st: st, cfg: TrackingConfig{Speedup: 1}, ctx: ctx}
	require.Equal(t, idleCheckMax, tr.idleCheck())

	poll := func() {
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					_, _, err := tr.nextDue()
					assert.NoError(t, err)
				}
			}()
		}
		wg.Wait()
	}
	poll()
	assert.EqualValues(t, 1, reads.n.Load(), "nothing followed: one read for 30 asks")

	// A check due in 200 ms: shared until then, read again after it.
	due := "fl:" + ns + ":trk:due"
	tr.idleUntil = time.Time{}
	reads.n.Store(0)
	require.NoError(t, rdb.ZAdd(ctx, due, redis.Z{Score: float64(time.Now().Add(200 * time.Millisecond).UnixMilli()), Member: "k1"}).Err())
	poll()
	assert.EqualValues(t, 1, reads.n.Load(), "the next check 200 ms away: one read")
	time.Sleep(250 * time.Millisecond)
	reads.n.Store(0)
	poll()
	assert.EqualValues(t, 30, reads.n.Load(), "a check due now: every ask reads")
	_, ok, err := tr.nextDue()
	require.NoError(t, err)
	assert.True(t, ok)
}

// With no label waiting for its document URL, the fetch looks again after
// the batch window, or sooner if a batch could fill before it at the
// account's budget (no batch can be due earlier), not at a tenth of it.
func TestDocumentFetcher_IdleWait(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		window time.Duration
		size   int
		rate   float64
		want   time.Duration
	}{
		{6 * time.Second, 100, 9.5, 6 * time.Second},
		{6 * time.Second, 100, 100, time.Second},
		{50 * time.Millisecond, 100, 8, 50 * time.Millisecond},
		{6 * time.Second, 2, 1e6, 10 * time.Millisecond},
	} {
		f := &documentFetcher{w: &Worker{cfg: Config{URLBatchWindow: c.window, URLBatchSize: c.size}},
			budget: &Budget{interval: time.Duration(float64(time.Second) / c.rate)}}
		assert.InDelta(t, c.want, f.idleWait(), float64(time.Millisecond), "window %s, size %d, rate %v", c.window, c.size, c.rate)
	}
}
