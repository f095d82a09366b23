package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

// fakeEndpoints stands in for part A's *Endpoints.
type fakeEndpoints struct {
	mu       sync.Mutex
	targets  map[string]Target
	reasons  map[string]string
	matching []string // ids Matching answers, in order
}

func newFakeEndpoints(ts ...Target) *fakeEndpoints {
	f := &fakeEndpoints{targets: map[string]Target{}, reasons: map[string]string{}}
	for _, t := range ts {
		f.targets[t.ID] = t
		f.matching = append(f.matching, t.ID)
	}
	return f
}

func (f *fakeEndpoints) Matching(_ context.Context, _ webhook.EventType, _, _ string) ([]Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Target
	for _, id := range f.matching {
		out = append(out, f.targets[id])
	}
	return out, nil
}

func (f *fakeEndpoints) Target(_ context.Context, id string) (Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.targets[id]
	if !ok {
		return Target{}, ErrNotFound
	}
	return t, nil
}

func (f *fakeEndpoints) Disable(_ context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.targets[id]
	t.Enabled = false
	f.targets[id] = t
	f.reasons[id] = reason
	return nil
}

func (f *fakeEndpoints) setEnabled(id string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.targets[id]
	t.Enabled = on
	f.targets[id] = t
}

func (f *fakeEndpoints) reason(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reasons[id]
}

// fakeEvents stands in for part B's *store.Store.
type fakeEvents struct {
	mu  sync.Mutex
	evs map[string]webhook.Event
}

func (f *fakeEvents) EventAbout(_ context.Context, id string) (webhook.Event, store.EventSubject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev, ok := f.evs[id]
	if !ok {
		return webhook.Event{}, store.EventSubject{}, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	return ev, store.EventSubject{Account: store.DefaultAccount, Key: "key-" + id}, nil
}

// addOne adds one event and returns it.
func (f *fakeEvents) addOne() webhook.Event {
	id := f.add(1)[0]
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.evs[id]
}

func (f *fakeEvents) add(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.evs == nil {
		f.evs = map[string]webhook.Event{}
	}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("evt_%026d", len(f.evs)+1)
		f.evs[id] = webhook.Event{ID: id, Type: webhook.LabelCompleted,
			CreatedAt: time.Date(2026, 12, 2, 10, 0, i, 123456789, time.UTC), APIVersion: webhook.APIVersion,
			Sequence: 1, Data: json.RawMessage(`{"idempotencyKey":"key-` + id + `","state":"completed"}`)}
		ids = append(ids, id)
	}
	return ids
}

// receiver is a real HTTP receiver: it verifies every request's signature
// with each of secrets and answers what behave says for the n-th arrival
// (from 1) of an event id.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	secrets []string
	mu      sync.Mutex
	behave  func(w http.ResponseWriter, r *http.Request, id string, n int) bool // false: it wrote nothing, answer 200
	arrived map[string][][]byte                                                 // bodies by event id
	ok      map[string]int                                                      // 2xx answers by event id
	badSig  int
}

func newReceiver(t *testing.T, secrets ...string) *receiver {
	rc := &receiver{t: t, secrets: secrets, arrived: map[string][][]byte{}, ok: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	for _, s := range rc.secrets {
		if webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, s, 0, time.Now()) != nil {
			rc.mu.Lock()
			rc.badSig++
			rc.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("Flexlabel-Event-Id") ||
		r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.arrived[ev.ID] = append(rc.arrived[ev.ID], body)
	n := len(rc.arrived[ev.ID])
	behave := rc.behave
	rc.mu.Unlock()
	if behave != nil && behave(w, r, ev.ID, n) {
		return
	}
	rc.mu.Lock()
	rc.ok[ev.ID]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) setBehave(f func(w http.ResponseWriter, r *http.Request, id string, n int) bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.behave = f
}

func (rc *receiver) arrivals(id string) [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.arrived[id]...)
}

// harness is a Deliverer on real Redis with fast retries, and a way to
// record events as part B's scripts do (an id on the pending list).
type harness struct {
	t   testing.TB
	ctx context.Context
	rdb redis.UniversalClient
	ns  string
	eps *fakeEndpoints
	evs *fakeEvents
	d   *Deliverer
	cli *asynq.Client
	obs *countObserver
}

type countObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countObserver) count(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[result]
}

