package hooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// received is what a receiver got, by path: each verified event's data.
type received struct {
	mu      sync.Mutex
	secrets map[string]string
	got     map[string][]webhook.Event
}

func (rc *received) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	secret := rc.secrets[r.URL.Path]
	rc.mu.Unlock()
	body, err := webhook.VerifyRequest(r, secret, 0)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ev webhook.Event
	if json.Unmarshal(body, &ev) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got[r.URL.Path] = append(rc.got[r.URL.Path], ev)
	rc.mu.Unlock()
}

func (rc *received) at(path string) []webhook.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhook.Event(nil), rc.got[path]...)
}

// The fleet's one deliverer sends another account's label.completed,
// naming the account, to the endpoints of every account and of that one;
// an endpoint filtered to brand-a gets no event of the default account.
func TestDeliver_AccountsEvents_ToTheirEndpointsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rc := &received{secrets: map[string]string{}, got: map[string][]webhook.Event{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	for path, accounts := range map[string][]string{"/all": nil, "/brand-a": {"brand-a"}, "/own": {store.DefaultAccount}} {
		ep, err := e.eps.Create(ctx, hooks.Spec{URL: srv.URL + path, Accounts: accounts})
		require.NoError(t, err)
		rc.mu.Lock()
		rc.secrets[path] = ep.Secret
		rc.mu.Unlock()
	}

	q, err := queue.New(e.rdb, queue.Options{Namespace: e.ns})
	require.NoError(t, err)
	qa, err := q.ForAccount("brand-a")
	require.NoError(t, err)
	complete := func(q *queue.Queue, key, lbl string) {
		r, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), queue.Bulk)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, r.Outcome)
		j := &store.Job{Key: key, Queue: q.Name(queue.Bulk), Payload: queuetest.RequestJSON(key, "")}
		st := queuetest.Store(t, q)
		require.NoError(t, st.Complete(ctx, j, &flexapi.Label{ID: lbl, Status: "created"}))
		require.NoError(t, st.SetURLs(ctx, map[string]string{key: "https://docs.example/" + lbl + ".pdf"}))
	}
	complete(qa, "k1", "lbl-a")
	complete(q, "k1", "lbl-d")

	d, err := hooks.NewDeliverer(hooks.Config{Redis: e.rdb, Namespace: e.ns, Endpoints: e.eps, Events: q,
		Timeout: 5 * time.Second, AllowPrivate: true, ShutdownTimeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, d.Start())
	t.Cleanup(d.Shutdown)

	require.Eventually(t, func() bool {
		return len(rc.at("/all")) == 2 && len(rc.at("/brand-a")) == 1 && len(rc.at("/own")) == 1
	}, 30*time.Second, 10*time.Millisecond)
	account := func(ev webhook.Event) string {
		var s struct{ Account, IdempotencyKey string }
		require.NoError(t, json.Unmarshal(ev.Data, &s))
		require.Equal(t, "k1", s.IdempotencyKey)
		return s.Account
	}
	a := rc.at("/brand-a")[0]
	require.Equal(t, webhook.LabelCompleted, a.Type)
	require.Equal(t, "brand-a", account(a))
	require.Contains(t, string(a.Data), `"url":"https://docs.example/lbl-a.pdf"`)
	require.Equal(t, store.DefaultAccount, account(rc.at("/own")[0]))
	var all []string
	for _, ev := range rc.at("/all") {
		all = append(all, account(ev))
		require.EqualValues(t, 1, ev.Sequence, "the same key under two accounts counts apart")
	}
	require.ElementsMatch(t, []string{"brand-a", store.DefaultAccount}, all)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, rc.at("/brand-a"), 1, "no default-account event for brand-a's endpoint")
}
