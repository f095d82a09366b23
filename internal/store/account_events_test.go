package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// accountJob enqueues key under account qa's queue and returns its job as
// the worker holds it once released (bulk lane).
func accountJob(t *testing.T, h *hookEnv, qa *queue.Queue, key string) *store.Job {
	t.Helper()
	r, err := qa.EnqueueLine(context.Background(), sampleLine(t, key), store.Bulk)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, r.Outcome)
	return &store.Job{Key: key, Queue: h.ns + "@-bulk", Payload: sampleLine(t, key)}
}

// subjects reads the pending events' subjects, oldest first.
func (h *hookEnv) subjects(t *testing.T) []store.EventSubject {
	t.Helper()
	var out []store.EventSubject
	for _, id := range queuetest.PendingEvents(t, h.rdb, h.ns) {
		_, sub, err := h.st.EventAbout(context.Background(), id)
		require.NoError(t, err)
		out = append(out, sub)
	}
	return out
}

// Another account's label.completed is the fleet's: on the namespace's
// own pending list, its data naming the account and the plain key, as the
// account's status does.
func TestAccountEvents_Completed_OnTheFleetsListWithTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	qa, err := h.q.ForAccount("brand-a")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa)
	j := accountJob(t, h, qa, "k1")
	require.NoError(t, sa.Complete(ctx, j, created("lbl-1")))
	require.Empty(t, h.events(t), "label.completed waits for the document URL")
	require.NoError(t, sa.SetURLs(ctx, map[string]string{"k1": "https://docs.example/a1.pdf"}))

	evs := h.events(t)
	require.Len(t, evs, 1)
	require.Equal(t, webhook.LabelCompleted, evs[0].Type)
	require.EqualValues(t, 1, evs[0].Sequence)
	var d store.JobStatus
	require.NoError(t, json.Unmarshal(evs[0].Data, &d))
	require.Equal(t, "brand-a", d.Account)
	require.Equal(t, "k1", d.IdempotencyKey)
	sts, err := qa.Status(ctx, "k1")
	require.NoError(t, err)
	want, err := json.Marshal(sts[0])
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(evs[0].Data), "data is the account's GET /v1/labels/{key} object")
	require.Equal(t, []store.EventSubject{{Account: "brand-a", Key: "k1"}}, h.subjects(t))
	// Nothing of webhooks under the account's prefix.
	ks, err := h.rdb.Keys(ctx, "fl:"+h.ns+"@brand-a:hook:*").Result()
	require.NoError(t, err)
	require.Empty(t, ks)
}

// The same key under the default account, two others, and a default key
// that looks like another account's task id: four subjects, each with a
// sequence of its own.
func TestAccountEvents_SameKeyTwoAccounts_IndependentSequences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	qa, err := h.q.ForAccount("brand-a")
	require.NoError(t, err)
	qb, err := h.q.ForAccount("brand-b")
	require.NoError(t, err)
	sa, sb := queuetest.Store(t, qa), queuetest.Store(t, qb)

	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "k1"), dead))
	require.NoError(t, h.wst.DeadLetter(ctx, h.job(t, "brand-a/k1"), dead))
	ja := accountJob(t, h, qa, "k1")
	require.NoError(t, sa.DeadLetter(ctx, ja, dead))
	c, err := sa.Redrive(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, store.OpRedriven, c)
	require.NoError(t, sb.DeadLetter(ctx, accountJob(t, h, qb, "k1"), dead))
	require.NoError(t, sa.DeadLetter(ctx, ja, dead), "brand-a's k1 dies again")

	evs := h.events(t)
	subs := h.subjects(t)
	require.Len(t, subs, len(evs))
	type got struct {
		sub store.EventSubject
		typ webhook.EventType
		seq int64
	}
	var gs []got
	for i, ev := range evs {
		gs = append(gs, got{subs[i], ev.Type, ev.Sequence})
	}
	require.Equal(t, []got{
		{store.EventSubject{Account: "default", Key: "k1"}, webhook.LabelDead, 1},
		{store.EventSubject{Account: "default", Key: "brand-a/k1"}, webhook.LabelDead, 1},
		{store.EventSubject{Account: "brand-a", Key: "k1"}, webhook.LabelDead, 1},
		{store.EventSubject{Account: "brand-a", Key: "k1"}, webhook.LabelRedriven, 2},
		{store.EventSubject{Account: "brand-b", Key: "k1"}, webhook.LabelDead, 1},
		{store.EventSubject{Account: "brand-a", Key: "k1"}, webhook.LabelDead, 3},
	}, gs)
}