func (o *countObserver) WebhookDelivery(result string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[result]++
}

func newHarness(t testing.TB, eps *fakeEndpoints, tweak func(*Config)) *harness {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	h := &harness{t: t, ctx: context.Background(), rdb: rdb, ns: queuetest.Prefix(t), eps: eps, evs: &fakeEvents{},
		cli: asynq.NewClientFromRedisClient(rdb), obs: &countObserver{n: map[string]int{}}}
	cfg := Config{Redis: rdb, Namespace: h.ns, Endpoints: eps, Events: h.evs, Metrics: h.obs,
		Timeout: 300 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: time.Millisecond,
		TaskCheckInterval: 10 * time.Millisecond, DelayedTaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := NewDeliverer(cfg)
	require.NoError(t, err)
	h.d = d
	return h
}

// leased makes ids a lease batch of a deliverer that is gone, its lease
// running until until.
func (h *harness) leased(batch string, until time.Time, ids ...string) {
	h.t.Helper()
	require.NoError(h.t, h.rdb.RPush(h.ctx, LeaseKey(h.ns, batch), toAny(ids)...).Err())
	require.NoError(h.t, h.rdb.ZAdd(h.ctx, InflightKey(h.ns), redis.Z{Score: float64(until.UnixMilli()), Member: batch}).Err())
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (h *harness) start() {
	require.NoError(h.t, h.d.Start())
	h.t.Cleanup(h.d.Shutdown)
}

// record pushes each event id on the pending list, as part B's scripts do.
func (h *harness) record(ids ...string) {
	for _, id := range ids {
		require.NoError(h.t, h.rdb.LPush(h.ctx, PendingKey(h.ns), id).Err())
	}
}

// recordTask enqueues the fan-out task of each event, as part B's scripts
// did before the pending list (events recorded before an upgrade).
func (h *harness) recordTask(ids ...string) {
	for _, id := range ids {
		_, err := h.cli.Enqueue(asynq.NewTask(TaskEvent, []byte(id)), asynq.Queue(QueueName(h.ns)), asynq.TaskID(id))
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			require.NoError(h.t, err)
		}
	}
}

// waitResult polls the delivery log until ev's delivery to ep has result.
func (h *harness) waitResult(ev, ep, result string) Delivery {
	h.t.Helper()
	var last Delivery
	require.Eventually(h.t, func() bool {
		d, ok, err := h.d.Log().get(h.ctx, ev, ep)
		last = d
		return err == nil && ok && d.Result == result
	}, 60*time.Second, 10*time.Millisecond, "delivery %s.%s never became %s (last: %+v)", ev, ep, result, &last)
	return last
}

// taskState is the state of a task on the webhooks queue, 0 while there
// is none (polled from Eventually's goroutine, so it must not fail the test).
func (h *harness) taskState(id string) asynq.TaskState {
	info, err := asynq.NewInspectorFromRedisClient(h.rdb).GetTaskInfo(QueueName(h.ns), id)
	if err != nil {
		return 0
	}
	return info.State
}

func TestDeliver_FlakyReceiver_EveryEventArrivesOnceSigned(t *testing.T) {
	t.Parallel()
	secrets := []string{webhook.NewSecret(), webhook.NewSecret()} // a rotation: both must verify
	rc := newReceiver(t, secrets...)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL + "/hook", Secrets: secrets, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(5)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc.setBehave(func(w http.ResponseWriter, r *http.Request, id string, n int) bool {
		switch {
		case id == ids[0] && n <= 2:
			w.WriteHeader(http.StatusInternalServerError)
		case id == ids[1] && n == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case id == ids[2] && n == 1: // slower than the timeout
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case id == ids[3] && n == 1: // the connection drops without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			conn.Close()
		case id == ids[4] && n == 1:
			w.WriteHeader(http.StatusRequestTimeout)
		default:
			return false
		}
		return true
	})
	h.start()
	h.record(ids[:4]...)
	h.recordTask(ids[4]) // recorded before the pending list: delivered by its fan-out task
	for _, id := range ids {
		d := h.waitResult(id, "ep1", ResultDelivered)
		got := rc.arrivals(id)
		require.GreaterOrEqual(t, len(got), 2, "event %s was meant to fail once first", id)
		for _, b := range got {
			require.Equal(t, got[0], b, "every attempt of %s carries the same bytes", id)
		}
		require.Equal(t, len(got), d.Attempts)
		require.Equal(t, ResultDelivered, d.History[0].Result)
		require.Equal(t, ResultRetrying, d.History[len(d.History)-1].Result)
	}
	rc.mu.Lock()
	require.Zero(t, rc.badSig)
	rc.mu.Unlock()
	d := h.waitResult(ids[0], "ep1", ResultDelivered)
	require.Equal(t, http.StatusInternalServerError, d.History[2].Status)
	require.Equal(t, http.StatusNoContent, d.LastStatus)
	d = h.waitResult(ids[1], "ep1", ResultDelivered)
	require.Equal(t, http.StatusTooManyRequests, d.History[1].Status)
	d = h.waitResult(ids[2], "ep1", ResultDelivered)
	require.Equal(t, "timeout: no answer within 300ms", d.History[1].Error, "a receiver slower than the timeout is a network error")
	d = h.waitResult(ids[3], "ep1", ResultDelivered)
	require.NotEmpty(t, d.History[1].Error, "a dropped connection is recorded as a network error")
	require.NotContains(t, d.History[1].Error, rc.srv.URL, "the endpoint's URL is not in the log")
	require.Empty(t, eps.reason("ep1"), "a receiver that recovers is not disabled")
}

func TestDeliver_4xx_FailedWithoutRetry(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(1)
	rc.setBehave(func(w http.ResponseWriter, _ *http.Request, _ string, _ int) bool {
		http.Error(w, "unknown order", http.StatusUnprocessableEntity)
		return true
	})
	h.start()
	h.record(ids...)
	d := h.waitResult(ids[0], "ep1", ResultFailed)
	require.Zero(t, h.taskState(ids[0]+".ep1"), "no retry is scheduled")
	require.Len(t, rc.arrivals(ids[0]), 1, "a 422 is not retried")
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, http.StatusUnprocessableEntity, d.LastStatus)
	require.Equal(t, "unknown order\n", d.History[0].Response)
	require.Empty(t, eps.reason("ep1"), "one 4xx does not disable an endpoint")
}

