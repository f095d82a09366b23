package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

type env struct {
	rdb *redis.Client
	q   *queue.Queue
	st  *store.Store // the worker's bookkeeping, to play the worker
	ns  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	q, err := queue.New(rdb, queue.Options{Namespace: ns, MaxRetry: 3})
	require.NoError(t, err)
	return &env{rdb: rdb, q: q, st: queuetest.Store(t, q), ns: ns}
}

// keysOf lists every Redis key this test's namespace touched (ours and asynq's).
func (e *env) keysOf(t *testing.T) []string {
	t.Helper()
	var all []string
	for _, pat := range queuetest.KeyPatterns(e.ns) {
		ks, err := e.rdb.Keys(context.Background(), pat).Result()
		require.NoError(t, err)
		all = append(all, ks...)
	}
	return all
}

func (e *env) pending(t *testing.T, lane queue.Lane) int64 {
	t.Helper()
	return queuetest.Pending(t, e.rdb, e.q.Name(lane))
}

func enqueue(t *testing.T, e *env, line []byte, lane queue.Lane) queue.Result {
	t.Helper()
	res, err := e.q.EnqueueLine(context.Background(), line, lane)
	require.NoError(t, err)
	return res
}

func TestEnqueue_NewKey_Enqueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Interactive)
	require.Equal(t, queue.Enqueued, res.Outcome)
	require.Equal(t, queue.StatePending, res.State)
	require.Nil(t, res.Error)
	require.EqualValues(t, 1, e.pending(t, queue.Interactive))

	st, err := e.q.Status(context.Background(), "k1")
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, st[0].State)
}

func TestEnqueue_TaskIsReadableByAsynq(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Bulk)
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	info, err := insp.GetTaskInfo(e.q.Name(queue.Bulk), "k1")
	require.NoError(t, err)
	require.Equal(t, store.TaskType, info.Type)
	require.Equal(t, "k1", info.ID)
	require.Equal(t, e.q.Name(queue.Bulk), info.Queue)
	require.Equal(t, asynq.TaskStatePending, info.State)
	require.Equal(t, 3+store.RetryHeadroom, info.MaxRetry)
	require.Equal(t, 5*time.Minute, info.Timeout)
	req, err := flexapi.DecodeLabelRequest(info.Payload)
	require.NoError(t, err)
	require.Equal(t, "k1", req.IdempotencyKey)
	require.Equal(t, "08817", req.Shipment.ShipTo.Address.PostalCode)
	qs, err := insp.Queues()
	require.NoError(t, err)
	require.Contains(t, qs, e.q.Name(queue.Bulk))
}

func TestEnqueue_SameKeySameBody_Duplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Interactive)
	// Same request, other whitespace and field order: the same canonical request.
	var v map[string]any
	require.NoError(t, json.Unmarshal(queuetest.RequestJSON("k1", ""), &v))
	again, _ := json.MarshalIndent(v, "", "  ")
	res := enqueue(t, e, again, queue.Interactive)
	require.Equal(t, queue.Duplicate, res.Outcome)
	require.Equal(t, queue.StatePending, res.State)
	require.EqualValues(t, 1, e.pending(t, queue.Interactive))
}

func TestEnqueue_SameKeyOtherBody_Conflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Interactive)
	res := enqueue(t, e, queuetest.RequestJSON("k1", "JPTHZXR"), queue.Interactive)
	require.Equal(t, queue.Conflict, res.Outcome)
	require.NotNil(t, res.Error)
	require.Contains(t, *res.Error, "different request")
	require.EqualValues(t, 1, e.pending(t, queue.Interactive))
	// The original is untouched.
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	info, err := insp.GetTaskInfo(e.q.Name(queue.Interactive), "k1")
	require.NoError(t, err)
	require.Contains(t, string(info.Payload), "HKMUZXR")
}

