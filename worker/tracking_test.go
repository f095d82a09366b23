package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
	"github.com/flexlabel/flexlabel/worker"
)

// trackSpeedup is the fast clock of these tests, shared by the fake API's
// journeys and the worker's cadence: an hour passes in 50 ms, so 90001 is
// Delivered ~4.8 s after its label, polled every 25–50 ms while InTransit.
const trackSpeedup = 3600 * 20

type trackOpts struct {
	maxAge   time.Duration
	prefix   string
	webhooks bool
	// api, when set, wraps the tracking client of the fake API.
	api func(worker.TrackingAPI) worker.TrackingAPI
}

// startTracking starts a worker following every label on the fast clock,
// against a fake API on the same clock.
func startTracking(t *testing.T, o trackOpts) *harness {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns, MaxRetry: 5})
	require.NoError(t, err)
	fake := flexapitest.NewTestServer(t, token)
	fake.SetTrackingSpeedup(trackSpeedup)
	if o.webhooks {
		queuetest.WebhooksOn(t, rdb, ns)
	}
	h := &harness{rdb: rdb, q: q, fake: fake, logs: &queuetest.Buffer{}, ns: ns}
	h.w = h.trackingWorker(t, o)
	t.Cleanup(func() {
		h.w.Shutdown()
		h.requireNoSecrets(t)
	})
	return h
}

// trackingWorker starts one more worker on h's queue and fake API.
func (h *harness) trackingWorker(t *testing.T, o trackOpts) *worker.Worker {
	t.Helper()
	api, err := flexapi.NewClient(h.fake.URL(), token, flexapi.WithTimeout(2*time.Second))
	require.NoError(t, err)
	budget, err := worker.NewBudget(h.q, 1000)
	require.NoError(t, err)
	var trk worker.TrackingAPI = api
	if o.api != nil {
		trk = o.api(api)
	}
	w, err := worker.New(worker.Config{
		Queue: h.q, API: api, Budget: budget,
		Logger:         slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Concurrency:    4,
		RetryBase:      100 * time.Millisecond,
		RetryMax:       time.Second,
		URLBatchWindow: 50 * time.Millisecond,
		Tracking: worker.TrackingConfig{On: true, KeyPrefix: o.prefix, MaxAge: o.maxAge, Speedup: trackSpeedup,
			API: trk, Lease: time.Second},
	})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	return w
}

// enqueueTo enqueues a label to a sandbox postal code.
func (h *harness) enqueueTo(t *testing.T, key, postal string) {
	t.Helper()
	line := bytes.Replace(queuetest.RequestJSON(key, ""), []byte(`"postalCode":"08817"`), []byte(`"postalCode":"`+postal+`"`), 1)
	res, err := h.q.EnqueueLine(context.Background(), line, queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
}

// waitTracking waits until key's tracking satisfies ok and returns it.
func (h *harness) waitTracking(t *testing.T, key string, within time.Duration, ok func(*queue.JobStatus) bool) queue.JobStatus {
	t.Helper()
	var last queue.JobStatus
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := h.q.Status(context.Background(), key)
		require.NoError(c, err)
		last = st[0]
		assert.True(c, last.Tracking != nil && ok(&last), "tracking of %s: %+v", key, last.Tracking)
	}, within, 20*time.Millisecond)
	return last
}

func final(tag string) func(*queue.JobStatus) bool {
	return func(s *queue.JobStatus) bool { return s.Tracking.Tag == tag && s.Tracking.NextCheckAt == nil }
}

func followedAt(tag string) func(*queue.JobStatus) bool {
	return func(s *queue.JobStatus) bool { return s.Tracking.Tag == tag && s.Tracking.NextCheckAt != nil }
}

func (h *harness) due(t *testing.T, key string) bool {
	t.Helper()
	err := h.rdb.ZScore(context.Background(), "fl:"+h.ns+":trk:due", key).Err()
	if err == redis.Nil {
		return false
	}
	require.NoError(t, err)
	return true
}

// polls is how often the fake answered GET /tracking for key's label.
func (h *harness) polls(t *testing.T, key string) int {
	t.Helper()
	st, err := h.q.Status(context.Background(), key)
	require.NoError(t, err)
	require.NotNil(t, st[0].Label)
	return h.fake.Ledger().TrackingCallsPerLabel[st[0].Label.ID]
}

