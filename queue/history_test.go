package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// liveJob enqueues key and returns the job as the worker would run it.
func liveJob(t *testing.T, e *env, key, product string) *store.Job {
	t.Helper()
	res := enqueue(t, e, queuetest.RequestJSON(key, product), queue.Interactive)
	require.True(t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(t, e.q, key, product, queue.Interactive)
	return j
}

// attempt counts one API call of j, as the worker's slot does.
func attempt(t *testing.T, e *env, j *store.Job) int {
	t.Helper()
	n := queuetest.Attempt(t, e.q, j)
	return n
}

func TestDeadLetter_RedrivenAndDeadAgain_KeepsFirstFailureAttemptsAndHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := liveJob(t, e, "again", "")

	n := attempt(t, e, j)
	require.NoError(t, e.st.FailAttempt(ctx, j, store.Failure{HTTPStatus: 500, Message: "boom", Attempts: n}))
	n = attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized", Attempts: n}))
	first, err := e.q.DeadLetters().Get(ctx, "again")
	require.NoError(t, err)
	require.Equal(t, 2, first.Attempts)
	require.Len(t, first.History, 2)
	require.Equal(t, []int{500, 401}, []int{first.History[0].HTTPStatus, first.History[1].HTTPStatus})
	require.Equal(t, "boom", first.History[0].Message)
	require.Equal(t, 1, first.History[0].Attempt)
	require.Equal(t, first.FirstFailedAt, first.History[0].At, "the first failure is the retried 500")
	require.Equal(t, first.FailedAt, first.History[1].At)

	res, err := e.q.DeadLetters().Redrive(ctx, "again")
	require.NoError(t, err)
	require.True(t, res[0].Done, res[0].Error)
	st, err := e.q.Status(ctx, "again")
	require.NoError(t, err)
	require.Equal(t, 2, st[0].Attempts, "a redriven job keeps its attempt count")

	n = attempt(t, e, j)
	require.Equal(t, 3, n)
	require.NoError(t, e.st.FailAttempt(ctx, j, store.Failure{HTTPStatus: 0, Message: "timeout", Attempts: n}))
	n = attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 403, Message: "Forbidden", Attempts: n}))
	again, err := e.q.DeadLetters().Get(ctx, "again")
	require.NoError(t, err)
	require.Equal(t, 4, again.Attempts)
	require.Equal(t, first.FirstFailedAt, again.FirstFailedAt, "dying again keeps the first failure time")
	require.True(t, again.FailedAt.After(first.FailedAt) || again.FailedAt.Equal(first.FailedAt))
	var got []string
	for _, a := range again.History {
		got = append(got, fmt.Sprintf("%d:%d:%s", a.Attempt, a.HTTPStatus, a.Message))
	}
	require.Equal(t, []string{"1:500:boom", "2:401:Unauthorized", "3:0:timeout", "4:403:Forbidden"}, got)
	require.Empty(t, failureKeys(t, e), "a dead job's history lives in its dead letter only")
}

// failureKeys lists the namespace's failure-history lists.
func failureKeys(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, k := range e.keysOf(t) {
		if strings.HasPrefix(k, queuetest.FailuresKey(e.ns, "")) {
			out = append(out, k)
		}
	}
	return out
}

func TestFailureHistory_KeepsTheLastHistoryLimitAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := liveJob(t, e, "many", "")
	const calls = queue.HistoryLimit + 6
	for range calls - 1 {
		n := attempt(t, e, j)
		require.NoError(t, e.st.FailAttempt(ctx, j, store.Failure{HTTPStatus: 503, Message: strings.Repeat("é", 400), Attempts: n}))
	}
	n := attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonRetriesExhausted, HTTPStatus: 503, Message: "Service Unavailable", Attempts: n}))
	d, err := e.q.DeadLetters().Get(ctx, "many")
	require.NoError(t, err)
	require.Len(t, d.History, queue.HistoryLimit)
	require.Equal(t, calls-queue.HistoryLimit+1, d.History[0].Attempt, "the oldest attempts fall out")
	require.Equal(t, calls, d.History[queue.HistoryLimit-1].Attempt)
	for _, a := range d.History[:queue.HistoryLimit-1] {
		require.LessOrEqual(t, len(a.Message), store.MaxHistoryMessage)
		require.True(t, strings.HasSuffix(a.Message, "…"), "a cut message says so")
		require.True(t, utf8.ValidString(a.Message), "a cut message stays valid UTF-8")
	}
}

func TestFailureHistory_RateLimitedCallsAreNoAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := liveJob(t, e, "limited", "")
	n := attempt(t, e, j)
	require.NoError(t, e.st.Fail(ctx, j, "429 Too Many Requests"))
	require.Empty(t, failureKeys(t, e))
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized", Attempts: n}))
	d, err := e.q.DeadLetters().Get(ctx, "limited")
	require.NoError(t, err)
	require.Len(t, d.History, 1)
}

func TestComplete_DropsTheFailureHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := liveJob(t, e, "recovers", "")
	n := attempt(t, e, j)
	require.NoError(t, e.st.FailAttempt(ctx, j, store.Failure{HTTPStatus: 500, Message: "boom", Attempts: n}))
	require.Len(t, failureKeys(t, e), 1)
	attempt(t, e, j)
	require.NoError(t, e.st.Complete(ctx, j, &flexapi.Label{ID: "L1", Status: flexapi.StatusCreated}))
	require.Empty(t, failureKeys(t, e))
}