// An account's dead letter: label.dead, label.redriven and
// label.discarded, each naming the account.
func TestAccountEvents_DeadRedrivenDiscarded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Hour)
	qa, err := h.q.ForAccount("brand-a")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa)
	j := accountJob(t, h, qa, "k1")
	require.NoError(t, sa.DeadLetter(ctx, j, dead))
	res, err := qa.DeadLetters().Redrive(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, queue.OpRedriven, res[0].Code)
	require.NoError(t, sa.DeadLetter(ctx, j, dead))
	res, err = qa.DeadLetters().Discard(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, queue.OpDiscarded, res[0].Code)

	evs := h.events(t)
	require.Len(t, evs, 4)
	for i, want := range []webhook.EventType{webhook.LabelDead, webhook.LabelRedriven, webhook.LabelDead, webhook.LabelDiscarded} {
		require.Equal(t, want, evs[i].Type, i)
		require.EqualValues(t, i+1, evs[i].Sequence, i)
		var d store.JobStatus
		require.NoError(t, json.Unmarshal(evs[i].Data, &d))
		require.Equal(t, "brand-a", d.Account, i)
		require.Equal(t, "k1", d.IdempotencyKey, i)
	}
	require.Contains(t, string(evs[0].Data), `"reason":"courier_rejected"`)
	require.Contains(t, string(evs[1].Data), `"state":"pending"`)
	require.Contains(t, string(evs[3].Data), `"state":"dead"`, "label.discarded shows the key as it was")
}

// The default account's sweeper sends label.completed for another
// account's label whose document URL never came, once; the URL coming
// later sends label.document.
func TestAccountEvents_SweepSendsAnAccountsLabelCompleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHookEnv(t, true, time.Minute)
	qa, err := h.q.ForAccount("brand-a")
	require.NoError(t, err)
	sa := queuetest.Store(t, qa) // its DocumentWait is the default, 60s
	require.NoError(t, sa.Complete(ctx, accountJob(t, h, qa, "k1"), created("lbl-a")))
	require.NoError(t, h.wst.Complete(ctx, h.job(t, "k1"), created("lbl-d")))
	require.EqualValues(t, 2, h.rdb.ZCard(ctx, "fl:"+h.ns+":hook:await").Val(), "one member per account")

	n, err := h.wst.SweepDocumentWaits(ctx, time.Now().Add(2*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = h.wst.SweepDocumentWaits(ctx, time.Now().Add(2*time.Minute), 100)
	require.NoError(t, err)
	require.Zero(t, n, "swept once")
	require.ElementsMatch(t, []store.EventSubject{{Account: "brand-a", Key: "k1"}, {Account: "default", Key: "k1"}}, h.subjects(t))
	for _, ev := range h.events(t) {
		require.Equal(t, webhook.LabelCompleted, ev.Type)
		require.NotContains(t, string(ev.Data), `"url"`)
	}

	h.drop(t)
	require.NoError(t, sa.SetURLs(ctx, map[string]string{"k1": "https://docs.example/a1.pdf"}))
	evs := h.events(t)
	require.Len(t, evs, 1)
	require.Equal(t, webhook.LabelDocument, evs[0].Type)
	require.EqualValues(t, 2, evs[0].Sequence)
	require.Contains(t, string(evs[0].Data), `"account":"brand-a"`)
	require.Equal(t, []store.EventSubject{{Account: "brand-a", Key: "k1"}}, h.subjects(t))
}
