package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
	"github.com/flexlabel/flexlabel/worker"
)

// events waits until n events are recorded (nobody consumes them here) and
// returns them, oldest first.
func (h *harness) events(t *testing.T, n int) []webhook.Event {
	t.Helper()
	st := queuetest.Store(t, h.q)
	var out []webhook.Event
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		out = nil
		for _, id := range queuetest.PendingEvents(t, h.rdb, h.ns) {
			ev, _, err := st.Event(context.Background(), id)
			require.NoError(c, err)
			out = append(out, ev)
		}
		assert.Len(c, out, n)
	}, 10*time.Second, 20*time.Millisecond)
	return out
}

func TestWorker_Webhooks_LabelCompletedCarriesTheDocumentURL(t *testing.T) {
	t.Parallel()
	h := start(t, opts{webhooks: true, documentWait: time.Hour})
	h.enqueue(t, "k1", "")
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	evs := h.events(t, 1)
	require.Equal(t, webhook.LabelCompleted, evs[0].Type)
	require.Contains(t, string(evs[0].Data), `"url":"http`, "sent once the URL came, not before")
	require.Contains(t, string(evs[0].Data), `"idempotencyKey":"k1"`)
}

// noDocuments is an API whose label documents never come.
type noDocuments struct{ worker.LabelAPI }

func (noDocuments) GetLabels(context.Context, ...string) ([]flexapi.LabelDocument, error) {
	return nil, nil
}

// A label whose document URL never comes is still announced, once the
// wait has run out, by the worker's sweeper.
func TestWorker_Webhooks_NoDocumentURL_CompletedAfterTheWait(t *testing.T) {
	t.Parallel()
	h := start(t, opts{webhooks: true, documentWait: 200 * time.Millisecond,
		api: func(a worker.LabelAPI) worker.LabelAPI { return noDocuments{a} }})
	h.enqueue(t, "k1", "")
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	evs := h.events(t, 1)
	require.Equal(t, webhook.LabelCompleted, evs[0].Type)
	require.Contains(t, string(evs[0].Data), `"state":"completed"`)
	require.NotContains(t, string(evs[0].Data), `"url"`)
	require.Zero(t, h.rdb.ZCard(context.Background(), "fl:"+h.ns+":hook:await").Val(), "nothing left waiting")
}

func TestWorker_Webhooks_LabelDead(t *testing.T) {
	t.Parallel()
	h := start(t, opts{webhooks: true})
	h.enqueue(t, "k1", flexapitest.RejectProductCode)
	h.wait(t, "k1", queue.StateDead, 10*time.Second)
	evs := h.events(t, 1)
	require.Equal(t, webhook.LabelDead, evs[0].Type)
	require.Contains(t, string(evs[0].Data), `"reason":"courier_rejected"`)
}

// Without webhooks a worker writes no event.
func TestWorker_WebhooksOff_NoEvents(t *testing.T) {
	t.Parallel()
	h := start(t, opts{documentWait: 50 * time.Millisecond})
	h.enqueue(t, "k1", "")
	h.enqueue(t, "k2", flexapitest.RejectProductCode)
	h.wait(t, "k1", queue.StateCompleted, 10*time.Second)
	h.wait(t, "k2", queue.StateDead, 10*time.Second)
	require.Eventually(t, func() bool {
		u, err := h.q.URLs(context.Background(), []string{"k1"})
		return err == nil && u[0] != ""
	}, 10*time.Second, 20*time.Millisecond)
	require.False(t, queuetest.Registered(t, h.rdb, queuetest.WebhookQueue(h.ns)))
	require.Empty(t, queuetest.PendingEvents(t, h.rdb, h.ns))
}