func TestEnqueue_AcrossLanes_OneJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.Equal(t, queue.Enqueued, enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Interactive).Outcome)
	require.Equal(t, queue.Duplicate, enqueue(t, e, queuetest.RequestJSON("k1", ""), queue.Bulk).Outcome)
	require.Equal(t, queue.Conflict, enqueue(t, e, queuetest.RequestJSON("k1", "X"), queue.Bulk).Outcome)
	require.EqualValues(t, 0, e.pending(t, queue.Bulk))
	require.EqualValues(t, 1, e.pending(t, queue.Interactive))
}

func TestEnqueue_Invalid_WritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := map[string]string{
		"not json":          `{"idempotencyKey":"bad1",`,
		"unknown top-level": strings.Replace(string(queuetest.RequestJSON("bad2", "")), `"courier"`, `"shipperAccountId":"x","courier"`, 1),
		"zero weight":       strings.Replace(string(queuetest.RequestJSON("bad3", "")), `"weight":0.5`, `"weight":0`, 1),
		"bad country":       strings.Replace(string(queuetest.RequestJSON("bad4", "")), `"US"`, `"USA"`, 1),
		"array":             `[1,2]`,
	}
	for name, line := range cases {
		res := enqueue(t, e, []byte(line), queue.Interactive)
		require.Equal(t, queue.Invalid, res.Outcome, name)
		require.NotNil(t, res.Error, name)
	}
	res := enqueue(t, e, []byte(cases["zero weight"]), queue.Interactive)
	require.Equal(t, "bad3", res.IdempotencyKey)
	require.Equal(t, []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}}, res.Details)
	require.Empty(t, e.keysOf(t), "a refused line leaves no trace in Redis")
}

func TestEnqueue_TwentyConcurrentProducers_OneJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	results := make([]queue.Result, 20)
	errs := make([]error, len(results))
	for i := range results {
		// Each producer has its own connection, as separate processes would.
		rdb := redis.NewClient(queuetest.Redis(t))
		t.Cleanup(func() { rdb.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			lane := queue.Interactive
			if i%2 == 1 {
				lane = queue.Bulk
			}
			q, err := queue.New(rdb, e.q.Options())
			if err == nil {
				results[i], err = q.EnqueueLine(context.Background(), queuetest.RequestJSON("hot", ""), lane)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "producer %d", i)
	}
	counts := map[queue.Outcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
	}
	require.Equal(t, map[queue.Outcome]int{queue.Enqueued: 1, queue.Duplicate: 19}, counts)
	require.EqualValues(t, 1, e.pending(t, queue.Interactive)+e.pending(t, queue.Bulk))
}

func TestEnqueueMany_DuplicatesAndConflictsWithinBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reqs := []*flexapi.LabelRequest{
		queuetest.Request("a", ""), queuetest.Request("b", ""), queuetest.Request("a", ""),
		queuetest.Request("b", "OTHER"), queuetest.Request("", ""),
	}
	res, err := e.q.EnqueueMany(context.Background(), reqs, queue.Bulk)
	require.NoError(t, err)
	var got []queue.Outcome
	for _, r := range res {
		got = append(got, r.Outcome)
	}
	require.Equal(t, []queue.Outcome{queue.Enqueued, queue.Enqueued, queue.Duplicate, queue.Conflict, queue.Invalid}, got)
	require.EqualValues(t, 2, e.pending(t, queue.Bulk))
	// Again: everything is now a duplicate (or the same conflict).
	res, err = e.q.EnqueueMany(context.Background(), reqs[:2], queue.Bulk)
	require.NoError(t, err)
	require.Equal(t, queue.Duplicate, res[0].Outcome)
	require.Equal(t, queue.Duplicate, res[1].Outcome)
}

func TestStatus_UnknownKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st, err := e.q.Status(context.Background(), "nope", "nope2")
	require.NoError(t, err)
	require.Len(t, st, 2)
	require.Equal(t, queue.StateUnknown, st[0].State)
	require.Equal(t, "nope2", st[1].IdempotencyKey)
}

