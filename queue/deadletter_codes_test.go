package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestParseReason: the one check of a typed reason; "" is every reason.
func TestParseReason(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want queue.Reason
		bad  bool
	}{
		{"", "", false},
		{"auth", queue.ReasonAuth, false},
		{"retries_exhausted", queue.ReasonRetriesExhausted, false},
		{"courier_rejected", queue.ReasonCourierRejected, false},
		{"Auth", "", true},
		{"dead", "", true},
		{" auth", "", true},
	} {
		got, err := queue.ParseReason(c.in)
		if c.bad {
			require.ErrorIs(t, err, queue.ErrBadReason, c.in)
			require.ErrorContains(t, err, `"`+c.in+`" (want one of [auth invalid not_found courier_rejected rejected retries_exhausted])`)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got)
	}
	for _, r := range queue.Reasons {
		require.True(t, r.Valid(), r)
	}
	require.False(t, queue.Reason("").Valid(), `"" is a selector, not a reason`)
	require.Equal(t, []string{"auth", "invalid", "not_found", "courier_rejected", "rejected", "retries_exhausted"}, queue.ReasonNames())
}

// TestDeadLetterOps_BadReason_ErrBadReason: every operation that selects by
// reason refuses one that is not a reason with the same sentinel, before
// reading anything.
func TestDeadLetterOps_BadReason_ErrBadReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	bad := queue.Reason("nope")
	_, _, err := e.q.DeadLetters().List(ctx, queue.ListOptions{Reason: bad})
	require.ErrorIs(t, err, queue.ErrBadReason)
	_, err = e.q.DeadLetters().Count(ctx, bad)
	require.ErrorIs(t, err, queue.ErrBadReason)
	_, err = e.q.DeadLetters().Keys(ctx, bad)
	require.ErrorIs(t, err, queue.ErrBadReason)
	require.ErrorIs(t, e.q.DeadLetters().Each(ctx, bad, func(*queue.DeadLetter) error { return nil }), queue.ErrBadReason)
}

// TestDeadLetterOps_NotDead_ErrNotFound: Get and NewKeyLine say "not dead"
// with a sentinel, not with a nil result.
func TestDeadLetterOps_NotDead_ErrNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	d, err := e.q.DeadLetters().Get(ctx, "never")
	require.ErrorIs(t, err, queue.ErrNotFound)
	require.Nil(t, d)
	nk, err := e.q.DeadLetters().NewKeyLine(ctx, "never")
	require.ErrorIs(t, err, queue.ErrNotFound)
	require.Nil(t, nk)
	deadLetter(t, e, "dead", "", queue.ReasonAuth)
	d, err = e.q.DeadLetters().Get(ctx, "dead")
	require.NoError(t, err)
	require.Equal(t, queue.ReasonAuth, d.Reason)
}

// TestRedriveDiscard_Codes: each result carries a code a caller switches on,
// and the JSON the CLI and the HTTP API print stays key, done and error.
func TestRedriveDiscard_Codes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		discard bool
		setup   func(t *testing.T, e *env, key string)
		want    queue.OpCode
		json    string
	}{
		{"redrive dead", false, dead, queue.OpRedriven, `{"idempotencyKey":"k","done":true}`},
		{"redrive missing", false, nil, queue.OpNotDead, `{"idempotencyKey":"k","done":false,"error":"not in the dead-letter queue"}`},
		{"redrive redriven", false, redriven, queue.OpNotDead, `{"idempotencyKey":"k","done":false,"error":"not in the dead-letter queue"}`},
		{"redrive changed", false, changed, queue.OpChanged, `{"idempotencyKey":"k","done":false,"error":"changed while redriving; try again"}`},
		{"discard dead", true, dead, queue.OpDiscarded, `{"idempotencyKey":"k","done":true}`},
		{"discard missing", true, nil, queue.OpNotDead, `{"idempotencyKey":"k","done":false,"error":"not in the dead-letter queue"}`},
		{"discard redriven", true, redriven, queue.OpNotDead, `{"idempotencyKey":"k","done":false,"error":"not in the dead-letter queue"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if c.setup != nil {
				c.setup(t, e, "k")
			}
			act := e.q.DeadLetters().Redrive
			if c.discard {
				act = e.q.DeadLetters().Discard
			}
			res, err := act(context.Background(), "k")
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Equal(t, c.want, res[0].Code)
			require.Equal(t, c.want.Done(), res[0].Done)
			b, err := json.Marshal(res[0])
			require.NoError(t, err)
			require.JSONEq(t, c.json, string(b))
		})
	}
}

func dead(t *testing.T, e *env, key string) { deadLetter(t, e, key, "", queue.ReasonAuth) }

func redriven(t *testing.T, e *env, key string) {
	dead(t, e, key)
	res, err := e.q.DeadLetters().Redrive(context.Background(), key)
	require.NoError(t, err)
	require.Equal(t, queue.OpRedriven, res[0].Code)
}

// changed makes the stored dead letter disagree with its record, as when
// the job died again between Redrive's read and its script: the script
// sees another dead letter than the one read.
func changed(t *testing.T, e *env, key string) {
	dead(t, e, key)
	ctx := context.Background()
	d, err := e.q.DeadLetters().Get(ctx, key)
	require.NoError(t, err)
	d.FailedAt = d.FailedAt.Add(-time.Hour)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.NoError(t, e.rdb.HSet(ctx, queuetest.DeadLetterHash(e.ns), key, b).Err())
}

// TestRedriveEach_StreamsResultsAndStopsOnCallbackError: results come one
// key at a time, and an error of the callback ends the walk.
func TestRedriveEach_StreamsResultsAndStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		dead(t, e, k)
	}
	var seen []queue.OpCode
	stop := context.Canceled
	err := e.q.DeadLetters().RedriveEach(ctx, []string{"a", "missing", "b", "c"}, func(r queue.OpResult) error {
		seen = append(seen, r.Code)
		if r.IdempotencyKey == "b" {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, []queue.OpCode{queue.OpRedriven, queue.OpNotDead, queue.OpRedriven}, seen)
	n, err := e.q.DeadLetters().Count(ctx, "")
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "c is still dead: the walk stopped before it")
}