// Each sandbox code reaches its end state: 90001 Delivered and 90004
// Cancelled are no longer followed; 90002 Exception, 90003 InTransit and
// 90005 (a tag flexapi does not know: Unknown) still are.
func TestTracking_SandboxCodesReachTheirEndStates(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{})
	for _, code := range []string{"90001", "90002", "90003", "90004", "90005"} {
		h.enqueueTo(t, "k-"+code, code)
	}
	d := h.waitTracking(t, "k-90001", 30*time.Second, final(flexapi.TagDelivered))
	require.Len(t, d.Tracking.Checkpoints, 5)
	require.Equal(t, flexapi.TagDelivered, d.Tracking.Checkpoints[0].Tag, "newest first")
	require.Equal(t, flexapi.TagInfoReceived, d.Tracking.Checkpoints[4].Tag)
	require.Equal(t, *d.Label.CourierTrackingNumber, d.Tracking.TrackingNumber)
	require.Equal(t, "Delivered_001", d.Tracking.Subtag)
	require.False(t, d.Tracking.CheckedAt.IsZero())
	h.waitTracking(t, "k-90002", 30*time.Second, followedAt(flexapi.TagException))
	h.waitTracking(t, "k-90003", 30*time.Second, followedAt(flexapi.TagInTransit))
	h.waitTracking(t, "k-90004", 30*time.Second, final(flexapi.TagCancelled))
	unknown := h.waitTracking(t, "k-90005", 30*time.Second, followedAt(flexapi.TagUnknown))
	require.Equal(t, flexapi.TagUnknown, unknown.Tracking.Checkpoints[0].Tag)

	for key, followed := range map[string]bool{"k-90001": false, "k-90002": true, "k-90003": true, "k-90004": false, "k-90005": true} {
		require.Equal(t, followed, h.due(t, key), key)
	}
	counts, err := queuetest.Store(t, h.q).TrackingCounts(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"Exception": 1, "InTransit": 1, "Unknown": 1}, counts)
}

// A label that reached Delivered is polled no more, while the poller goes
// on polling the ones still followed — a new tag (Unknown) among them.
func TestTracking_DeliveredStopsPolling_UnknownStillFollowed(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{})
	h.enqueueTo(t, "done", flexapitest.PostalDelivered)
	h.enqueueTo(t, "new-tag", flexapitest.PostalNewTag)
	h.waitTracking(t, "done", 30*time.Second, final(flexapi.TagDelivered))
	h.waitTracking(t, "new-tag", 30*time.Second, followedAt(flexapi.TagUnknown))
	atDelivery := h.polls(t, "done")
	before := h.polls(t, "new-tag")
	require.Eventually(t, func() bool { return h.polls(t, "new-tag") >= before+10 }, 30*time.Second, 10*time.Millisecond,
		"an Unknown shipment is polled on (like InTransit)")
	require.Equal(t, atDelivery, h.polls(t, "done"), "no poll after Delivered")
	require.False(t, h.due(t, "done"))
	st := h.waitTracking(t, "new-tag", time.Second, followedAt(flexapi.TagUnknown))
	require.True(t, st.Tracking.NextCheckAt.After(st.Tracking.CheckedAt))
}

// tracking.updated arrives once per change: the first tracking, each new
// checkpoint, the change of tag — never for a poll that found nothing new.
func TestTracking_UpdatedEventOncePerChange(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{webhooks: true})
	h.enqueueTo(t, "k1", flexapitest.PostalDelivered)
	h.waitTracking(t, "k1", 30*time.Second, final(flexapi.TagDelivered))
	st := queuetest.Store(t, h.q)
	type seen struct {
		tag string
		n   int
	}
	var got []seen
	for _, id := range queuetest.PendingEvents(t, h.rdb, h.ns) {
		ev, key, err := st.Event(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, "k1", key)
		if ev.Type != webhook.TrackingUpdated {
			continue
		}
		var data queue.JobStatus
		require.NoError(t, json.Unmarshal(ev.Data, &data))
		require.NotNil(t, data.Tracking, "data carries the tracking")
		require.Equal(t, queue.StateCompleted, data.State)
		got = append(got, seen{data.Tracking.Tag, len(data.Tracking.Checkpoints)})
	}
	// The journey has 5 checkpoints; the first poll (at 4–6 h) may come
	// after the pickup (6 h), so it may see 2 at once.
	require.GreaterOrEqual(t, len(got), 4, "%v", got)
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].n, got[i-1].n, "each event brings a new checkpoint: %v", got)
	}
	require.Equal(t, seen{flexapi.TagDelivered, 5}, got[len(got)-1])
	require.Greater(t, h.polls(t, "k1"), 2*len(got), "most polls found nothing new and sent nothing")
}

