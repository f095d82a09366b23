package opsui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestUI_ShowsDeadLettersWithReasonsAndMountsAsynqmon(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	ctx := context.Background()
	for i, reason := range []queue.Reason{queue.ReasonAuth, queue.ReasonCourierRejected} {
		key := []string{"dead-<auth>", "dead-courier"}[i]
		j := &store.Job{Key: key, Queue: q.Name(queue.Interactive), Hash: "h", Payload: queuetest.RequestJSON(key, "")}
		require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 401, Message: "Unauthorized <b>"}))
	}
	srv := httptest.NewServer(opsui.New(q, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)

	code, body := get(t, srv, "/ui/")
	require.Equal(t, 200, code)
	require.Contains(t, body, `href="/ui/queues/"`)
	require.Contains(t, body, `href="/ui/dead-letters"`)
	require.Regexp(t, `auth</a></td><td>1<`, body)

	code, body = get(t, srv, "/ui/dead-letters?reason=auth")
	require.Equal(t, 200, code)
	require.Contains(t, body, "dead-&lt;auth&gt;", "keys are HTML-escaped")
	require.Contains(t, body, "Unauthorized &lt;b&gt;")
	require.NotContains(t, body, "dead-courier")

	code, _ = get(t, srv, "/ui/dead-letters?reason=bogus")
	require.Equal(t, 400, code)

	code, body = get(t, srv, "/ui/queues/")
	require.Equal(t, 200, code)
	require.True(t, strings.Contains(strings.ToLower(body), "<html"), "asynqmon serves its app")
	code, body = get(t, srv, "/ui/queues/api/queues")
	require.Equal(t, 200, code)
	require.Contains(t, body, "queues")
}
