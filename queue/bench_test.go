package queue_test

// Benchmarks of enqueueing. Each prints ratios against a baseline measured
// in the same run, on the same Redis: `make bench` runs them. They are
// benchmarks, not tests: nothing here asserts a speed.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// BenchmarkEnqueueMinReplicas measures what FLEXLABEL_REDIS_MIN_REPLICAS=1
// costs enqueue throughput (issue 18): one primary with one local replica,
// enqueueing with the option against the same enqueues without it (the
// replica attached in both, so only the WAIT differs), in alternating
// rounds, reporting the median round's ratio of enqueues per second. Three
// shapes: single enqueues from one producer (each waits for the last, so
// the rate is 1/latency) and from 16 concurrent producers (order systems,
// POST /v1/labels: one round trip each, so one WAIT each), and batches of
// 500 (POST /v1/labels/batch, bulk runs: one WAIT per batch).
func BenchmarkEnqueueMinReplicas(b *testing.B) {
	primary := queuetest.StartRedis(b)
	queuetest.StartReplica(b, primary.Addr())
	opts := primary.Options()
	opts.PoolSize = 32
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { rdb.Close() })
	const rounds = 5
	shapes := []struct {
		name         string
		producers, n int // concurrent producers, requests in all
		batch        int
	}{
		{"single_x1", 1, 1000, 1},
		{"single_x16", 16, 4000, 1},
		{"batch_500", 1, 20000, 500},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			for range b.N {
				var ratios []float64
				var on, off float64
				for r := range rounds {
					qOff := newBenchQueue(b, rdb, 0)
					qOn := newBenchQueue(b, rdb, 1)
					// Alternate which goes first, so neither always meets a warmer Redis.
					if r%2 == 0 {
						off = enqueueRate(b, qOff, sh.producers, sh.n, sh.batch)
						on = enqueueRate(b, qOn, sh.producers, sh.n, sh.batch)
					} else {
						on = enqueueRate(b, qOn, sh.producers, sh.n, sh.batch)
						off = enqueueRate(b, qOff, sh.producers, sh.n, sh.batch)
					}
					ratios = append(ratios, on/off)
					b.Logf("%s round %d: MIN_REPLICAS=1 %.0f enqueues/s vs MIN_REPLICAS=0 %.0f enqueues/s: ratio %.2f", sh.name, r, on, off, on/off)
					require.NoError(b, rdb.FlushDB(context.Background()).Err()) // our own server
				}
				sort.Float64s(ratios)
				med := ratios[len(ratios)/2]
				b.ReportMetric(med, "ratio_min_replicas_1_vs_0")
				b.Logf("%s: median ratio %.2f (rounds %.2f-%.2f)", sh.name, med, ratios[0], ratios[len(ratios)-1])
			}
		})
	}
}

func newBenchQueue(b *testing.B, rdb *redis.Client, minReplicas int) *queue.Queue {
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(b), MinReplicas: minReplicas, ReplicaTimeout: 2 * time.Second})
	require.NoError(b, err)
	require.NoError(b, q.LoadScripts(context.Background()))
	return q
}

// enqueueRate enqueues n new requests on q, from producers goroutines in
// batches of batch, and returns enqueues per second.
func enqueueRate(b *testing.B, q *queue.Queue, producers, n, batch int) float64 {
	lines := make([]queue.Parsed, n)
	for i := range lines {
		lines[i] = queue.ParseLine(queuetest.RequestJSON(fmt.Sprintf("bench-%06d", i), ""))
	}
	per := n / producers
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	start := time.Now()
	for p := range producers {
		wg.Add(1)
		go func(mine []queue.Parsed) {
			defer wg.Done()
			for len(mine) > 0 {
				k := min(batch, len(mine))
				res, err := q.EnqueueLines(context.Background(), mine[:k], queue.Bulk, queue.OutcomeOnly)
				if err == nil && res[0].Outcome != queue.Enqueued {
					err = fmt.Errorf("outcome %s", res[0].Outcome)
				}
				if err != nil {
					errs <- err
					return
				}
				mine = mine[k:]
			}
		}(lines[p*per : (p+1)*per])
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	return float64(per*producers) / elapsed.Seconds()
}