func TestDeliver_410_DisablesEndpointAndRedeliverSendsAgain(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(2)
	gone := true
	var mu sync.Mutex
	rc.setBehave(func(w http.ResponseWriter, _ *http.Request, _ string, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			w.WriteHeader(http.StatusGone)
		}
		return gone
	})
	h.start()
	h.record(ids[0])
	h.waitResult(ids[0], "ep1", ResultFailed)
	// The endpoint is disabled right after the attempt is recorded.
	require.Eventually(t, func() bool { return strings.Contains(eps.reason("ep1"), "410 Gone") }, 30*time.Second, 5*time.Millisecond)
	h.record(ids[1])
	d := h.waitResult(ids[1], "ep1", ResultSkipped)
	require.Equal(t, reasonDisabled, d.Reason)
	require.Empty(t, rc.arrivals(ids[1]), "a disabled endpoint is not sent to")

	// The receiver is back and the operator enables the endpoint again:
	// both events are redelivered.
	mu.Lock()
	gone = false
	mu.Unlock()
	eps.setEnabled("ep1", true)
	n, err := h.d.Log().RedeliverEndpoint(h.ctx, "ep1", time.Time{})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, id := range ids {
		h.waitResult(id, "ep1", ResultDelivered)
	}
	// Redelivering one delivered event sends it again.
	n, err = h.d.Log().RedeliverEvent(h.ctx, ids[1], "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return len(rc.arrivals(ids[1])) == 2 }, 30*time.Second, 10*time.Millisecond)
	h.waitResult(ids[1], "ep1", ResultDelivered)
	_, err = h.d.Log().RedeliverEvent(h.ctx, "evt_unknown", "")
	require.ErrorIs(t, err, ErrNoDeliveries)
}

