package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestDeadLetters_RedriveOne_Changed409: a dead letter that changed between
// Redrive's read and its write (the job died again) is 409 with the
// result's words, from the result's code alone, and stays dead.
func TestDeadLetters_RedriveOne_Changed409(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const key = "chg-409"
	e.deadLetter(key, queue.ReasonAuth)
	ctx := context.Background()
	d, err := e.q.DeadLetters().Get(ctx, key)
	require.NoError(t, err)
	d.FailedAt = d.FailedAt.Add(-time.Hour)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	hash := queuetest.DeadLetterHash(e.q.Options().Namespace)
	require.True(t, e.rdb.HExists(ctx, hash, key).Val(), "the dead letter is in %s", hash)
	require.NoError(t, e.rdb.HSet(ctx, hash, key, b).Err())

	r := e.do(http.MethodPost, keyPath("/v1/dead-letters/", key)+"/redrive", nil)
	require.Equal(t, http.StatusConflict, r.code, "%s", r.body)
	require.JSONEq(t, `{"idempotencyKey":"chg-409","done":false,"error":"changed while redriving; try again"}`, string(r.body))
	_, err = e.q.DeadLetters().Get(ctx, key)
	require.NoError(t, err, "still dead")
}
