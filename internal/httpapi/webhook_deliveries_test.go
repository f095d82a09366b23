package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/webhook"
)

// hookSources fakes part A's endpoints (one, ep1) and part B's events.
type hookSources struct{ url string }

func (s hookSources) Matching(context.Context, webhook.EventType, string, string) ([]hooks.Target, error) {
	return []hooks.Target{{ID: "ep1", URL: s.url, Secrets: []string{"whsec_test"}, Enabled: true}}, nil
}
func (s hookSources) Target(context.Context, string) (hooks.Target, error) {
	return hooks.Target{ID: "ep1", URL: s.url, Secrets: []string{"whsec_test"}, Enabled: true}, nil
}
func (s hookSources) Disable(context.Context, string, string) error { return nil }
func (s hookSources) EventAbout(_ context.Context, id string) (webhook.Event, store.EventSubject, error) {
	if id != "evt_1" {
		return webhook.Event{}, store.EventSubject{}, store.ErrNotFound
	}
	return webhook.Event{ID: id, Type: webhook.LabelDead, CreatedAt: time.Unix(1764669600, 0).UTC(), APIVersion: webhook.APIVersion,
		Sequence: 1, Data: json.RawMessage(`{}`)}, store.EventSubject{Account: store.DefaultAccount, Key: "k1"}, nil
}

// hookEnv serves the API with a delivery log, one token per scope, and a
// Deliverer that has delivered evt_1 to ep1, whose receiver answered 422.
func hookEnv(t *testing.T) (*env, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, "no such order", http.StatusUnprocessableEntity)
	}))
	t.Cleanup(rcv.Close)
	set, err := auth.NewSet([]auth.Token{{Scope: auth.All, Secret: token},
		{Scope: auth.Operator, Secret: operatorToken}, {Scope: auth.Viewer, Secret: viewerToken}})
	require.NoError(t, err)
	var dl *hooks.Deliverer
	e := newEnv(t, func(c *httpapi.Config) {
		c.Tokens, c.TokenSet = nil, set
		src := hookSources{url: rcv.URL}
		dl, err = hooks.NewDeliverer(hooks.Config{Redis: c.Queue.Redis(), Namespace: c.Queue.Name(queue.Interactive),
			Endpoints: src, Events: src, TaskCheckInterval: 10 * time.Millisecond, DelayedTaskCheckInterval: 20 * time.Millisecond})
		require.NoError(t, err)
		c.Deliveries = dl.Log()
	})
	require.NoError(t, dl.Start())
	t.Cleanup(dl.Shutdown)
	_, err = asynq.NewClientFromRedisClient(e.rdb).Enqueue(asynq.NewTask(hooks.TaskEvent, []byte("evt_1")),
		asynq.Queue(hooks.QueueName(e.ns)), asynq.TaskID("evt_1"))
	require.NoError(t, err)
	e.waitDelivery(1, hooks.ResultFailed)
	return e, &hits
}

// waitDelivery polls the event's log until its delivery has n attempts and result.
func (e *env) waitDelivery(n int, result string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		r := e.do(http.MethodGet, "/v1/webhook-events/evt_1/deliveries", nil)
		if r.code != http.StatusOK {
			return false
		}
		var got struct{ Deliveries []hooks.Delivery }
		r.json(e.t, &got)
		return len(got.Deliveries) == 1 && got.Deliveries[0].Attempts == n && got.Deliveries[0].Result == result
	}, 30*time.Second, 10*time.Millisecond)
}

func TestWebhookDeliveries_LogAndRedeliver(t *testing.T) {
	t.Parallel()
	e, hits := hookEnv(t)

	r := e.do(http.MethodGet, "/v1/webhook-events/evt_1/deliveries", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	var got struct{ Deliveries []hooks.Delivery }
	r.json(t, &got)
	d := got.Deliveries[0]
	require.Equal(t, "ep1", d.Endpoint)
	require.Equal(t, webhook.LabelDead, d.Type)
	require.Equal(t, http.StatusUnprocessableEntity, d.LastStatus)
	require.Equal(t, "no such order\n", d.History[0].Response)

	r = e.do(http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries?since=2000-01-01T00:00:00Z&limit=5", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	r.json(t, &got)
	require.Len(t, got.Deliveries, 1)
	r = e.do(http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries?since=2999-01-01T00:00:00Z", nil)
	r.json(t, &got)
	require.Empty(t, got.Deliveries)
	r = e.do(http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries?since=yesterday", nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.errorMessage(t), "since: must be an RFC 3339 time")
	r = e.do(http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries?limit=0", nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.errorMessage(t), "limit:")
	r = e.do(http.MethodGet, "/v1/webhook-events/evt_none/deliveries", nil)
	require.Equal(t, http.StatusNotFound, r.code)

	// Redeliver the endpoint's failures since a time: the event is sent again.
	r = e.do(http.MethodPost, "/v1/webhook-endpoints/ep1/redeliver", nil)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Contains(t, r.errorMessage(t), "since: is required")
	r = e.do(http.MethodPost, "/v1/webhook-endpoints/ep1/redeliver?since=2000-01-01T00:00:00Z", nil)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.JSONEq(t, `{"redelivered":1}`, string(r.body))
	e.waitDelivery(2, hooks.ResultFailed)

	r = e.do(http.MethodPost, "/v1/webhook-events/evt_1/redeliver?endpoint=ep1", nil)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.JSONEq(t, `{"redelivered":1}`, string(r.body))
	e.waitDelivery(3, hooks.ResultFailed)
	require.EqualValues(t, 3, hits.Load())
	r = e.do(http.MethodPost, "/v1/webhook-events/evt_1/redeliver?endpoint=ep9", nil)
	require.Equal(t, http.StatusNotFound, r.code)
}

func TestWebhookDeliveries_OperatorScopeAndNoForms(t *testing.T) {
	t.Parallel()
	e, _ := hookEnv(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries"},
		{http.MethodGet, "/v1/webhook-events/evt_1/deliveries"},
		{http.MethodPost, "/v1/webhook-events/evt_1/redeliver"},
		{http.MethodPost, "/v1/webhook-endpoints/ep1/redeliver?since=2999-01-01T00:00:00Z"},
	} {
		name := fmt.Sprintf("%s %s", c.method, c.path)
		r := e.do(c.method, c.path, nil, "Authorization", "Bearer "+viewerToken)
		require.Equal(t, http.StatusForbidden, r.code, name)
		require.Equal(t, "this token lacks scope operator", r.errorMessage(t), name)
		r = e.do(c.method, c.path, nil, "Authorization", "Bearer "+operatorToken)
		require.Less(t, r.code, 300, "%s: %s", name, r.body)
		if c.method == http.MethodPost {
			r = e.do(c.method, c.path, nil, "Authorization", "Bearer "+operatorToken, "Content-Type", "text/plain")
			require.Equal(t, http.StatusUnsupportedMediaType, r.code, name)
		}
	}
}

func TestWebhookDeliveries_Off_409NamesTheVariable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/webhook-endpoints/ep1/deliveries"},
		{http.MethodPost, "/v1/webhook-events/evt_1/redeliver"},
	} {
		r := e.do(c.method, c.path, nil)
		require.Equal(t, http.StatusConflict, r.code, "as the endpoint routes: retrying cannot help")
		require.Contains(t, r.errorMessage(t), "FLEXLABEL_WEBHOOK_SIGNING_KEY")
	}
}