func TestDeliver_FailingForDisableAfter_DisablesEndpoint(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, func(c *Config) { c.DisableAfter = time.Millisecond })
	ids := h.evs.add(1)
	rc.setBehave(func(w http.ResponseWriter, _ *http.Request, _ string, _ int) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	h.start()
	h.record(ids...)
	d := h.waitResult(ids[0], "ep1", ResultSkipped)
	require.Contains(t, eps.reason("ep1"), "every delivery failed since")
	require.Contains(t, eps.reason("ep1"), "HTTP 503")
	require.GreaterOrEqual(t, d.Attempts, 2)
	require.Equal(t, reasonDisabled, d.Reason)
	// Counted right after the result is recorded.
	require.Eventually(t, func() bool { return h.obs.count(ResultSkipped) == 1 }, 10*time.Second, 5*time.Millisecond)
}

func TestDeliver_RetryWindowRunsOut_Failed(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, func(c *Config) { c.RetryFor = 50 * time.Millisecond })
	ids := h.evs.add(1)
	rc.setBehave(func(w http.ResponseWriter, _ *http.Request, _ string, _ int) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	h.start()
	h.record(ids...)
	d := h.waitResult(ids[0], "ep1", ResultFailed)
	require.Contains(t, d.LastError, "giving up")
	require.Eventually(t, func() bool { return h.taskState(ids[0]+".ep1") == asynq.TaskStateArchived }, 30*time.Second, 10*time.Millisecond)
	require.Empty(t, eps.reason("ep1"), "DisableAfter (24h) has not passed")
}

