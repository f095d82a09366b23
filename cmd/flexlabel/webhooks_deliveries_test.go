package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
)

// webhookFakes stand in for part A's endpoints (one: ep1) and part B's events.
type webhookFakes struct {
	url, secret string
}

func (f webhookFakes) target() hooks.Target {
	return hooks.Target{ID: "ep1", URL: f.url, Secrets: []string{f.secret}, Enabled: true}
}
func (f webhookFakes) Matching(context.Context, webhook.EventType, string, string) ([]hooks.Target, error) {
	return []hooks.Target{f.target()}, nil
}
func (f webhookFakes) Target(context.Context, string) (hooks.Target, error) { return f.target(), nil }
func (f webhookFakes) Disable(context.Context, string, string) error        { return nil }
func (f webhookFakes) EventAbout(_ context.Context, id string) (webhook.Event, store.EventSubject, error) {
	if !strings.HasPrefix(id, "evt_") {
		return webhook.Event{}, store.EventSubject{}, store.ErrNotFound
	}
	return webhook.Event{ID: id, Type: webhook.LabelCompleted, CreatedAt: time.Unix(1764669600, 0).UTC(),
		APIVersion: webhook.APIVersion, Sequence: 1, Data: json.RawMessage(`{"idempotencyKey":"k"}`)}, store.EventSubject{Account: store.DefaultAccount, Key: "k"}, nil
}

// Not parallel: it swaps webhookSources, which parallel tests' workers read
// (they run only after the sequential tests).
func TestWebhookDelivery_WorkerDeliversAndCLIShowsAndRedelivers(t *testing.T) {
	secret := webhook.NewSecret()
	var mu sync.Mutex
	got := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret, 0)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		got[ev.ID]++
		mu.Unlock()
		if ev.ID == "evt_refused" {
			http.Error(w, "unknown order", http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	arrivals := func(id string) int { mu.Lock(); defer mu.Unlock(); return got[id] }

	c := newCLI(t)
	// Webhooks off (the default without FLEXLABEL_WEBHOOK_SIGNING_KEY): the commands say so.
	r := c.run(t, "", "webhooks", "deliveries", "--event", "evt_x")
	require.Equal(t, exitOperational, r.code)
	require.Contains(t, r.stderr, "FLEXLABEL_WEBHOOK_SIGNING_KEY")

	saved := webhookSources
	t.Cleanup(func() { webhookSources = saved })
	fakes := webhookFakes{url: rcv.URL, secret: secret}
	webhookSources = func(*deps) (*webhookSetup, error) {
		return &webhookSetup{Endpoints: fakes, Events: fakes}, nil
	}
	c.env["FLEXLABEL_WEBHOOK_CONCURRENCY"] = "2"
	c.startWorker(t)

	opts, err := redis.ParseURL(c.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	cli := asynq.NewClientFromRedisClient(rdb)
	for _, id := range []string{"evt_ok", "evt_refused"} { // as part B's scripts record them
		_, err := cli.Enqueue(asynq.NewTask(hooks.TaskEvent, []byte(id)), asynq.Queue(hooks.QueueName(c.env["FLEXLABEL_QUEUE"])), asynq.TaskID(id))
		require.NoError(t, err)
	}
	waitResult := func(id, result string, attempts int) {
		t.Helper()
		require.Eventually(t, func() bool {
			r := c.run(t, "", "webhooks", "deliveries", "--event", id, "--json")
			if r.code != 0 {
				return false
			}
			var d hooks.Delivery
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &d), r.stdout)
			return d.Result == result && d.Attempts == attempts
		}, 30*time.Second, 20*time.Millisecond, "%s never became %s after %d attempts", id, result, attempts)
	}
	waitResult("evt_ok", hooks.ResultDelivered, 1)
	waitResult("evt_refused", hooks.ResultFailed, 1)

	r = c.run(t, "", "webhooks", "deliveries", "--endpoint", "ep1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "EVENT")
	require.Regexp(t, `evt_refused\s+ep1\s+label.completed\s+failed\s+1\s+\S+\s+422`, r.stdout)
	require.Regexp(t, `evt_ok\s+ep1\s+label.completed\s+delivered\s+1`, r.stdout)
	r = c.run(t, "", "webhooks", "deliveries", "--endpoint", "ep1", "--json")
	require.Len(t, lines(t, r.stdout), 2)

	r = c.run(t, "", "webhooks", "redeliver", "--endpoint", "ep1", "--since", "2000-01-01T00:00:00Z")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "redelivered 1\n", r.stdout, "only the failed delivery")
	waitResult("evt_refused", hooks.ResultFailed, 2)
	r = c.run(t, "", "webhooks", "redeliver", "evt_ok")
	require.Equal(t, "redelivered 1\n", r.stdout, r.stderr)
	waitResult("evt_ok", hooks.ResultDelivered, 2)
	require.Equal(t, 2, arrivals("evt_ok"))
	require.Equal(t, 2, arrivals("evt_refused"))

	r = c.run(t, "", "webhooks", "redeliver", "evt_unknown")
	require.Equal(t, exitRefused, r.code)
	require.Contains(t, r.stderr, `no deliveries of event "evt_unknown"`)
}

func TestWebhookDelivery_CLIRefusesBadFlags(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks", "deliveries"}, "exactly one of --endpoint ID and --event ID"},
		{[]string{"webhooks", "deliveries", "--endpoint", "a", "--event", "b"}, "exactly one of --endpoint ID and --event ID"},
		{[]string{"webhooks", "deliveries", "--endpoint", "a", "--since", "monday"}, "--since: must be an RFC 3339 time"},
		{[]string{"webhooks", "deliveries", "--endpoint", "a", "--limit", "0"}, "--limit: must be from 1 to 1000"},
		{[]string{"webhooks", "deliveries", "--event", "e", "--since", "2026-01-01T00:00:00Z"}, "--since and --limit go with --endpoint"},
		{[]string{"webhooks", "redeliver"}, "give EVENT_ID, or --endpoint ID with --since T"},
		{[]string{"webhooks", "redeliver", "--endpoint", "a"}, "give EVENT_ID, or --endpoint ID with --since T"},
		{[]string{"webhooks", "redeliver", "evt_1", "--since", "2026-01-01T00:00:00Z"}, "--since goes with --endpoint and no EVENT_ID"},
		{[]string{"webhooks", "redeliver", "--endpoint", "a", "--since", "now"}, "--since: must be an RFC 3339 time"},
	} {
		r := c.run(t, "", tc.args...)
		require.Equal(t, exitOperational, r.code, "%v", tc.args)
		require.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
}