// deadLetter takes a freshly enqueued job through the worker's dead-letter path.
func deadLetter(t *testing.T, e *env, key, product string, reason queue.Reason) {
	t.Helper()
	res := enqueue(t, e, queuetest.RequestJSON(key, product), queue.Interactive)
	require.True(t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(t, e.q, key, product, queue.Interactive)
	attempt := queuetest.Attempt(t, e.q, j)
	require.NoError(t, e.st.DeadLetter(context.Background(), j, store.Failure{
		Reason: reason, HTTPStatus: 400, Message: "Validation failed", Attempts: attempt,
		Details: []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}},
	}))
	// what asynq does after SkipRetry: the task leaves pending
	queuetest.Dequeue(t, e.rdb, e.q.Name(queue.Interactive), key)
}

func TestEnqueue_DeadKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deadLetter(t, e, "d1", "", queue.ReasonAuth)
	res := enqueue(t, e, queuetest.RequestJSON("d1", ""), queue.Interactive)
	require.Equal(t, queue.Dead, res.Outcome)
	require.Equal(t, queue.StateDead, res.State)
	require.NotNil(t, res.DeadLetter)
	require.Equal(t, queue.ReasonAuth, res.DeadLetter.Reason)
	// A different request for a key dead for a reason other than invalid is a conflict.
	require.Equal(t, queue.Conflict, enqueue(t, e, queuetest.RequestJSON("d1", "OTHER"), queue.Interactive).Outcome)
}

func TestEnqueue_DeadInvalid_CorrectedRequestReplaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deadLetter(t, e, "d1", "", queue.ReasonInvalid)
	require.Equal(t, queue.Dead, enqueue(t, e, queuetest.RequestJSON("d1", ""), queue.Interactive).Outcome)
	res := enqueue(t, e, queuetest.RequestJSON("d1", "FIXED"), queue.Bulk)
	require.Equal(t, queue.Enqueued, res.Outcome)
	n, err := e.q.DeadLetters().Count(context.Background(), "")
	require.NoError(t, err)
	require.Zero(t, n)
	dl, err := e.q.DeadLetters().Get(context.Background(), "d1")
	require.ErrorIs(t, err, queue.ErrNotFound)
	require.Nil(t, dl)
	require.EqualValues(t, 1, e.pending(t, queue.Bulk))
}

func TestDeadLetters_MoreThanAsynqArchiveKeeps_AllListable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("writes 10,050 dead letters")
	}
	e := newEnv(t)
	ctx := context.Background()
	const n = 10050
	for i := range n {
		key := fmt.Sprintf("k%05d", i)
		j := &store.Job{Key: key, Queue: e.q.Name(queue.Bulk), Hash: "h", Payload: queuetest.RequestJSON(key, "")}
		reason := queue.ReasonCourierRejected
		if i%10 == 0 {
			reason = queue.ReasonNotFound
		}
		require.NoError(t, e.st.DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 502, Message: "no"}))
	}
	total, err := e.q.DeadLetters().Count(ctx, "")
	require.NoError(t, err)
	require.EqualValues(t, n, total)
	seen := map[string]bool{}
	cursor := ""
	for {
		page, next, err := e.q.DeadLetters().List(ctx, queue.ListOptions{Limit: 1000, Cursor: cursor})
		require.NoError(t, err)
		for _, d := range page {
			require.False(t, seen[d.IdempotencyKey], "listed twice: %s", d.IdempotencyKey)
			seen[d.IdempotencyKey] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, n, len(seen))
	nf, err := e.q.DeadLetters().Keys(ctx, queue.ReasonNotFound)
	require.NoError(t, err)
	const notFound = (n + 9) / 10 // i%10 == 0 for i in [0, n)
	require.Equal(t, notFound, len(nf))
	by, err := e.q.DeadLetters().CountByReason(ctx)
	require.NoError(t, err)
	require.EqualValues(t, notFound, by[queue.ReasonNotFound])
	require.EqualValues(t, n-notFound, by[queue.ReasonCourierRejected])
}

