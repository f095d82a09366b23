package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The key bound is flexlabel's own (the API states none), and a key over it
// is reported together with the request's other problems, writing nothing.
func TestEnqueue_KeyOverLimit_InvalidWithEveryOtherProblem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("k", queue.MaxKeyLen+1)
	line := strings.Replace(string(queuetest.RequestJSON(long, "")), `"weight":0.5`, `"weight":0`, 1)
	line = strings.Replace(line, `"courier"`, `"bogus":1,"courier"`, 1)

	res := enqueue(t, e, []byte(line), queue.Interactive)
	require.Equal(t, queue.Invalid, res.Outcome)
	fields := map[string]string{}
	for _, d := range res.Details {
		fields[d.Field] = d.Message
	}
	require.Contains(t, fields, "bogus")
	require.Contains(t, fields, "shipment.parcels[0].weight")
	require.Contains(t, fields["idempotencyKey"], "at most 255 characters")
	require.Empty(t, e.keysOf(t), "a refused line leaves no trace in Redis")

	// Exactly at the limit is accepted, by EnqueueLine and Enqueue alike.
	ok := strings.Repeat("k", queue.MaxKeyLen)
	require.Equal(t, queue.Enqueued, enqueue(t, e, queuetest.RequestJSON(ok, ""), queue.Interactive).Outcome)

	req, err := flexapi.ParseLabelRequest(queuetest.RequestJSON("short", ""))
	require.NoError(t, err)
	req.IdempotencyKey = long
	got, err := e.q.Enqueue(context.Background(), req, queue.Bulk)
	require.NoError(t, err)
	require.Equal(t, queue.Invalid, got.Outcome)
	require.Equal(t, "idempotencyKey", got.Details[0].Field)
}
