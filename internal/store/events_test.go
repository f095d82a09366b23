package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// hookEnv is an env whose store plays the worker with a document wait, and
// which reads the events recorded.
type hookEnv struct {
	*env
	wst  *store.Store // the worker's store: DocumentWait set
	cmds *cmdLog      // what the env's client sends, when asked
}

func newHookEnv(t *testing.T, on bool, wait time.Duration) *hookEnv {
	t.Helper()
	e := newEnv(t)
	cmds := &cmdLog{}
	e.rdb.AddHook(cmds)
	o := e.q.Options()
	wst, err := store.New(e.rdb, store.Options{Namespace: o.Namespace, MaxRetry: o.MaxRetry, DocumentWait: wait})
	require.NoError(t, err)
	if on {
		queuetest.WebhooksOn(t, e.rdb, e.ns)
	}
	return &hookEnv{env: e, wst: wst, cmds: cmds}
}

// events returns the events recorded so far, oldest first, from the
// pending list (nobody consumes it here).
func (h *hookEnv) events(t *testing.T) []webhook.Event {
	t.Helper()
	var out []webhook.Event
	for _, id := range queuetest.PendingEvents(t, h.rdb, h.ns) {
		ev, key, err := h.st.Event(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, id, ev.ID)
		var d store.JobStatus
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		require.Equal(t, key, d.IdempotencyKey)
		out = append(out, ev)
	}
	return out
}

// status is GET /v1/labels/{key}'s object for key, as JSON.
func (h *hookEnv) status(t *testing.T, key string) string {
	t.Helper()
	sts, err := h.q.Status(context.Background(), key)
	require.NoError(t, err)
	b, err := json.Marshal(sts[0])
	require.NoError(t, err)
	return string(b)
}

func (h *hookEnv) job(t *testing.T, key string) *store.Job {
	t.Helper()
	enqueue(t, h.env, queuetest.RequestJSON(key, ""), store.Bulk)
	j := queuetest.Job(t, h.q, key, "", queue.Bulk)
	queuetest.Attempt(t, h.q, j)
	return j
}

func created(id string) *flexapi.Label {
	order, track := "YT1", "YT1CN"
	return &flexapi.Label{ID: id, Status: "created", CourierOrderNumber: &order, CourierTrackingNumber: &track}
}

var dead = store.Failure{Reason: store.ReasonCourierRejected, HTTPStatus: 422, Message: "bad address",
	Details: []flexapi.Detail{{Field: "receiver.zip", Message: "unknown"}}, Attempts: 1}

// hookKeys lists every key webhooks could have written in the namespace:
// events, counters, the waiting set, the pending list, and the webhook
// queue's asynq keys (which no outcome writes any more).
func (h *hookEnv) hookKeys(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range append([]string{"fl:" + h.ns + ":hook:*"}, queuetest.AsynqKeyPatterns(queuetest.WebhookQueue(h.ns))...) {
		ks, err := h.rdb.Keys(context.Background(), pat).Result()
		require.NoError(t, err)
		for _, k := range ks {
			if k != queuetest.WebhooksOnKey(h.ns) {
				out = append(out, k)
			}
		}
	}
	return out
}

func TestEvents_Completed_SentWhenTheDocumentURLArrives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	j := h.job(t, "k1")
	require.NoError(t, h.wst.Complete(ctx, j, created("lbl-1")))
	require.Empty(t, h.events(t), "label.completed waits for the document URL")

	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l1.pdf"}))
	evs := h.events(t)
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, webhook.LabelCompleted, ev.Type)
	require.EqualValues(t, 1, ev.Sequence)
	require.Equal(t, webhook.APIVersion, ev.APIVersion)
	require.Regexp(t, `^evt_[0-9a-z]{26}$`, ev.ID)
	require.WithinDuration(t, time.Now(), ev.CreatedAt, time.Minute)
	require.JSONEq(t, h.status(t, "k1"), string(ev.Data), "data is GET /v1/labels/{key}'s object")
	require.Contains(t, string(ev.Data), `"url":"https://docs.example/l1.pdf"`)
	require.Contains(t, string(ev.Data), `"courierTrackingNumber":"YT1CN"`)

	// The same URL stored again (a second fetch) sends nothing more.
	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l1.pdf"}))
	require.Len(t, h.events(t), 1)
	// The event expires after the retention.
	ttl := h.rdb.TTL(ctx, queuetest.EventKey(h.ns, ev.ID)).Val()
	require.Greater(t, ttl, store.EventRetention-time.Minute)
	require.LessOrEqual(t, ttl, store.EventRetention)
}

