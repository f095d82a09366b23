package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The HTTP face of every dead-letter action of the CLI and the console:
// discard by reason or all, dry runs of both, and export (issue 14, parity).

func (e *env) deadCount(reason queue.Reason) int64 {
	e.t.Helper()
	n, err := e.q.DeadLetters().Count(context.Background(), reason)
	require.NoError(e.t, err)
	return n
}

func TestDeadLetters_ByReason_BadParameters_400NamingThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("bp-auth", queue.ReasonAuth)
	for _, verb := range []string{"redrive", "discard"} {
		for query, param := range map[string]string{
			"":                               "reason",
			"?reason=nope":                   "reason",
			"?all=maybe":                     "all",
			"?all=false":                     "reason",
			"?reason=auth&all=true":          "reason and all",
			"?all=true&dryRun=maybe":         "dryRun",
			"?reason=auth&dryRun=1x":         "dryRun",
			"?reason=auth&all=true&dryRun=1": "reason and all",
		} {
			r := e.do(http.MethodPost, "/v1/dead-letters/"+verb+query, nil)
			require.Equal(t, http.StatusBadRequest, r.code, "%s %q", verb, query)
			require.True(t, strings.HasPrefix(r.errorMessage(t), param), "%s %q: %s", verb, query, r.body)
		}
		if r := e.do(http.MethodPost, "/v1/dead-letters/"+verb, nil); !strings.Contains(r.errorMessage(t), "all=true to "+verb) {
			t.Errorf("%s without reason: %s", verb, r.body)
		}
	}
	require.EqualValues(t, 1, e.deadCount(""), "nothing was done")
	require.EqualValues(t, 0, e.pending())
}

