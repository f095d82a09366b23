package bulkrun_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/internal/bulkrun"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// ndjsonSource streams n generated request lines without holding the file.
type ndjsonSource struct {
	n, i int
	buf  bytes.Buffer
}

func (s *ndjsonSource) Read(p []byte) (int, error) {
	for s.buf.Len() < len(p) && s.i < s.n {
		s.buf.Write(queuetest.RequestJSON(fmt.Sprintf("bulk-%07d", s.i), ""))
		s.buf.WriteByte('\n')
		s.i++
	}
	if s.buf.Len() == 0 {
		return 0, io.EOF
	}
	return s.buf.Read(p)
}

// BenchmarkBulkEnqueue100k compares a bulk run of 100,000 labels with raw
// concurrent asynq enqueues (50 goroutines, TaskID, same payload size) on
// the same Redis in the same run. Target ratio ≥ 0.8.
func BenchmarkBulkEnqueue100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		rp := queuetest.StartRedis(b)
		opts := rp.Options()
		opts.PoolSize = 64
		rdb := redis.NewClient(opts)
		b.Cleanup(func() { rdb.Close() })

		// raw asynq: 50 goroutines, one Enqueue (one round trip) each
		payload := queuetest.RequestJSON("bulk-0000000", "")
		cl := asynq.NewClientFromRedisClient(rdb)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= n {
						return
					}
					_, err := cl.Enqueue(asynq.NewTask("raw", payload), asynq.Queue("raw"), asynq.TaskID(strconv.FormatInt(i, 10)))
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		raw := n / time.Since(start).Seconds()
		require.NoError(b, rdb.FlushAll(context.Background()).Err()) // our own private server

		q, err := queue.New(rdb, queue.Options{Namespace: "bench"})
		require.NoError(b, err)
		start = time.Now()
		sum, err := bulkrun.Run(context.Background(), q, bulkfile.NewNDJSON(&ndjsonSource{n: n}), bulkrun.Options{Lane: queue.Bulk}, func(bulkrun.Row) error { return nil })
		require.NoError(b, err)
		require.Equal(b, n, sum.Enqueued, "%+v", sum)
		bulk := n / time.Since(start).Seconds()
		b.ReportMetric(raw, "raw_asynq/s")
		b.ReportMetric(bulk, "bulk/s")
		b.ReportMetric(bulk/raw, "ratio")
		b.Logf("bulk enqueue of %d labels: %.0f/s; raw concurrent asynq enqueue: %.0f/s; ratio %.2f (target ≥ 0.8)", n, bulk, raw, bulk/raw)
	}
}
