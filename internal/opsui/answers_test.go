package opsui_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestUI_Answers: the UI maps the queue's sentinels to its statuses — a bad
// reason or cursor is the operator's 400, a key not dead 404, Redis down
// 503 (not "not found", as a nil result once could be read).
func TestUI_Answers(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	j := &store.Job{Key: "a1", Queue: q.Name(queue.Interactive), Hash: "h", Payload: queuetest.RequestJSON("a1", "")}
	require.NoError(t, queuetest.Store(t, q).DeadLetter(context.Background(), j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "Unauthorized"}))
	up := httptest.NewServer(opsui.New(q, slog.New(slog.DiscardHandler)))
	t.Cleanup(up.Close)

	gone := redis.NewClient(&redis.Options{Network: "unix", Addr: t.TempDir() + "/no-redis.sock", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { gone.Close() })
	dq, err := queue.New(gone, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	down := httptest.NewServer(opsui.New(dq, slog.New(slog.DiscardHandler)))
	t.Cleanup(down.Close)

	for _, c := range []struct {
		srv  *httptest.Server
		path string
		code int
		body string
	}{
		{up, "/ui/dead-letters?reason=auth", 200, "<code>a1</code>"},
		{up, "/ui/dead-letters?reason=Auth", 400, `unknown reason "Auth"`},
		{up, "/ui/dead-letters?cursor=zzz", 400, `queue: bad cursor "zzz"`},
		{up, "/ui/dead-letter?key=a1", 200, "Unauthorized"},
		{up, "/ui/dead-letter?key=b2", 404, `"b2" is not in the dead-letter queue`},
		{down, "/ui/dead-letter?key=a1", 503, "queue unavailable"},
		{down, "/ui/dead-letters", 503, "queue unavailable"},
	} {
		code, body := get(t, c.srv, c.path)
		require.Equal(t, c.code, code, c.path)
		require.Contains(t, body, c.body, c.path)
	}
}
