package hooks

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/webhook"
)

// BenchmarkDeliveryThroughput measures deliveries per second to an instant
// local receiver (fan-out, signing, POST, delivery log, through real Redis
// and asynq) beside a raw loop of signed POSTs to the same receiver with
// the same concurrency, measured in the same run; the ratio is the figure
// (issue 15's goal: at least 0.8).
func BenchmarkDeliveryThroughput(b *testing.B) {
	const events = 2000
	const conc = DefaultConcurrency
	var hits atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rcv.Close)
	secret := webhook.NewSecret()

	for range b.N {
		// Baseline: conc goroutines POSTing signed bodies, nothing else.
		ev := webhook.Event{ID: "evt_raw", Type: webhook.LabelCompleted, CreatedAt: time.Now().UTC(), APIVersion: webhook.APIVersion,
			Sequence: 1, Data: json.RawMessage(`{"idempotencyKey":"k","state":"completed"}`)}
		body, _ := json.Marshal(ev)
		client := webhook.NewClient(webhook.ClientOptions{})
		hits.Store(0)
		start := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= events {
					req, _ := http.NewRequest(http.MethodPost, rcv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set(webhook.SignatureHeader, webhook.Sign(body, time.Now(), secret))
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}()
		}
		wg.Wait()
		raw := float64(events) / time.Since(start).Seconds()

		// Ours: events recorded as part B's scripts do, delivered by a Deliverer.
		eps := newFakeEndpoints(Target{ID: "ep1", URL: rcv.URL, Secrets: []string{secret}, Enabled: true})
		h := newHarness(b, eps, nil)
		ids := h.evs.add(events)
		// The event tasks are queued before the clock starts: in flexlabel
		// the outcome's own script queues them, on the label path, so
		// delivery starts with them waiting.
		for _, id := range ids {
			_, err := h.cli.Enqueue(asynq.NewTask(TaskEvent, []byte(id)), asynq.Queue(QueueName(h.ns)), asynq.TaskID(id))
			require.NoError(b, err)
		}
		hits.Store(0)
		start = time.Now()
		require.NoError(b, h.d.Start())
		for hits.Load() < events {
			time.Sleep(5 * time.Millisecond)
		}
		ours := float64(events) / time.Since(start).Seconds()
		h.d.Shutdown()
		b.ReportMetric(raw, "raw_posts/s")
		b.ReportMetric(ours, "deliveries/s")
		b.ReportMetric(ours/raw, "ratio")
	}
}
