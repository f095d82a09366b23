package opsui_test

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"net/http"
)

// TestUI_Answers: the UI maps the queue's sentinels to its statuses — a bad
// reason, cursor or filter is the operator's 400 naming the parameter, a key
// with no label 404, Redis down 503 (not "not found", as a nil result once
// could be read).
func TestUI_Answers(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "a1", queue.Interactive, queue.ReasonAuth, "Unauthorized")
	up := serve(t, q)

	gone := redis.NewClient(&redis.Options{Network: "unix", Addr: t.TempDir() + "/no-redis.sock", MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { gone.Close() })
	dq, err := queue.New(gone, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	dh := opsui.New(dq, slog.New(slog.DiscardHandler))
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dh.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), auth.Principal{ID: "x", Scope: auth.All})))
	}))
	t.Cleanup(down.Close)

	for _, c := range []struct {
		srv  *httptest.Server
		path string
		code int
		body string
	}{
		{up, "/ui/dead-letters?reason=auth", 200, "<code>a1</code>"},
		{up, "/ui/dead-letters?reason=Auth", 400, `reason: unknown reason &#34;Auth&#34;`},
		{up, "/ui/dead-letters?cursor=zzz", 400, `cursor: queue: bad cursor &#34;zzz&#34;`},
		{up, "/ui/dead-letters?queue=fast", 400, `queue: want interactive or bulk, got &#34;fast&#34;`},
		{up, "/ui/dead-letters?since=yesterday", 400, `since: want a time like`},
		{up, "/ui/dead-letter?key=a1", 200, "Unauthorized"},
		{up, "/ui/label?key=b2", 404, `&#34;b2&#34;: no label with this key`},
		{up, "/ui/label", 400, `key: required`},
		{down, "/ui/label?key=a1", 503, "queue unavailable"},
		{down, "/ui/dead-letters", 503, "queue unavailable"},
		{down, "/ui/counts", 503, "queue unavailable"},
	} {
		code, body := get(t, c.srv, c.path)
		require.Equal(t, c.code, code, c.path)
		require.Contains(t, body, c.body, c.path)
	}
}