func TestFanOut_Retried_EnqueuesOncePerEndpoint_SkipsDisabled(t *testing.T) {
	t.Parallel()
	eps := newFakeEndpoints(
		Target{ID: "on1", URL: "https://a.example/h", Secrets: []string{"whsec_x"}, Enabled: true},
		Target{ID: "on2", URL: "https://b.example/h", Secrets: []string{"whsec_y"}, Enabled: true},
		Target{ID: "off", URL: "https://c.example/h", Secrets: []string{"whsec_z"}, Enabled: false})
	h := newHarness(t, eps, nil) // not started: the tasks stay pending
	ids := h.evs.add(1)
	task := asynq.NewTask(TaskEvent, []byte(ids[0]))
	require.NoError(t, h.d.fanOut(h.ctx, task))
	require.NoError(t, h.d.fanOut(h.ctx, task))
	// A fan-out that crashed after recording on1's delivery but before
	// enqueueing it: the retry enqueues it.
	insp := asynq.NewInspectorFromRedisClient(h.rdb)
	require.NoError(t, insp.DeleteTask(QueueName(h.ns), ids[0]+".on1"))
	// A record lost with its task still there: the task id is taken, which is success.
	require.NoError(t, h.rdb.Del(h.ctx, h.d.Log().dKey(ids[0], "on2")).Err())
	require.NoError(t, h.d.fanOut(h.ctx, task))
	// A delivery that ran is not sent again.
	require.NoError(t, h.d.dlog.setResult(h.ctx, ids[0], "on1", ResultDelivered, ""))
	require.NoError(t, insp.DeleteTask(QueueName(h.ns), ids[0]+".on1"))
	require.NoError(t, h.d.fanOut(h.ctx, task))
	require.Zero(t, h.taskState(ids[0]+".on1"), "a delivered delivery is not enqueued again")
	require.NoError(t, h.d.dlog.setResult(h.ctx, ids[0], "on1", ResultPending, ""))
	require.NoError(t, h.d.fanOut(h.ctx, task))

	pending, err := insp.ListPendingTasks(QueueName(h.ns))
	require.NoError(t, err)
	var got []string
	for _, ti := range pending {
		require.Equal(t, TaskDeliver, ti.Type)
		got = append(got, ti.ID)
	}
	require.ElementsMatch(t, []string{ids[0] + ".on1", ids[0] + ".on2"}, got)
	ds, err := h.d.Log().ForEvent(h.ctx, ids[0])
	require.NoError(t, err)
	results := map[string]string{}
	for _, d := range ds {
		results[d.Endpoint] = d.Result
	}
	require.Equal(t, map[string]string{"on1": ResultPending, "on2": ResultPending, "off": ResultSkipped}, results)
	require.Equal(t, 1, h.obs.count(ResultSkipped))
	list, err := h.d.Log().ForEndpoint(h.ctx, "off", time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, list, 1)

	// An expired event has nothing to fan out.
	require.NoError(t, h.d.fanOut(h.ctx, asynq.NewTask(TaskEvent, []byte("evt_gone"))))
}

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	hdr := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	for _, c := range []struct {
		status int
		netErr error
		h      http.Header
		want   verdict
	}{
		{200, nil, nil, verdict{result: ResultDelivered}},
		{204, nil, nil, verdict{result: ResultDelivered}},
		{0, io.ErrUnexpectedEOF, nil, verdict{result: ResultRetrying, why: io.ErrUnexpectedEOF.Error()}},
		{500, nil, nil, verdict{result: ResultRetrying, why: "HTTP 500"}},
		{503, nil, hdr("120"), verdict{result: ResultRetrying, retryAfter: 2 * time.Minute, why: "HTTP 503"}},
		{408, nil, nil, verdict{result: ResultRetrying, why: "HTTP 408"}},
		{429, nil, hdr("7"), verdict{result: ResultRetrying, retryAfter: 7 * time.Second, why: "HTTP 429"}},
		{429, nil, hdr(now.Add(90 * time.Second).Format(http.TimeFormat)), verdict{result: ResultRetrying, retryAfter: 90 * time.Second, why: "HTTP 429"}},
		{429, nil, hdr("999999"), verdict{result: ResultRetrying, retryAfter: MaxRetryAfter, why: "HTTP 429"}},
		{429, nil, hdr("soon"), verdict{result: ResultRetrying, why: "HTTP 429"}},
		{429, nil, hdr(now.Add(-time.Minute).Format(http.TimeFormat)), verdict{result: ResultRetrying, why: "HTTP 429"}},
		{410, nil, nil, verdict{result: ResultFailed, gone: true, why: "HTTP 410: the receiver asked to stop deliveries"}},
		{400, nil, nil, verdict{result: ResultFailed, why: "HTTP 400 (not retried)"}},
		{404, nil, hdr("5"), verdict{result: ResultFailed, why: "HTTP 404 (not retried)"}},
		{301, nil, nil, verdict{result: ResultFailed, why: "HTTP 301 (not retried)"}},
	} {
		t.Run(strconv.Itoa(c.status)+"/"+c.h.Get("Retry-After"), func(t *testing.T) {
			require.Equal(t, c.want, classify(c.status, c.netErr, c.h, now))
		})
	}
}

func TestRetryDelay_RetryAfterWinsOverBackoff(t *testing.T) {
	t.Parallel()
	d := &Deliverer{cfg: Config{RetryBase: time.Second, RetryMax: time.Minute}}
	task := asynq.NewTask(TaskDeliver, nil)
	require.Equal(t, 42*time.Second, d.retryDelay(3, &retryError{after: 42 * time.Second, err: io.EOF}, task))
	for n := range 10 {
		got := d.retryDelay(n, &retryError{err: io.EOF}, task)
		require.GreaterOrEqual(t, got, time.Duration(0))
		require.LessOrEqual(t, got, min(time.Minute, time.Second<<n), "attempt %d: exponential from RetryBase, capped at RetryMax", n)
	}
}

func TestDeliver_NoSecret_NeverSentUnsigned(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(1)
	h.start()
	h.record(ids...)
	d := h.waitResult(ids[0], "ep1", ResultFailed)
	require.Equal(t, reasonNoSecret, d.Reason)
	require.Zero(t, d.Attempts)
	require.Empty(t, rc.arrivals(ids[0]), "nothing was sent unsigned")
	// A retry task (from before the secret was lost) does not send either.
	require.NoError(t, h.d.dlog.enqueueRetry(h.ctx, ids[0], "ep1", 0))
	require.Eventually(t, func() bool { return h.taskState(ids[0]+".ep1") == asynq.TaskStateArchived }, 30*time.Second, 10*time.Millisecond)
	require.Empty(t, rc.arrivals(ids[0]), "nothing was sent unsigned")
}