func TestRedrive_PutsTheSameKeyBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "r1", "", queue.ReasonAuth)
	deadLetter(t, e, "r2", "", queue.ReasonAuth)
	res, err := e.q.DeadLetters().Redrive(ctx, "r1", "missing")
	require.NoError(t, err)
	require.True(t, res[0].Done)
	require.False(t, res[1].Done)
	require.EqualValues(t, 1, e.pending(t, queue.Interactive))
	st, err := e.q.Status(ctx, "r1", "r2")
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, st[0].State)
	require.Equal(t, 1, st[0].Attempts, "a redriven job keeps its attempts")
	require.Equal(t, queue.StateDead, st[1].State)
	page, _, err := e.q.DeadLetters().List(ctx, queue.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "r2", page[0].IdempotencyKey)
	// Redriven: the same request is now a duplicate, not dead.
	require.Equal(t, queue.Duplicate, enqueue(t, e, queuetest.RequestJSON("r1", ""), queue.Interactive).Outcome)
}

func TestDiscard_FreesTheKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "x1", "", queue.ReasonRejected)
	res, err := e.q.DeadLetters().Discard(ctx, "x1")
	require.NoError(t, err)
	require.True(t, res[0].Done)
	n, err := e.q.DeadLetters().Count(ctx, queue.ReasonRejected)
	require.NoError(t, err)
	require.Zero(t, n)
	st, err := e.q.Status(ctx, "x1")
	require.NoError(t, err)
	require.Equal(t, queue.StateUnknown, st[0].State)
	require.Equal(t, queue.Enqueued, enqueue(t, e, queuetest.RequestJSON("x1", ""), queue.Interactive).Outcome)
}

func TestExport_LinesEnqueueAsTheyAre(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	deadLetter(t, e, "e1", "", queue.ReasonInvalid)
	var lines [][]byte
	require.NoError(t, e.q.DeadLetters().Each(ctx, "", func(d *queue.DeadLetter) error {
		l, err := d.ExportLine()
		lines = append(lines, l)
		return err
	}))
	require.Len(t, lines, 1)
	var obj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(lines[0], &obj))
	require.Contains(t, obj, queue.DeadLetterField)
	require.Contains(t, string(obj[queue.DeadLetterField]), `"reason":"invalid"`)
	// The same request back: dead. After fixing it (different body): accepted, replacing the dead letter.
	require.Equal(t, queue.Dead, enqueue(t, e, lines[0], queue.Interactive).Outcome)
	fixed := strings.Replace(string(lines[0]), "HKMUZXR", "JPTHZXR", 1)
	require.Equal(t, queue.Enqueued, enqueue(t, e, []byte(fixed), queue.Interactive).Outcome)
}

func TestCanonical_RawObjectsNormalised(t *testing.T) {
	t.Parallel()
	a := queuetest.Request("k", "")
	b := queuetest.Request("k", "")
	a.Customs = json.RawMessage(`{"b":1, "a":[1,2]}`)
	b.Customs = json.RawMessage(`{"a":[1,2],"b":1}`)
	_, ha, err := store.Canonical(a)
	require.NoError(t, err)
	_, hb, err := store.Canonical(b)
	require.NoError(t, err)
	require.Equal(t, ha, hb)
	b.Customs = json.RawMessage(`{"a":[2,1],"b":1}`)
	_, hc, err := store.Canonical(b)
	require.NoError(t, err)
	require.NotEqual(t, ha, hc)
}

// Concurrent batches racing to load the script after Redis forgot it must
// still report each first enqueue as enqueued, never as its own duplicate.
func TestEnqueueMany_ScriptFlushedMidRun_OutcomesExact(t *testing.T) {
	t.Parallel()
	rp := queuetest.StartRedis(t)
	rdb := redis.NewClient(rp.Options())
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: "flush"})
	require.NoError(t, err)
	ctx := context.Background()
	for round := range 5 {
		require.NoError(t, rdb.ScriptFlush(ctx).Err())
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reqs := make([]*flexapi.LabelRequest, 300)
				for i := range reqs {
					reqs[i] = queuetest.Request(fmt.Sprintf("r%d-g%d-%d", round, g, i), "")
				}
				res, err := q.EnqueueMany(ctx, reqs, queue.Bulk)
				if err != nil {
					errs <- err
					return
				}
				for _, r := range res {
					if r.Outcome != queue.Enqueued {
						errs <- fmt.Errorf("%s: %s", r.IdempotencyKey, r.Outcome)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
}