func TestDeadLetter_WrittenByThePreviousBuild_ReadsAndRedrives(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// What the previous build wrote: a dead letter without history, and a
	// record whose first failure (ff) is there.
	first := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	failed := first.Add(time.Hour)
	old := fmt.Sprintf(`{"idempotencyKey":"old","reason":"auth","httpStatus":401,"message":"Unauthorized","attempts":3,`+
		`"firstFailedAt":%q,"failedAt":%q,"queue":%q,"request":%s}`,
		first.Format(time.RFC3339Nano), failed.Format(time.RFC3339Nano), e.q.Name(queue.Interactive), queuetest.RequestJSON("old", ""))
	member := fmt.Sprintf("%013d|old", failed.UnixMilli())
	ns := "fl:" + e.ns + ":"
	require.NoError(t, e.rdb.HSet(ctx, ns+"k:old", "h", "x", "q", e.q.Name(queue.Interactive), "st", "dead", "t", first.UnixMilli(),
		"a", 3, "e", "Unauthorized", "rs", "auth", "dm", member, "ff", first.UnixMilli()).Err())
	require.NoError(t, e.rdb.HSet(ctx, ns+"dlq", "old", old).Err())
	require.NoError(t, e.rdb.ZAdd(ctx, ns+"dlq:all", redisZ(member)).Err())
	require.NoError(t, e.rdb.ZAdd(ctx, ns+"dlq:r:auth", redisZ(member)).Err())

	d, err := e.q.DeadLetters().Get(ctx, "old")
	require.NoError(t, err)
	require.NotNil(t, d.History)
	require.Empty(t, d.History)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.Contains(t, string(b), `"history":[]`)
	page, _, err := e.q.DeadLetters().List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.NotNil(t, page[0].History)

	res, err := e.q.DeadLetters().Redrive(ctx, "old")
	require.NoError(t, err)
	require.True(t, res[0].Done, res[0].Error)
	j := queuetest.Job(t, e.q, "old", "", queue.Interactive)
	n := attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized", Attempts: n}))
	d, err = e.q.DeadLetters().Get(ctx, "old")
	require.NoError(t, err)
	require.Equal(t, 4, d.Attempts)
	require.Equal(t, first, d.FirstFailedAt)
	require.Len(t, d.History, 1)
}

func redisZ(member string) redis.Z { return redis.Z{Score: 0, Member: member} }

func TestNewKeyLine_GivesTheNextFreeKeyOnceAndRecordsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	j := liveJob(t, e, "rej", flexapitest.RejectProductCode)
	n := attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonCourierRejected, HTTPStatus: 502, Message: "COURIER_ERROR: no", Attempts: n}))
	// rej-r1 is taken by another order: the next free suffix is used.
	require.Equal(t, queue.Enqueued, enqueue(t, e, queuetest.RequestJSON("rej-r1", ""), queue.Interactive).Outcome)

	nk, err := e.q.DeadLetters().NewKeyLine(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej", nk.OldKey)
	require.Equal(t, "rej-r2", nk.NewKey)
	require.False(t, nk.Enqueued)
	var line map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(nk.Line, &line))
	require.JSONEq(t, `"rej-r2"`, string(line["idempotencyKey"]))
	var info map[string]any
	require.NoError(t, json.Unmarshal(line[queue.DeadLetterField], &info))
	require.Equal(t, "rej", info["supersedes"])
	require.Equal(t, "courier_rejected", info["reason"])
	parsed := queue.ParseLine(nk.Line)
	require.Nil(t, parsed.Refusal())
	require.Equal(t, "rej-r2", parsed.Key())

	d, err := e.q.DeadLetters().Get(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej-r2", d.SupersededBy)
	require.NotNil(t, d.SupersededAt)

	// Exporting again hands out the same key, and says once it is enqueued.
	again, err := e.q.DeadLetters().NewKeyLine(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej-r2", again.NewKey)
	require.False(t, again.Enqueued)
	require.Equal(t, queue.Enqueued, enqueue(t, e, nk.Line, queue.Interactive).Outcome)
	again, err = e.q.DeadLetters().NewKeyLine(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej-r2", again.NewKey)
	require.True(t, again.Enqueued)

	// A redrive and a second death keep the link, so no second new key.
	res, err := e.q.DeadLetters().Redrive(ctx, "rej")
	require.NoError(t, err)
	require.True(t, res[0].Done)
	n = attempt(t, e, j)
	require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonCourierRejected, HTTPStatus: 200, Message: "COURIER_ERROR: no", Attempts: n}))
	d, err = e.q.DeadLetters().Get(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej-r2", d.SupersededBy)
	again, err = e.q.DeadLetters().NewKeyLine(ctx, "rej")
	require.NoError(t, err)
	require.Equal(t, "rej-r2", again.NewKey)

	missing, err := e.q.DeadLetters().NewKeyLine(ctx, "nope")
	require.ErrorIs(t, err, queue.ErrNotFound)
	require.Nil(t, missing)
}

func TestNewKeyLine_OtherReasons_Refused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "exh", "", queue.ReasonRetriesExhausted)
	_, err := e.q.DeadLetters().NewKeyLine(ctx, "exh")
	require.ErrorIs(t, err, queue.ErrNewKeyReason)
	d, err := e.q.DeadLetters().Get(ctx, "exh")
	require.NoError(t, err)
	require.Empty(t, d.SupersededBy)
}
