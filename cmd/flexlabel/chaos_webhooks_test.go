//go:build chaos

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// TestChaosWebhookSIGKILL: a worker SIGKILLed after completing labels and
// before delivering their events (issue 15). The receiver holds every
// delivery of the first worker unanswered, so at the kill some events are
// being delivered and others leased by its drain (the inflight set), the
// rest wait on the pending list; none was acknowledged. A second worker
// delivers the waiting ones at once and the leased ones once their lease
// expires (hooks.DefaultLeaseFor, 30 s). Every label's label.completed must reach
// the receiver with a 2xx after the kill, every copy of a key's event must
// carry one id and the same bytes, and no delivery may fail verification.
//
//	go test -count=1 -tags chaos -run 'Chaos.*Webhook' -v ./cmd/flexlabel/
func TestChaosWebhookSIGKILL(t *testing.T) {
	const labels, slots = 30, 3
	start := time.Now()
	e := newChaosEnv(t, "hookkill", buildChaosBinary(t, t.TempDir()))
	signingKey := "sk-CHAOS-" + chaosRandHex(24)
	hookEnv := []string{"FLEXLABEL_WEBHOOK_SIGNING_KEY=" + signingKey}

	rcv := newChaosReceiver()
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	t.Cleanup(rcv.releaseHeld) // before srv.Close, which waits for held handlers

	add, err := e.runEnv(hookEnv, "", "webhooks", "add", srv.URL+"/hooks", "--events", string(webhook.LabelCompleted), "--json")
	require.NoError(t, err)
	require.Equal(t, 0, add.code, add.stderr)
	var ep hooks.Endpoint
	require.NoError(t, json.Unmarshal([]byte(add.stdout), &ep), add.stdout)
	require.NotEmpty(t, ep.Secret)
	rcv.setSecret(ep.Secret)

	workerEnv := append([]string{
		fmt.Sprintf("FLEXLABEL_WEBHOOK_CONCURRENCY=%d", slots),
		"FLEXLABEL_WEBHOOK_TIMEOUT=60s", // no attempt times out while held: each is in flight at the kill
	}, hookEnv...)
	w1 := e.startWorker("worker-1", workerEnv...)
	require.Contains(t, w1.stderr(), "webhook delivery started")
	keys := e.keys("k", 0, labels)
	e.enqueue("bulk", keys)

	// Every label completed and its event recorded (after its document
	// URL), and every delivery slot holding an unanswered delivery.
	e.waitCount(keys, queue.StateCompleted, labels, 60*time.Second)
	require.Eventually(t, func() bool { return e.countKeys(queuetest.EventKey(e.ns, "*")) == labels }, 30*time.Second, 20*time.Millisecond,
		"waiting for %d label.completed events to be recorded", labels)
	require.Eventually(t, func() bool { return rcv.heldCount() == slots }, 30*time.Second, 10*time.Millisecond,
		"waiting for %d deliveries in flight", slots)

	w1.signal(t, syscall.SIGKILL)
	require.True(t, w1.wait(5*time.Second))
	killedAt := time.Now()
	rcv.releaseHeld() // held handlers answer 503 to a connection nobody reads
	ctx := context.Background()
	nleased, err := hooks.Leased(ctx, e.rdb, e.ns)
	require.NoError(t, err)
	leased := int(nleased)
	waiting := int(e.rdb.LLen(ctx, hooks.PendingKey(e.ns)).Val())
	require.GreaterOrEqual(t, leased, slots, "events leased by the killed worker, those being delivered among them")
	require.Equal(t, labels, leased+waiting, "every event leased or waiting at the kill")
	qi, err := asynq.NewInspectorFromRedisClient(e.rdb).GetQueueInfo(hooks.QueueName(e.ns))
	if err == nil {
		require.Zero(t, qi.Pending+qi.Active+qi.Scheduled+qi.Retry, "no delivery was handed to a retry task")
	}
	require.Zero(t, rcv.acceptedKeys(), "nothing was acknowledged before the kill")

	e.startWorker("worker-2", workerEnv...)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, labels, rcv.acceptedKeys(), "keys whose label.completed was acknowledged after the kill")
	}, 150*time.Second, 100*time.Millisecond)
	allIn := time.Since(killedAt)

	st := rcv.check(t, keys)
	created, dead := e.verify(keys, nil)
	e.checkHookSecrets(signingKey, ep.Secret)
	r := chaosResult{
		name: "worker SIGKILL before webhook delivery", labels: labels, created: created, dead: dead, took: time.Since(start),
		notes: fmt.Sprintf("killed with %d events recorded, none acknowledged: %d leased (%d being delivered), %d waiting; every label.completed arrived %s after the kill (lease expiry), %d deliveries for %d events (%d duplicates, each with its event's id and bytes), %d bad signatures",
			labels, leased, slots, waiting, allIn.Round(time.Second), st.arrivals, st.ids, st.arrivals-st.ids, st.badSignatures),
	}
	fmt.Println(r)
	if dir := os.Getenv("FLEXLABEL_CHAOS_LOGS"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, "results.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		_, err = fmt.Fprintln(f, r)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

// countKeys counts the scenario Redis's keys matching pattern.
func (e *chaosEnv) countKeys(pattern string) int {
	n := 0
	iter := e.rdb.Scan(context.Background(), 0, pattern, 1000).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	if iter.Err() != nil {
		return -1
	}
	return n
}

// checkHookSecrets requires that neither the signing key nor an endpoint
// secret appears in any process's output or in Redis (secrets are derived,
// never stored).
func (e *chaosEnv) checkHookSecrets(secrets ...string) {
	e.t.Helper()
	e.mu.Lock()
	procs := append([]*chaosProc(nil), e.procs...)
	e.mu.Unlock()
	dump := e.dumpRedis()
	for _, s := range secrets {
		for _, p := range procs {
			require.NotContains(e.t, p.stderr(), s, "a webhook secret appears in the %s log", p.name)
		}
		require.NotContains(e.t, dump, s, "a webhook secret appears in Redis")
	}
}

// chaosReceiver is an order system's webhook endpoint: it verifies every
// delivery with webhook.Verify and records it. While holding, it keeps
// each verified delivery unanswered until released, then answers 503: such
// a delivery arrived but was never acknowledged.
type chaosReceiver struct {
	mu       sync.Mutex
	secret   string
	holding  bool
	held     int
	release  chan struct{}
	released sync.Once
	bad      int // deliveries that failed verification or decoding
	got      []chaosDelivery
}

type chaosDelivery struct {
	id, typ, key, body string
	accepted           bool // answered 2xx
}

func newChaosReceiver() *chaosReceiver {
	return &chaosReceiver{holding: true, release: make(chan struct{})}
}

func (rc *chaosReceiver) setSecret(s string) { rc.mu.Lock(); rc.secret = s; rc.mu.Unlock() }

// releaseHeld answers the held deliveries and stops holding.
func (rc *chaosReceiver) releaseHeld() {
	rc.released.Do(func() {
		rc.mu.Lock()
		rc.holding = false
		rc.mu.Unlock()
		close(rc.release)
	})
}

func (rc *chaosReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, webhook.MaxBodyBytes))
	rc.mu.Lock()
	secret := rc.secret
	rc.mu.Unlock()
	var ev webhook.Event
	var data struct {
		Key string `json:"idempotencyKey"`
	}
	if err != nil || webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, secret, 0, time.Now()) != nil ||
		json.Unmarshal(body, &ev) != nil || json.Unmarshal(ev.Data, &data) != nil {
		rc.mu.Lock()
		rc.bad++
		rc.mu.Unlock()
		http.Error(w, "bad delivery", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	hold := rc.holding
	rc.got = append(rc.got, chaosDelivery{id: ev.ID, typ: string(ev.Type), key: data.Key, body: string(body), accepted: !hold})
	if hold {
		rc.held++
	}
	rc.mu.Unlock()
	if hold {
		select {
		case <-rc.release:
		case <-r.Context().Done():
		}
		http.Error(w, "not taken", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *chaosReceiver) heldCount() int { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.held }

// acceptedKeys is the number of keys whose label.completed was answered 2xx.
func (rc *chaosReceiver) acceptedKeys() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	keys := map[string]bool{}
	for _, d := range rc.got {
		if d.accepted && d.typ == string(webhook.LabelCompleted) {
			keys[d.key] = true
		}
	}
	return len(keys)
}

type chaosReceiverStats struct{ arrivals, ids, badSignatures int }

// check requires what at-least-once promises: each key's label.completed
// acknowledged, one id per key's completion whatever the number of copies,
// the same bytes in every copy of an id, nothing from elsewhere, no bad
// signature.
func (rc *chaosReceiver) check(t *testing.T, keys []string) chaosReceiverStats {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Zero(t, rc.bad, "deliveries that failed verification")
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	idOf, bodyOf, accepted := map[string]string{}, map[string]string{}, map[string]bool{}
	for _, d := range rc.got {
		require.Equal(t, string(webhook.LabelCompleted), d.typ, d.body)
		require.True(t, want[d.key], "an event for a key not enqueued: %s", d.body)
		if id, ok := idOf[d.key]; ok {
			require.Equal(t, id, d.id, "%s: a second label.completed, not a copy of the first", d.key)
		}
		idOf[d.key] = d.id
		if b, ok := bodyOf[d.id]; ok {
			require.Equal(t, b, d.body, "%s: a copy with other bytes", d.id)
		}
		bodyOf[d.id] = d.body
		accepted[d.key] = accepted[d.key] || d.accepted
	}
	for _, k := range keys {
		require.True(t, accepted[k], "%s: label.completed never acknowledged", k)
	}
	return chaosReceiverStats{arrivals: len(rc.got), ids: len(bodyOf), badSignatures: rc.bad}
}
