package worker_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// BenchmarkBudgetDeadReceiver measures what a dead webhook receiver costs
// the labels (issue 15: label budget utilisation with a dead receiver ÷
// without webhooks, goal ≥ 0.98). One worker spends a budget of 10 calls/s
// on 150 labels against the fake API, as BenchmarkBudgetUtilisation's
// workers=1 does: first without webhooks, the baseline; then with an
// endpoint subscribed to every event and a webhook Deliverer in the same
// process and Redis, its receiver dead in one of two ways — refusing
// connections, or accepting them and never answering (every delivery
// slot held until its timeout). Delivery retries at once (backoff from
// 100 ms), so the dead receiver is hammered for the whole run.
func BenchmarkBudgetDeadReceiver(b *testing.B) {
	for range b.N {
		e := newBenchEnv(b, 5)
		e.startWorkers(b, 1, 10, budgetRate)
		off := e.measureBudget(b, "nohooks", queue.Bulk, budgetLabels)
		e.stopWorkers()
		b.Logf("without webhooks: %s", off)
		b.ReportMetric(off.util, "utilisation_without_webhooks")

		for _, dead := range []struct {
			name string
			url  func(testing.TB) string
		}{
			{"refused", refusingReceiver},
			{"hanging", hangingReceiver},
		} {
			e := newBenchEnv(b, 5)
			ns := e.q.Options().Namespace
			keys, err := hooks.NewKeyring("bench-signing-key-of-at-least-32-bytes")
			require.NoError(b, err)
			eps, err := hooks.NewEndpoints(e.rdb, ns, keys)
			require.NoError(b, err)
			_, err = eps.Create(context.Background(), hooks.Spec{URL: dead.url(b)})
			require.NoError(b, err)
			attempts := &deliveryCounter{}
			dl, err := hooks.NewDeliverer(hooks.Config{
				Redis: e.rdb, Namespace: ns, Endpoints: eps, Events: e.q, Metrics: attempts,
				Logger: slog.New(slog.DiscardHandler), Timeout: time.Second,
				RetryBase: 100 * time.Millisecond, RetryMax: time.Second,
			})
			require.NoError(b, err)
			require.NoError(b, dl.Start())
			e.startWorkers(b, 1, 10, budgetRate)
			on := e.measureBudget(b, "deadhook", queue.Bulk, budgetLabels)
			e.stopWorkers()
			dl.Shutdown()
			events := countKeys(b, e, queuetest.EventKey(ns, "*"))
			failed := attempts.n.Load()
			require.NotZero(b, failed, "no delivery was attempted: the receiver was not exercised")
			b.Logf("%s receiver: %s; %d events recorded, %d failed delivery attempts during the run", dead.name, on, events, failed)
			b.Logf("%s receiver: utilisation %.3f ÷ %.3f without webhooks = ratio %.3f (goal ≥ 0.98)", dead.name, on.util, off.util, on.util/off.util)
			b.ReportMetric(on.util, "utilisation_"+dead.name)
			b.ReportMetric(on.util/off.util, "ratio_"+dead.name)
		}
	}
}

// deliveryCounter counts the Deliverer's attempts that did not deliver.
type deliveryCounter struct{ n atomic.Int64 }

func (c *deliveryCounter) WebhookDelivery(result string, _ time.Duration) {
	if result != hooks.ResultDelivered {
		c.n.Add(1)
	}
}

// refusingReceiver is a loopback URL nobody listens on: connection refused.
func refusingReceiver(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := ln.Addr().String()
	require.NoError(tb, ln.Close())
	return "http://" + addr + "/hooks"
}

// hangingReceiver accepts connections and never answers, so each delivery
// lasts its whole timeout.
func hangingReceiver(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + ln.Addr().String() + "/hooks"
}

func countKeys(tb testing.TB, e *benchEnv, pattern string) int {
	n := 0
	iter := e.rdb.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	require.NoError(tb, iter.Err())
	return n
}
