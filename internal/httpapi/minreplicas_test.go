package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// With FLEXLABEL_REDIS_MIN_REPLICAS=1 and the replica frozen, an enqueue the
// primary took but no replica acknowledged is a 503 with Retry-After, as
// when Redis does not answer, saying how many replicas did; the same
// request once the replica is back is accepted.
func TestCreateLabel_MinReplicas_ReplicaDown_503RetryAfter(t *testing.T) {
	t.Parallel()
	primary := queuetest.StartRedis(t)
	replica := queuetest.StartReplica(t, primary.Addr())
	rdb := redis.NewClient(primary.Options())
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t), MinReplicas: 1, ReplicaTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	logs := &queuetest.Buffer{}
	h, err := httpapi.New(httpapi.Config{Queue: q, Tokens: []string{token}, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	srv := newTestServer(h)
	t.Cleanup(srv.Close)
	e := (&env{t: t, q: q, h: h, srv: srv, logs: logs}).withContract()

	replica.Pause()
	for _, c := range []struct{ path, ct string }{
		{"/v1/labels", "application/json"},
		{"/v1/labels/batch", "application/x-ndjson"},
	} {
		r := e.do(http.MethodPost, c.path, bytes.NewReader(queuetest.RequestJSON("dur-http", "")), "Content-Type", c.ct)
		require.Equal(t, http.StatusServiceUnavailable, r.code, c.path)
		require.Equal(t, "1", r.header.Get("Retry-After"), c.path)
		require.Equal(t, "queue unavailable: 0 of 1 Redis replicas acknowledged the write within 100ms; retry the same request (it is idempotent)",
			r.errorMessage(t), c.path)
		require.NotContains(t, string(r.body), primary.Addr(), "the Redis address stays internal")
	}
	require.Contains(t, logs.String(), "0 of 1 Redis replicas acknowledged")

	// Retried as a client would (the replica may take a moment to catch up):
	// the retry finds the job the first attempt wrote, a duplicate.
	replica.Resume()
	require.Eventually(t, func() bool {
		r := e.do(http.MethodPost, "/v1/labels", bytes.NewReader(queuetest.RequestJSON("dur-http", "")), "Content-Type", "application/json")
		return r.code == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
}