func TestDeadLetters_DiscardByReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.deadLetter(fmt.Sprint("dauth", i), queue.ReasonAuth)
	}
	e.deadLetter("dinv0", queue.ReasonInvalid)
	e.deadLetter("dinv1", queue.ReasonInvalid)

	r := e.do(http.MethodPost, "/v1/dead-letters/discard?reason=auth", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.JSONEq(t, `{"discarded":3,"failed":0}`, string(r.body))
	require.EqualValues(t, 0, e.deadCount(queue.ReasonAuth))
	require.EqualValues(t, 2, e.deadCount(""))
	require.EqualValues(t, 0, e.pending(), "discarded, not redriven")
	// Their keys are free again.
	r, _ = e.enqueue(queuetest.RequestJSON("dauth0", ""))
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)

	r = e.do(http.MethodPost, "/v1/dead-letters/discard?all=true", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"discarded":2,"failed":0}`, string(r.body))
	require.EqualValues(t, 0, e.deadCount(""))
}

func TestDeadLetters_DryRun_CountsAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.deadLetter(fmt.Sprint("dry-auth", i), queue.ReasonAuth)
	}
	e.deadLetter("dry-inv", queue.ReasonInvalid)
	for _, verb := range []string{"redrive", "discard"} {
		for query, want := range map[string]int{
			"?reason=auth&dryRun=true":    3,
			"?reason=invalid&dryRun=true": 1,
			"?all=true&dryRun=true":       4,
			"?reason=rejected&dryRun=1":   0,
		} {
			r := e.do(http.MethodPost, "/v1/dead-letters/"+verb+query, nil)
			require.Equal(t, http.StatusOK, r.code, "%s %s: %s", verb, query, r.body)
			require.JSONEq(t, fmt.Sprintf(`{"dryRun":true,"matched":%d}`, want), string(r.body), "%s %s", verb, query)
		}
	}
	require.EqualValues(t, 4, e.deadCount(""), "a dry run does nothing")
	require.EqualValues(t, 0, e.pending())

	// dryRun=false is the real thing.
	r := e.do(http.MethodPost, "/v1/dead-letters/redrive?reason=auth&dryRun=false", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.JSONEq(t, `{"redriven":3,"failed":0}`, string(r.body))
	require.EqualValues(t, 3, e.pending())
}

// queueExport is what queue.DeadLetters.Export (and so `dlq export`) writes.
func queueExport(t *testing.T, e *env, reason queue.Reason, newKeys bool) string {
	t.Helper()
	var b bytes.Buffer
	_, err := e.q.DeadLetters().Export(context.Background(), reason, newKeys, func(line []byte) error {
		b.Write(line)
		b.WriteByte('\n')
		return nil
	})
	require.NoError(t, err)
	return b.String()
}

func TestDeadLetters_Export_TheLinesOfDlqExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("ex-cr0", queue.ReasonCourierRejected)
	e.deadLetter("ex-cr1", queue.ReasonCourierRejected)
	e.deadLetter("ex-auth", queue.ReasonAuth)

	r := e.do(http.MethodPost, "/v1/dead-letters/export", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	require.Equal(t, queueExport(t, e, "", false), string(r.body))
	require.Equal(t, 3, strings.Count(string(r.body), "\n"))
	var first map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(string(r.body), "\n", 2)[0]), &first))
	// Oldest failure first, ties (the same millisecond) by key: the order
	// queueExport (above) has; here only that the line is one of them.
	require.Contains(t, []string{`"ex-cr0"`, `"ex-cr1"`, `"ex-auth"`}, string(first["idempotencyKey"]))
	require.Contains(t, first, queue.DeadLetterField)

	r = e.do(http.MethodPost, "/v1/dead-letters/export?reason=auth", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, queueExport(t, e, queue.ReasonAuth, false), string(r.body))
	require.Contains(t, string(r.body), `"idempotencyKey":"ex-auth"`)
	require.Equal(t, 1, strings.Count(string(r.body), "\n"))

	// None: an empty stream.
	r = e.do(http.MethodPost, "/v1/dead-letters/export?reason=invalid", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	require.Empty(t, r.body)

	// New keys, recorded in the dead letters; again, the same keys.
	r = e.do(http.MethodPost, "/v1/dead-letters/export?reason=courier_rejected&newKeys=true", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.Contains(t, string(r.body), `"idempotencyKey":"ex-cr0-r1"`)
	require.Contains(t, string(r.body), `"idempotencyKey":"ex-cr1-r1"`)
	require.Contains(t, string(r.body), `"supersedes":"ex-cr0"`)
	d, err := e.q.DeadLetters().Get(context.Background(), "ex-cr1")
	require.NoError(t, err)
	require.Equal(t, "ex-cr1-r1", d.SupersededBy)
	again := e.do(http.MethodPost, "/v1/dead-letters/export?reason=courier_rejected&newKeys=true", nil)
	require.Equal(t, string(r.body), string(again.body))
	require.Equal(t, queueExport(t, e, queue.ReasonCourierRejected, true), string(r.body))
}

func TestDeadLetters_Export_BadParameters_400NamingThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("exb-auth", queue.ReasonAuth)
	for query, param := range map[string]string{
		"?reason=nope":                       "reason",
		"?newKeys=maybe":                     "newKeys",
		"?newKeys=true":                      "newKeys: needs reason=courier_rejected",
		"?reason=auth&newKeys=true":          "newKeys: needs reason=courier_rejected",
		"?reason=courier_rejected&newKeys=2": "newKeys",
	} {
		r := e.do(http.MethodPost, "/v1/dead-letters/export"+query, nil)
		require.Equal(t, http.StatusBadRequest, r.code, query)
		require.True(t, strings.HasPrefix(r.errorMessage(t), param), "%q: %s", query, r.body)
	}
	d, err := e.q.DeadLetters().Get(context.Background(), "exb-auth")
	require.NoError(t, err)
	require.Empty(t, d.SupersededBy)
}

// failNth fails the nth command of one name (and every later one of it), as
// Redis going away part-way through.
type failNth struct {
	name string
	n    int64
	seen atomic.Int64
}

func (f *failNth) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failNth) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (f *failNth) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == f.name && f.seen.Add(1) >= f.n {
			err := errors.New("dial unix /secret/redis.sock: connection refused")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// TestDeadLetters_Export_RedisFailsMidStream_EndsWithAnErrorLine: the 200
// is on its way with the first line, so the stream itself ends with an
// ExportError line that no export line can be mistaken for.
func TestDeadLetters_Export_RedisFailsMidStream_EndsWithAnErrorLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("mid-0", queue.ReasonCourierRejected)
	e.deadLetter("mid-1", queue.ReasonCourierRejected)
	e.deadLetter("mid-2", queue.ReasonCourierRejected)
	// Each dead letter's new key starts with an HGET: the second one fails.
	e.rdb.AddHook(&failNth{name: "hget", n: 2})

	r := e.do(http.MethodPost, "/v1/dead-letters/export?reason=courier_rejected&newKeys=true", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	require.Len(t, lines, 2, "%s", r.body)
	require.Contains(t, lines[0], `"idempotencyKey":"mid-0-r1"`)
	var last map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &last))
	require.Equal(t, map[string]any{"error": "queue unavailable: Redis did not answer; retry the same request", "exported": float64(1)}, last)
	require.NotContains(t, string(r.body), "secret", "the cause stays in the log")
	require.Contains(t, e.logs.String(), "export cut short")

	// An enqueue of the whole stream refuses the error line.
	res, err := e.q.EnqueueLine(context.Background(), []byte(lines[1]), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Invalid, res.Outcome)
}

// TestDeadLetters_Export_RedisFailsBeforeTheFirstLine_503: nothing was
// sent yet, so the answer is the plain 503.
func TestDeadLetters_Export_RedisFailsBeforeTheFirstLine_503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter("pre-0", queue.ReasonAuth)
	e.rdb.AddHook(&failNth{name: "zrangebylex", n: 1})
	r := e.do(http.MethodPost, "/v1/dead-letters/export", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.code, "%s", r.body)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, unavailable, r.errorMessage(t))
}

// TestDeadLetters_DiscardByReason_RedisFailsPartWay_503WithSummary: the
// summary says what was done before Redis went away.
func TestDeadLetters_DiscardByReason_RedisFailsPartWay_503WithSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.deadLetter(fmt.Sprint("pw", i), queue.ReasonAuth)
	}
	// Each discard runs one script: the second fails.
	e.rdb.AddHook(&failNth{name: "evalsha", n: 2})
	r := e.do(http.MethodPost, "/v1/dead-letters/discard?reason=auth", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.code, "%s", r.body)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.JSONEq(t, `{"discarded":1,"failed":0,"error":"`+unavailable+`"}`, string(r.body))
}

const unavailable = "queue unavailable: Redis did not answer; retry the same request"