func TestEvents_Completed_SentWithoutURLAfterTheWait_ThenDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Minute)
	j := h.job(t, "k1")
	require.NoError(t, h.wst.Complete(ctx, j, created("lbl-1")))

	n, err := h.wst.SweepDocumentWaits(ctx, time.Now(), 100)
	require.NoError(t, err)
	require.Zero(t, n, "still within the wait")
	n, err = h.wst.SweepDocumentWaits(ctx, time.Now().Add(2*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = h.wst.SweepDocumentWaits(ctx, time.Now().Add(2*time.Minute), 100)
	require.NoError(t, err)
	require.Zero(t, n, "swept once")
	evs := h.events(t)
	require.Len(t, evs, 1)
	require.Equal(t, webhook.LabelCompleted, evs[0].Type)
	require.JSONEq(t, h.status(t, "k1"), string(evs[0].Data))
	require.NotContains(t, string(evs[0].Data), `"url"`)

	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l1.pdf"}))
	evs = h.events(t)
	require.Len(t, evs, 2)
	require.Equal(t, webhook.LabelDocument, evs[1].Type)
	require.EqualValues(t, 2, evs[1].Sequence)
	require.Contains(t, string(evs[1].Data), `"url":"https://docs.example/l1.pdf"`)
	require.JSONEq(t, h.status(t, "k1"), string(evs[1].Data))

	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l1.pdf"}))
	require.Len(t, h.events(t), 2, "label.document is sent once")
}

// Dead, then redriven at once: each event's data is the key as of that
// event, and the sequence grows across redrive and discard, and on into the
// next job under the same key.
func TestEvents_DeadRedrivenDiscarded_DataAsOfEachEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	j := h.job(t, "k1")
	require.NoError(t, h.wst.DeadLetter(ctx, j, dead))
	deadStatus := h.status(t, "k1")
	require.NoError(t, h.wst.DeadLetter(ctx, j, dead), "recorded again (a retried write)")
	require.Len(t, h.events(t), 1, "dying again without living sends nothing")

	c, err := h.st.Redrive(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.OpRedriven, c)
	pendingStatus := h.status(t, "k1")

	queuetest.Dequeue(t, h.rdb, h.q.Name(queue.Bulk), "k1")
	queuetest.Attempt(t, h.q, j)
	require.NoError(t, h.wst.DeadLetter(ctx, j, dead))
	deadAgain := h.status(t, "k1")
	c, err = h.st.Discard(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.OpDiscarded, c)

	evs := h.events(t)
	require.Len(t, evs, 4)
	for i, want := range []webhook.EventType{webhook.LabelDead, webhook.LabelRedriven, webhook.LabelDead, webhook.LabelDiscarded} {
		require.Equal(t, want, evs[i].Type, i)
		require.EqualValues(t, i+1, evs[i].Sequence, i)
	}
	require.JSONEq(t, deadStatus, string(evs[0].Data), "label.dead still says dead after the redrive")
	require.Contains(t, string(evs[0].Data), `"state":"dead"`)
	require.Contains(t, string(evs[0].Data), `"reason":"courier_rejected"`)
	require.Contains(t, string(evs[0].Data), `"details":[{"field":"receiver.zip","message":"unknown"}]`)
	require.JSONEq(t, pendingStatus, string(evs[1].Data))
	require.Contains(t, string(evs[1].Data), `"state":"pending"`)
	require.JSONEq(t, deadAgain, string(evs[2].Data))
	require.JSONEq(t, deadAgain, string(evs[3].Data), "label.discarded shows the key as it was")
	require.NotContains(t, string(evs[3].Data), `"request"`)
	require.Equal(t, `{"idempotencyKey":"k1","account":"default","state":"unknown","attempts":0,"lastError":null,"label":null,"deadLetter":null,"tracking":null}`, h.status(t, "k1"))

	// A new job under the discarded key carries on the sequence.
	j = h.job(t, "k1")
	require.NoError(t, h.wst.Complete(ctx, j, created("lbl-2")))
	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l2.pdf"}))
	evs = h.events(t)
	require.Len(t, evs, 5)
	require.Equal(t, webhook.LabelCompleted, evs[4].Type)
	require.EqualValues(t, 5, evs[4].Sequence)
}

