package bulkrun_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/internal/bulkrun"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// cancelAfter cancels a context once n bytes have been read through it,
// as a Ctrl-C in the middle of a file would.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > c.n && c.n > 0 {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func TestRun_CancelledMidFile_AlwaysInterrupted_RerunResumes(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	input, want := ndjson(3000)
	enqueued := 0
	for i, cut := range []int{1, 500, 4096, 20_000, 70_000, 150_000, 300_000, 450_000, len(input) - 1} {
		require.Less(t, cut, len(input))
		ctx, cancel := context.WithCancel(context.Background())
		in := &cancelAfter{r: strings.NewReader(input), n: cut, cancel: cancel}
		rows := 0
		sum, err := bulkrun.Run(ctx, q, bulkfile.NewNDJSON(in), bulkrun.Options{ChunkSize: 64}, func(bulkrun.Row) error {
			rows++
			return nil
		})
		cancel()
		require.ErrorIs(t, err, bulkrun.ErrInterrupted, "cut %d (run %d) must not end as a success", cut, i)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, rows, sum.Total(), "the summary counts exactly the rows emitted")
		require.Less(t, sum.Total(), 3000)
		enqueued += sum.Enqueued
	}

	// The same file again, uninterrupted: every row is there once.
	sum, err := bulkrun.Run(context.Background(), q, bulkfile.NewNDJSON(strings.NewReader(input)), bulkrun.Options{}, func(bulkrun.Row) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 3000, sum.Total())
	counts := map[queue.Outcome]int{}
	for _, o := range want {
		counts[o]++
	}
	require.Equal(t, counts[queue.Enqueued]+counts[queue.Duplicate], sum.Enqueued+sum.Duplicate, "first occurrences enqueued earlier come back duplicate")
	require.Equal(t, counts[queue.Conflict], sum.Conflict)
	require.Equal(t, counts[queue.Invalid], sum.Invalid)
	require.Positive(t, enqueued, "the interrupted runs enqueued some rows")
	require.LessOrEqual(t, enqueued+sum.Enqueued, counts[queue.Enqueued], "no key enqueued twice")
}

// blockingReader gives its data and then blocks, like a terminal nobody
// types into.
type blockingReader struct {
	r       io.Reader
	blocked chan struct{}
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		close(b.blocked)
		<-b.release
	}
	return n, err
}

func TestRun_IdleInput_CancelReturnsWithoutWaitingForIt(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	input, _ := ndjson(10)
	in := &blockingReader{r: strings.NewReader(input), blocked: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(in.release) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum bulkrun.Summary
		err error
	}
	done := make(chan result, 1)
	rows := make(chan bulkrun.Row, 100)
	go func() {
		sum, err := bulkrun.Run(ctx, q, bulkfile.NewNDJSON(in), bulkrun.Options{}, func(r bulkrun.Row) error {
			rows <- r
			return nil
		})
		done <- result{sum, err}
	}()
	<-in.blocked
	for i := range 10 { // every row read is reported while the input is idle
		select {
		case <-rows:
		case <-time.After(30 * time.Second):
			t.Fatalf("row %d of 10 not reported while the input is idle", i+1)
		}
	}
	cancel()
	select {
	case r := <-done:
		require.ErrorIs(t, r.err, bulkrun.ErrInterrupted)
		require.Equal(t, 10, r.sum.Total())
		require.Equal(t, 10, r.sum.Enqueued)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled while the input was idle")
	}
}