// A worker restart loses no followed shipment: the schedule is in Redis,
// and a new worker takes it up where the stopped one left it.
func TestTracking_WorkerRestart_LosesNoFollowedShipment(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{})
	keys := map[string]string{"r-1": "90001", "r-2": "90001", "r-3": "90002", "r-4": "90004", "r-5": "90001"}
	for key, code := range keys {
		h.enqueueTo(t, key, code)
	}
	for key := range keys {
		h.waitTracking(t, key, 30*time.Second, func(*queue.JobStatus) bool { return true })
	}
	h.w.Shutdown()
	for key := range keys {
		st, err := h.q.Status(context.Background(), key)
		require.NoError(t, err)
		require.Equal(t, st[0].Tracking.NextCheckAt != nil, h.due(t, key), "%s: scheduled while followed", key)
	}
	h.w = h.trackingWorker(t, trackOpts{})
	for key, code := range keys {
		switch code {
		case "90001":
			h.waitTracking(t, key, 30*time.Second, final(flexapi.TagDelivered))
		case "90002":
			h.waitTracking(t, key, 30*time.Second, followedAt(flexapi.TagException))
		case "90004":
			h.waitTracking(t, key, 30*time.Second, final(flexapi.TagCancelled))
		}
	}
}

// A poller killed mid-poll (here: a claim nobody finishes) loses nothing:
// when its lease ends the check comes due again and a worker makes it.
func TestTracking_ClaimOfAKilledPoller_ComesDueAgain(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{api: func(worker.TrackingAPI) worker.TrackingAPI { return blocked{} }})
	h.enqueueTo(t, "k1", flexapitest.PostalCancelled)
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	h.w.Shutdown() // its polls never came through
	require.True(t, h.due(t, "k1"))
	// Claim it as a poller that is then killed: its score moves a lease ahead.
	ctx := context.Background()
	require.NoError(t, h.rdb.ZAdd(ctx, "fl:"+h.ns+":trk:due", redis.Z{Score: float64(time.Now().UnixMilli()), Member: "k1"}).Err())
	c, err := queuetest.Store(t, h.q).ClaimTracking(ctx, time.Now(), time.Second)
	require.NoError(t, err)
	require.Equal(t, "k1", c.Key)
	h.w = h.trackingWorker(t, trackOpts{})
	h.waitTracking(t, "k1", 30*time.Second, final(flexapi.TagCancelled))
}

// blocked is a tracking API that never answers in time.
type blocked struct{}

func (blocked) GetTracking(ctx context.Context, _ string) (*flexapi.Tracking, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// With the age limit, following stops even while the shipment is in
// transit.
func TestTracking_AgeLimit_StopsFollowing(t *testing.T) {
	t.Parallel()
	const maxAge = 1500 * time.Millisecond // 30 h on the fast clock
	h := startTracking(t, trackOpts{maxAge: maxAge})
	h.enqueueTo(t, "k1", flexapitest.PostalInTransit)
	h.waitTracking(t, "k1", 30*time.Second, final(flexapi.TagInTransit))
	require.False(t, h.due(t, "k1"))
	require.Greater(t, h.polls(t, "k1"), 5, "followed until the limit")
	n := h.polls(t, "k1")
	counts, err := queuetest.Store(t, h.q).TrackingCounts(context.Background())
	require.NoError(t, err)
	require.Empty(t, counts)
	require.Equal(t, n, h.polls(t, "k1"))
}

// Only keys with FLEXLABEL_TRACKING_KEY_PREFIX are followed.
func TestTracking_KeyPrefix_OnlyMatchingKeysFollowed(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{prefix: "shop-"})
	h.enqueueTo(t, "shop-1", flexapitest.PostalInTransit)
	h.enqueueTo(t, "other-1", flexapitest.PostalInTransit)
	h.wait(t, "shop-1", queue.StateCompleted, 10*time.Second)
	h.wait(t, "other-1", queue.StateCompleted, 10*time.Second)
	require.True(t, h.due(t, "shop-1"))
	require.False(t, h.due(t, "other-1"))
	h.waitTracking(t, "shop-1", 30*time.Second, followedAt(flexapi.TagInTransit))
	st, err := h.q.Status(context.Background(), "other-1")
	require.NoError(t, err)
	require.Nil(t, st[0].Tracking)
}