// Without hook:on no script writes anything of webhooks: no event, no
// counter, no waiting label, no task.
func TestEvents_HooksOff_NothingRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, false, time.Minute)
	j := h.job(t, "k1")
	require.NoError(t, h.wst.Complete(ctx, j, created("lbl-1")))
	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://docs.example/l1.pdf"}))
	n, err := h.wst.SweepDocumentWaits(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	require.Zero(t, n)
	j2 := h.job(t, "k2")
	require.NoError(t, h.wst.DeadLetter(ctx, j2, dead))
	_, err = h.st.Redrive(ctx, "k2")
	require.NoError(t, err)
	queuetest.Dequeue(t, h.rdb, h.q.Name(queue.Bulk), "k2")
	require.NoError(t, h.wst.DeadLetter(ctx, j2, dead))
	c, err := h.st.Discard(ctx, "k2")
	require.NoError(t, err)
	require.Equal(t, store.OpDiscarded, c)

	require.Empty(t, h.hookKeys(t))
	require.Empty(t, queuetest.PendingEvents(t, h.rdb, h.ns))
}

// Each outcome and its event come from one script: after each call both
// are there (with webhooks off, above, neither event nor task), and the call
// sent Redis no write but the script's — reads, then one EVALSHA per key —
// so no crash can fall between the outcome and its event.
func TestEvents_OutcomeAndEventWrittenTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name  string
		want  webhook.EventType
		setup func(t *testing.T, h *hookEnv)
		call  func(h *hookEnv) error // the call under test
		// outcome checks the outcome the same call recorded
		outcome func(t *testing.T, h *hookEnv)
	}{
		{"completed", webhook.LabelCompleted, func(t *testing.T, h *hookEnv) {
			require.NoError(t, h.wst.Complete(ctx, h.job(t, "k"), created("lbl")))
			require.Empty(t, h.events(t))
		}, func(h *hookEnv) error {
			return h.wst.SetURLs(ctx, map[string]string{"k": "https://d/1"})
		}, func(t *testing.T, h *hookEnv) {
			require.Equal(t, []string{"https://d/1"}, must(h.q.URLs(ctx, []string{"k"})))
		}},
		{"completed-after-wait", webhook.LabelCompleted, func(t *testing.T, h *hookEnv) {
			require.NoError(t, h.wst.Complete(ctx, h.job(t, "k"), created("lbl")))
		}, func(h *hookEnv) error {
			_, err := h.wst.SweepDocumentWaits(ctx, time.Now().Add(2*time.Hour), 10)
			return err
		}, func(t *testing.T, h *hookEnv) {
			require.Equal(t, "1", h.rdb.HGet(ctx, queuetest.RecordKey(h.ns, "k"), "hw").Val(), "label.document is owed")
		}},
		{"dead", webhook.LabelDead, func(t *testing.T, h *hookEnv) {
			h.job(t, "k")
		}, func(h *hookEnv) error {
			return h.wst.DeadLetter(ctx, queuetest.Job(t, h.q, "k", "", queue.Bulk), dead)
		}, func(t *testing.T, h *hookEnv) {
			require.True(t, h.rdb.HExists(ctx, queuetest.DeadLetterHash(h.ns), "k").Val())
		}},
		{"redriven", webhook.LabelRedriven, func(t *testing.T, h *hookEnv) {
			require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k"), dead))
			h.drop(t)
		}, func(h *hookEnv) error {
			_, err := h.st.Redrive(ctx, "k")
			return err
		}, func(t *testing.T, h *hookEnv) {
			require.Equal(t, "queued", h.rdb.HGet(ctx, queuetest.RecordKey(h.ns, "k"), "st").Val())
		}},
		{"discarded", webhook.LabelDiscarded, func(t *testing.T, h *hookEnv) {
			require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k"), dead))
			h.drop(t)
		}, func(h *hookEnv) error {
			_, err := h.st.Discard(ctx, "k")
			return err
		}, func(t *testing.T, h *hookEnv) {
			require.Zero(t, h.rdb.Exists(ctx, queuetest.RecordKey(h.ns, "k")).Val())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHookEnv(t, true, time.Hour)
			tc.setup(t, h)
			sent := h.cmds.during(func() { require.NoError(t, tc.call(h)) })
			require.Equal(t, 1, count(sent, "evalsha")+count(sent, "eval"), "one script: %v", sent)
			for _, c := range sent {
				require.Contains(t, []string{"evalsha", "eval", "script", "hget", "hmget", "lrange", "zrangebyscore"}, c,
					"the call writes nothing outside its script: %v", sent)
			}
			tc.outcome(t, h)
			evs := h.events(t)
			require.Len(t, evs, 1)
			require.Equal(t, tc.want, evs[0].Type)
			require.EqualValues(t, 1, h.rdb.Exists(ctx, queuetest.EventKey(h.ns, evs[0].ID)).Val())
			require.False(t, queuetest.Registered(t, h.rdb, queuetest.WebhookQueue(h.ns)), "no asynq task per event")
		})
	}
}

