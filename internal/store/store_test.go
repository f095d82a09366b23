package store_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

// env is a queue (to enqueue through, as producers do) and the store of its
// namespace (to act as the worker does).
type env struct {
	rdb *redis.Client
	q   *queue.Queue
	st  *store.Store
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

func enqueue(t *testing.T, e *env, line []byte, lane store.Lane) queue.Result {
	t.Helper()
	res, err := e.q.EnqueueLine(context.Background(), line, lane)
	require.NoError(t, err)
	return res
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ord-1-r1", store.DeriveKeyForTest("ord-1", 1))
	require.Equal(t, "ord-1-r12", store.DeriveKeyForTest("ord-1", 12))
	require.Equal(t, "ord-1-r1-r1", store.DeriveKeyForTest("ord-1-r1", 1))
	long := strings.Repeat("ü", store.MaxKeyLen)
	other := long[:len(long)-2] + "x"
	for _, k := range []string{long, other, strings.Repeat("a", store.MaxKeyLen-3)} {
		d := store.DeriveKeyForTest(k, 7)
		require.Equal(t, store.MaxKeyLen, utf8.RuneCountInString(d), d)
		require.True(t, strings.HasSuffix(d, "-r7"))
		require.Equal(t, d, store.DeriveKeyForTest(k, 7), "deterministic")
		req := queuetest.Request("x", "")
		req.IdempotencyKey = d
		require.NoError(t, req.Validate(), "the API's key limit holds")
	}
	require.NotEqual(t, store.DeriveKeyForTest(long, 1), store.DeriveKeyForTest(other, 1))
}