// The drain writes attempts by hand; they must be json.Marshal's bytes.
func TestAppendAttempt_IsJSONMarshal(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	for _, a := range []Attempt{
		{At: at, Status: 204, Result: ResultDelivered},
		{At: at.Add(-at.Sub(at.Truncate(time.Second))), LatencyMs: 12, Result: ResultRetrying, Error: "timeout: no answer within 10s"},
		{At: at, Status: 500, Response: "<html>\"boom\"\n\\ & é\x01</html>", ResponseTruncated: true, Error: "HTTP 500", Result: ResultRetrying},
		{At: at.In(time.FixedZone("x", 3600)), Result: ResultFailed},
	} {
		want, err := json.Marshal(a)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendAttempt(nil, a)))
	}
}

// An event whose lease expired (its deliverer was killed) is taken again by
// any deliverer: a delivery recorded before the kill is not sent again, one
// left retrying gets its retry task, the rest are sent.
func TestDrain_ExpiredLease_RecoveredFromTheLog(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(3)
	// ids[0] was delivered, ids[1] failed once and was left retrying,
	// ids[2] never sent; all three leased by a deliverer that is gone.
	require.NoError(t, h.d.dlog.setResult(h.ctx, ids[0], "ep1", ResultDelivered, ""))
	require.NoError(t, h.d.dlog.setResult(h.ctx, ids[1], "ep1", ResultRetrying, ""))
	h.leased("gone", time.Now().Add(-time.Second), ids...)
	// A lease still running is left alone.
	live := h.evs.add(1)[0]
	h.leased("live", time.Now().Add(time.Hour), live)
	h.start()
	h.waitResult(ids[1], "ep1", ResultDelivered)
	h.waitResult(ids[2], "ep1", ResultDelivered)
	require.Eventually(t, func() bool {
		left, err := h.rdb.ZRange(h.ctx, InflightKey(h.ns), 0, -1).Result()
		return err == nil && len(left) == 1 && left[0] == "live"
	}, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{live}, h.rdb.LRange(h.ctx, LeaseKey(h.ns, "live"), 0, -1).Val())
	require.Zero(t, h.rdb.Exists(h.ctx, LeaseKey(h.ns, "gone")).Val(), "the expired batch is settled")
	require.Empty(t, rc.arrivals(ids[0]), "delivered before the lease expired: not sent again")
	require.Len(t, rc.arrivals(ids[1]), 1, "sent by its retry task")
	require.Len(t, rc.arrivals(ids[2]), 1)
	require.Empty(t, rc.arrivals(live), "another deliverer's lease is not taken")
}

// Several deliverers share one pending list: every event is delivered
// once, by one of them, and each does part of the work.
func TestDrain_SeveralDeliverers_ShareTheWork(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, func(c *Config) { c.Concurrency = 2 })
	cfg2 := h.d.cfg
	d2, err := NewDeliverer(cfg2)
	require.NoError(t, err)
	obs1, obs2 := &countObserver{n: map[string]int{}}, &countObserver{n: map[string]int{}}
	h.d.obs, d2.obs = obs1, obs2
	ids := h.evs.add(200)
	// Both running when the events come, as workers are.
	h.start()
	require.NoError(t, d2.Start())
	t.Cleanup(d2.Shutdown)
	h.record(ids...)
	for _, id := range ids {
		h.waitResult(id, "ep1", ResultDelivered)
	}
	for _, id := range ids {
		require.Len(t, rc.arrivals(id), 1, "event %s delivered once", id)
	}
	require.Eventually(t, func() bool { return obs1.count(ResultDelivered)+obs2.count(ResultDelivered) == len(ids) }, 10*time.Second, 5*time.Millisecond)
	require.Positive(t, obs1.count(ResultDelivered), "the first deliverer delivered some")
	require.Positive(t, obs2.count(ResultDelivered), "the second deliverer delivered some")
}