func count(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// cmdLog is a go-redis hook that records the names of the commands sent
// while it is on.
type cmdLog struct {
	mu    sync.Mutex
	on    bool
	names []string
}

// add records cmds once sent, leaving out a script run refused with
// NOSCRIPT (it did nothing; go-redis then loads or EVALs the script).
func (l *cmdLog) add(cmds ...redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on {
		for _, c := range cmds {
			if err := c.Err(); err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
				l.names = append(l.names, c.Name())
			}
		}
	}
}

// during returns the commands sent while fn ran.
func (l *cmdLog) during(fn func()) []string {
	l.mu.Lock()
	l.on, l.names = true, nil
	l.mu.Unlock()
	fn()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.names
}

func (l *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && cmd.Err() == nil {
			cmd.SetErr(err) // as the client does once hooks return
		}
		l.add(cmd)
		return err
	}
}
func (l *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		l.add(cmds...)
		return err
	}
}

// drop forgets the events recorded so far (and their counters stay).
func (h *hookEnv) drop(t *testing.T) {
	t.Helper()
	queuetest.DropPendingEvents(t, h.rdb, h.ns)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestEvent_Unknown_IsNotFound(t *testing.T) {
	t.Parallel()
	h := newHookEnv(t, true, time.Hour)
	_, _, err := h.st.Event(context.Background(), "evt_00000000000000000000000000")
	require.ErrorIs(t, err, store.ErrEventNotFound)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Contains(t, err.Error(), "event not found")
	require.False(t, errors.Is(store.ErrNotFound, store.ErrEventNotFound))
}

// An event's id is on the pending list, newest on the left, where
// deliverers lease it from the right; no asynq task is made for it.
func TestEvents_IDOnPendingList_NoAsynqTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k1"), dead))
	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k2"), dead))
	ids := queuetest.PendingEvents(t, h.rdb, h.ns)
	require.Len(t, ids, 2)
	require.Equal(t, queuetest.PendingEventsKey(h.ns), store.HookPendingKey(h.ns))
	require.Equal(t, ids[0], h.rdb.RPop(ctx, store.HookPendingKey(h.ns)).Val(), "the oldest event is leased first")
	require.False(t, queuetest.Registered(t, h.rdb, queuetest.WebhookQueue(h.ns)))
	ev, key, err := h.st.Event(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, "k1", key)
	require.Equal(t, webhook.LabelDead, ev.Type)
}

