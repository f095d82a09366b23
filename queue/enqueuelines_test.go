package queue_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// EnqueueLines answers a batch in order, refusals in their places, and with
// WithJobState tells a duplicate of a completed job its label, as Enqueue
// does; OutcomeOnly (a bulk run) leaves that out.
func TestEnqueueLines_InOrder_WithJobStateAddsTheLabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	line := queuetest.RequestJSON("el-1", "")
	require.Equal(t, queue.Enqueued, enqueue(t, e, line, queue.Interactive).Outcome)
	require.NoError(t, e.st.Complete(ctx, &store.Job{Key: "el-1"}, &flexapi.Label{ID: "lbl-el-1", Status: "created"}))

	msg := "request is larger than 1 MiB"
	batch := []queue.Parsed{
		queue.ParseLine(line),
		queue.ParseLine([]byte(`{"idempotencyKey":"el-bad"}`)),
		queue.Refused(queue.Result{Outcome: queue.Invalid, Error: &msg}),
		queue.ParseLine(queuetest.RequestJSON("el-2", "")),
		queue.ParseLine(queuetest.RequestJSON("el-2", "")),
	}
	require.Equal(t, "el-bad", batch[1].Key())
	require.NotNil(t, batch[1].Refusal())
	require.Nil(t, batch[3].Refusal())

	res, err := e.q.EnqueueLines(ctx, batch, queue.Interactive, queue.WithJobState)
	require.NoError(t, err)
	require.Len(t, res, len(batch))
	want := []queue.Outcome{queue.Duplicate, queue.Invalid, queue.Invalid, queue.Enqueued, queue.Duplicate}
	for i, r := range res {
		require.Equal(t, want[i], r.Outcome, "line %d", i)
	}
	require.Equal(t, queue.StateCompleted, res[0].State)
	require.NotNil(t, res[0].Label, "a duplicate of a completed job carries its label")
	require.Equal(t, "lbl-el-1", res[0].Label.ID)
	require.Equal(t, "el-bad", res[1].IdempotencyKey)
	require.Equal(t, msg, *res[2].Error)
	require.Equal(t, queue.StatePending, res[4].State)

	zero, err := e.q.EnqueueLines(ctx, []queue.Parsed{{}}, queue.Interactive, queue.WithJobState)
	require.NoError(t, err)
	require.Equal(t, queue.Invalid, zero[0].Outcome, "the zero Parsed is no request: nothing is enqueued")

	brief, err := e.q.EnqueueLines(ctx, batch[:1], queue.Bulk, queue.OutcomeOnly)
	require.NoError(t, err)
	require.Equal(t, queue.Duplicate, brief[0].Outcome)
	require.Equal(t, queue.StateCompleted, brief[0].State)
	require.Nil(t, brief[0].Label, "OutcomeOnly costs no second round trip")
}

// What ParseLine validated is what is enqueued: the job carries the
// canonical payload of the parsed line, and that payload is a valid line of
// the same request.
func TestParseLine_PayloadIsTheCanonicalRequest(t *testing.T) {
	t.Parallel()
	p := queue.ParseLine(queuetest.RequestJSON("pl-1", ""))
	require.Nil(t, p.Refusal())
	req, err := flexapi.ParseLabelRequest(queuetest.RequestJSON("pl-1", ""))
	require.NoError(t, err)
	want, _, err := store.Canonical(req)
	require.NoError(t, err)
	require.Equal(t, string(want), string(queue.PayloadOf(p)))

	// A refusal carries no job: nothing of it can be enqueued.
	bad := queue.ParseLine([]byte(`{"idempotencyKey":7}`))
	require.NotNil(t, bad.Refusal())
	require.Nil(t, queue.PayloadOf(bad))
	require.Equal(t, queue.Invalid, bad.Refusal().Outcome)
}

// Status, document URLs and enqueues run their scripts in pipelines; after
// Redis forgets the scripts (SCRIPT FLUSH, a restart) each loads them again
// and answers as before.
func TestPipelinedScripts_AfterScriptFlush_Recover(t *testing.T) {
	t.Parallel()
	rp := queuetest.StartRedis(t)
	rdb := redis.NewClient(rp.Options())
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: "noscript"})
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	res, err := q.EnqueueLines(ctx, []queue.Parsed{queue.ParseLine(queuetest.RequestJSON("ns-1", "")), queue.ParseLine(queuetest.RequestJSON("ns-2", ""))}, queue.Bulk, queue.OutcomeOnly)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res[0].Outcome)
	require.Equal(t, queue.Enqueued, res[1].Outcome)
	require.NoError(t, queuetest.Store(t, q).Complete(ctx, &store.Job{Key: "ns-1"}, &flexapi.Label{ID: "lbl-ns-1", Status: "created"}))

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	require.NoError(t, queuetest.Store(t, q).SetURLs(ctx, map[string]string{"ns-1": "https://cdn.example/ns-1.pdf", "nobody": "https://cdn.example/x.pdf"}))
	urls, err := q.URLs(ctx, []string{"ns-1", "nobody"})
	require.NoError(t, err)
	require.Equal(t, []string{"https://cdn.example/ns-1.pdf", ""}, urls, "a URL for an unknown key is not stored")

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	sts, err := q.Status(ctx, "ns-1", "ns-2", "nobody")
	require.NoError(t, err)
	require.Equal(t, queue.StateCompleted, sts[0].State)
	require.Equal(t, "https://cdn.example/ns-1.pdf", sts[0].Label.URL)
	require.Equal(t, queue.StatePending, sts[1].State)
	require.Equal(t, queue.StateUnknown, sts[2].State)

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	dup, err := q.EnqueueLine(ctx, queuetest.RequestJSON("ns-1", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Duplicate, dup.Outcome)
	require.Equal(t, "lbl-ns-1", dup.Label.ID, "decorated through Status after the flush")
}