// Shutdown hands the events a deliverer still holds back at once: another
// deliverer delivers them without waiting for their leases to expire.
func TestDrain_Shutdown_ReleasesHeldEvents(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	rc.setBehave(func(w http.ResponseWriter, r *http.Request, _ string, n int) bool {
		select {
		case <-release:
			return false
		case <-r.Context().Done():
			return true
		}
	})
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, func(c *Config) {
		c.Concurrency, c.LeaseFor, c.ShutdownTimeout, c.Timeout = 1, time.Hour, 50*time.Millisecond, 10*time.Second
	})
	ids := h.evs.add(5)
	h.record(ids...)
	require.NoError(t, h.d.Start())
	// One held by the slot, the rest leased behind it.
	require.Eventually(t, func() bool { n, err := Leased(h.ctx, h.rdb, h.ns); return err == nil && n == 5 }, 30*time.Second, 5*time.Millisecond)
	h.d.Shutdown()
	once.Do(func() { close(release) })
	d2, err := NewDeliverer(h.d.cfg)
	require.NoError(t, err)
	require.NoError(t, d2.Start())
	t.Cleanup(d2.Shutdown)
	for _, id := range ids {
		h.waitResult(id, "ep1", ResultDelivered)
	}
}

// A lease is renewed while its event is being delivered, however long
// that takes: another deliverer does not send it meanwhile.
func TestDrain_LeaseRenewedWhileDelivering(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	release := make(chan struct{})
	rc.setBehave(func(w http.ResponseWriter, r *http.Request, _ string, n int) bool {
		if n == 1 {
			<-release
		}
		return false
	})
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, func(c *Config) { c.LeaseFor, c.Timeout = 150*time.Millisecond, 10*time.Second })
	d2, err := NewDeliverer(h.d.cfg)
	require.NoError(t, err)
	ids := h.evs.add(1)
	h.record(ids...)
	h.start()
	require.Eventually(t, func() bool { return len(rc.arrivals(ids[0])) == 1 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, d2.Start())
	t.Cleanup(d2.Shutdown)
	time.Sleep(time.Second) // several leases long: d2 polls every 10 ms meanwhile
	close(release)
	h.waitResult(ids[0], "ep1", ResultDelivered)
	require.Len(t, rc.arrivals(ids[0]), 1, "sent once: the lease was renewed")
}