// Many sweepers at once send each label's label.completed once.
func TestSweepDocumentWaits_ConcurrentSweepersSendOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Millisecond)
	const n = 30
	for i := range n {
		k := "k" + strings.Repeat("x", i)
		require.NoError(t, h.wst.Complete(ctx, h.job(t, k), created("lbl")))
	}
	later := time.Now().Add(time.Minute)
	sent := make(chan int)
	for range 4 {
		go func() {
			total := 0
			for {
				m, err := h.wst.SweepDocumentWaits(ctx, later, 7)
				if err != nil || m == 0 {
					break
				}
				total += m
			}
			sent <- total
		}()
	}
	total := 0
	for range 4 {
		total += <-sent
	}
	require.Equal(t, n, total)
	require.Len(t, h.events(t), n)
	require.Zero(t, h.rdb.ZCard(ctx, "fl:"+h.ns+":hook:await").Val())
}

// Every event type's envelope is what the OpenAPI document's WebhookEvent
// says, checked by kin-openapi.
func TestEvent_MatchesTheOpenAPIWebhookEvent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../httpapi/openapi.yaml")
	require.NoError(t, err)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	require.NoError(t, err)
	schema := doc.Components.Schemas["WebhookEvent"]
	require.NotNil(t, schema)
	require.NotNil(t, doc.Webhooks["labelEvent"], "the webhooks section names the event")

	ctx := context.Background()
	h := newHookEnv(t, true, time.Minute)
	require.NoError(t, h.wst.Complete(ctx, h.job(t, "k1"), created("lbl-1")))
	_, err = h.wst.SweepDocumentWaits(ctx, time.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.NoError(t, h.wst.SetURLs(ctx, map[string]string{"k1": "https://d/1"}))
	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k2"), dead))
	_, err = h.st.Redrive(ctx, "k2")
	require.NoError(t, err)
	queuetest.Dequeue(t, h.rdb, h.q.Name(queue.Bulk), "k2")
	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k3"), dead))
	_, err = h.st.Discard(ctx, "k3")
	require.NoError(t, err)

	evs := h.events(t)
	seen := map[webhook.EventType]bool{}
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		require.NoError(t, err)
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		require.NoError(t, schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()), "%s", body)
		seen[ev.Type] = true
	}
	require.Len(t, seen, 5, "every type sent: %v", seen)
}

// One SetURLs of more labels than one script call takes stores each URL
// and sends each label's label.completed once, under an event id of its own.
func TestEvents_SetURLsBatch_OneEventPerLabel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	const n = 250 // more than one script call's chunk (200)
	urls := make(map[string]string, n)
	for i := range n {
		k := fmt.Sprintf("b%03d", i)
		require.NoError(t, h.wst.Complete(ctx, h.job(t, k), created("lbl-"+k)))
		urls[k] = "https://docs.example/" + k + ".pdf"
	}
	require.NoError(t, h.wst.SetURLs(ctx, urls))
	evs := h.events(t)
	require.Len(t, evs, n)
	ids := map[string]bool{}
	for _, ev := range evs {
		require.Equal(t, webhook.LabelCompleted, ev.Type)
		ids[ev.ID] = true
	}
	require.Len(t, ids, n, "each event has an id of its own")
	for k, u := range urls {
		require.Contains(t, h.status(t, k), u)
	}
	pending, err := h.wst.PendingDocuments(ctx)
	require.NoError(t, err)
	require.Zero(t, pending)
}
