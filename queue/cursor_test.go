package queue_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestList_CursorNotIssued_ErrBadCursor: a cursor List did not hand out is
// refused, not read as a position past the end (a silent empty page).
func TestList_CursorNotIssued_ErrBadCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		j := &store.Job{Key: k, Queue: e.q.Name(queue.Interactive), Hash: "h", Payload: queuetest.RequestJSON(k, "")}
		require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: flexapi.ReasonRejected, HTTPStatus: 422, Message: "no"}))
	}
	page, next, err := e.q.DeadLetters().List(ctx, queue.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.NotEmpty(t, next)
	page, _, err = e.q.DeadLetters().List(ctx, queue.ListOptions{Limit: 2, Cursor: next})
	require.NoError(t, err, "an issued cursor is good")
	require.Len(t, page, 1)

	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{"zzz", "%%", b64([]byte("~")), b64([]byte("1234567890123|")), b64([]byte("12345678901x3|k")), b64([]byte("123|k"))} {
		_, _, err := e.q.DeadLetters().List(ctx, queue.ListOptions{Cursor: c})
		require.ErrorIs(t, err, queue.ErrBadCursor, c)
	}
}