// flaky fails its first calls with a 500, then answers.
type flaky struct {
	worker.TrackingAPI
	left atomic.Int32
}

func (f *flaky) GetTracking(ctx context.Context, id string) (*flexapi.Tracking, error) {
	if f.left.Add(-1) >= 0 {
		return nil, &flexapi.APIError{StatusCode: 500, Message: "Internal error"}
	}
	return f.TrackingAPI.GetTracking(ctx, id)
}

// notFound answers 404 to every poll.
type notFound struct{}

func (notFound) GetTracking(context.Context, string) (*flexapi.Tracking, error) {
	return nil, &flexapi.APIError{StatusCode: 404, Message: "Tracking not found"}
}

// A 5xx is retried later without losing the key; a 404 stops the follow-up.
func TestTracking_ServerErrorRetried_NotFoundStops(t *testing.T) {
	t.Parallel()
	h := startTracking(t, trackOpts{api: func(a worker.TrackingAPI) worker.TrackingAPI {
		f := &flaky{TrackingAPI: a}
		f.left.Store(5)
		return f
	}})
	h.enqueueTo(t, "k1", flexapitest.PostalCancelled)
	h.waitTracking(t, "k1", 30*time.Second, final(flexapi.TagCancelled))

	h2 := startTracking(t, trackOpts{api: func(worker.TrackingAPI) worker.TrackingAPI { return notFound{} }})
	h2.enqueueTo(t, "k2", flexapitest.PostalInTransit)
	h2.wait(t, "k2", queue.StateCompleted, 10*time.Second)
	require.Eventually(t, func() bool { return !h2.due(t, "k2") }, 30*time.Second, 10*time.Millisecond)
	st, err := h2.q.Status(context.Background(), "k2")
	require.NoError(t, err)
	require.Nil(t, st[0].Tracking, "never polled successfully")
	require.Contains(t, h2.logs.String(), "the API does not know the label")
}

// Without Tracking.On nothing is scheduled.
func TestTracking_Off_NothingScheduled(t *testing.T) {
	t.Parallel()
	h := start(t, opts{})
	h.enqueue(t, "k1", "")
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	n, err := h.rdb.Exists(context.Background(), "fl:"+h.ns+":trk:due", "fl:"+h.ns+":trk:f").Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

// Tracking on with an API that cannot poll is a configuration error.
func TestTracking_OnWithoutTrackingAPI_Refused(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	budget, err := worker.NewBudget(q, 10)
	require.NoError(t, err)
	_, err = worker.New(worker.Config{Queue: q, API: labelsOnly{}, Budget: budget, Tracking: worker.TrackingConfig{On: true}})
	require.ErrorContains(t, err, "Tracking.API")
	_, err = worker.New(worker.Config{Queue: q, API: labelsOnly{}, Budget: budget,
		Tracking: worker.TrackingConfig{On: true, API: notFound{}, Speedup: 0.5}})
	require.ErrorContains(t, err, "Speedup")
}

type labelsOnly struct{}

func (labelsOnly) CreateLabelJSON(context.Context, []byte) (*flexapi.Label, error) {
	return nil, errors.New("not here")
}
func (labelsOnly) GetLabels(context.Context, ...string) ([]flexapi.LabelDocument, error) {
	return nil, nil
}