// A delivery delivered at its first attempt has no key of its own (a field
// of its endpoint's hash of the hour), yet the log shows it as any other —
// by event, by endpoint, after its index entry is gone — a recovered lease
// does not send it again, and a redelivery continues its history.
func TestDrain_DeliveredAtOnce_LoggedWithoutAKeyOfItsOwn(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	rc := newReceiver(t, secret)
	eps := newFakeEndpoints(Target{ID: "ep1", URL: rc.srv.URL, Secrets: []string{secret}, Enabled: true})
	h := newHarness(t, eps, nil)
	ids := h.evs.add(3)
	long := strings.Repeat("x", webhook.DefaultResponseLimit+10)
	rc.setBehave(func(w http.ResponseWriter, _ *http.Request, id string, _ int) bool {
		if id != ids[0] {
			return false
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, long)
		return true
	})
	h.start()
	h.record(ids...)
	for _, id := range ids {
		h.waitResult(id, "ep1", ResultDelivered)
	}
	summaries, err := h.rdb.Keys(h.ctx, h.d.Log().p+"d:*").Result()
	require.NoError(t, err)
	require.Empty(t, summaries, "no delivery has a summary key of its own")

	d := h.waitResult(ids[0], "ep1", ResultDelivered)
	require.Equal(t, webhook.LabelCompleted, d.Type)
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, http.StatusOK, d.LastStatus)
	require.NotNil(t, d.LastAttemptAt)
	require.Len(t, d.History, 1)
	a := d.History[0]
	require.Equal(t, http.StatusOK, a.Status)
	require.Equal(t, ResultDelivered, a.Result)
	require.True(t, a.ResponseTruncated)
	require.Equal(t, long[:webhook.DefaultResponseLimit], a.Response)
	require.Equal(t, d.CreatedAt, a.At.Truncate(time.Millisecond))

	byEp, err := h.d.Log().ForEndpoint(h.ctx, "ep1", time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, byEp, 3)
	// Dropped from the bounded index: still found by its event.
	require.NoError(t, h.rdb.ZRem(h.ctx, h.d.Log().epKey("ep1"), ids[0]).Err())
	byEv, err := h.d.Log().ForEvent(h.ctx, ids[0])
	require.NoError(t, err)
	require.Len(t, byEv, 1)
	require.Equal(t, d, byEv[0])

	// A deliverer that died holding ids[1] after recording it: its
	// recovery sends nothing again.
	h.leased("dead", time.Now().Add(-time.Second), ids[1])
	require.Eventually(t, func() bool { return h.rdb.ZCard(h.ctx, InflightKey(h.ns)).Val() == 0 }, 30*time.Second, 5*time.Millisecond)
	require.Len(t, rc.arrivals(ids[1]), 1, "recovered from the log: not sent again")

	// A redelivery: the record becomes a summary, and its history grows.
	n, err := h.d.Log().RedeliverEvent(h.ctx, ids[2], "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool {
		d, ok, err := h.d.Log().get(h.ctx, ids[2], "ep1")
		return err == nil && ok && d.Result == ResultDelivered && d.Attempts == 2
	}, 30*time.Second, 10*time.Millisecond)
	require.Len(t, rc.arrivals(ids[2]), 2)
	d2, _, err := h.d.Log().get(h.ctx, ids[2], "ep1")
	require.NoError(t, err)
	require.Len(t, d2.History, 2)
	require.Equal(t, 4, h.obs.count(ResultDelivered), "every attempt counted in the metrics")
}

// encodeEvent gives json.Marshal's bytes (the body is the same on every
// attempt, whichever path encoded it), and its error where it fails.
func TestEncodeEvent_IsJSONMarshal(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	base := webhook.Event{ID: "evt_0123456789abcdefghjkmnpqrs", Type: webhook.LabelCompleted, CreatedAt: at,
		APIVersion: webhook.APIVersion, Sequence: 7}
	for _, data := range []string{
		`{"idempotencyKey":"k1","state":"completed","label":{"id":"l1","trackingNumbers":["A1","B2"]}}`,
		`{"message":"HTTP 422: street is required","n":-1.5e3,"ok":true,"x":null}`, // spaces inside strings stay
		`{"a": 1, "b":[1, 2]}`,                      // compacted by json.Marshal
		"{\n\t\"a\":1\n}",                           // likewise
		`{"html":"<b>fish & chips</b>"}`,            // escaped for HTML by json.Marshal
		`{"q":"a \"quoted\" \\ word","u":"\u00e9"}`, // escapes kept as they are
		`{"raw":"é"}`,                               // non-ASCII
		"{\"ls\":\"a\u2028b\"}",                     // escaped by json.Marshal
		`{"a":`,                                     // invalid: json.Marshal's error
		`{"a":1}}`,                                  // invalid
		`"just a string"`,
		``, // no data: null
	} {
		ev := base
		ev.Data = json.RawMessage(data)
		if data == "" {
			ev.Data = nil
		}
		want, wantErr := json.Marshal(ev)
		got, err := encodeEvent(ev)
		require.Equal(t, wantErr != nil, err != nil, "data %q: error %v, json.Marshal's %v", data, err, wantErr)
		require.Equal(t, string(want), string(got), "data %q", data)
	}
	for _, ev := range []webhook.Event{
		{ID: `evt_"odd"<id>`, Type: "label.dead", CreatedAt: at.In(time.FixedZone("x", 3600)), Data: json.RawMessage(`{}`)},
		{ID: "evt_1", Type: "label.dead", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{}`)},
	} {
		want, wantErr := json.Marshal(ev)
		got, err := encodeEvent(ev)
		require.Equal(t, wantErr != nil, err != nil)
		require.Equal(t, string(want), string(got))
	}
}
