package opsui_test

import (
	"context"
	"html"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestUI_DeadLetterPage_ShowsHistorySupersededByAndRequest(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	ctx := context.Background()
	const key = "ord/1&x"
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, flexapitest.RejectProductCode), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	j := queuetest.Job(t, q, key, flexapitest.RejectProductCode, queue.Interactive)
	n := queuetest.Attempt(t, q, j)
	require.NoError(t, queuetest.Store(t, q).FailAttempt(ctx, j, store.Failure{HTTPStatus: 500, Message: "boom <i>", Attempts: n}))
	n = queuetest.Attempt(t, q, j)
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonCourierRejected, HTTPStatus: 502, Message: "COURIER_ERROR: no", Attempts: n}))
	nk, err := q.DeadLetters().NewKeyLine(ctx, key)
	require.NoError(t, err)
	srv := httptest.NewServer(opsui.New(q, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)

	code, body := get(t, srv, "/ui/dead-letters")
	require.Equal(t, 200, code)
	require.Contains(t, body, `href="/ui/dead-letter?key=ord%2f1%26x"`)
	require.Contains(t, body, "<code>"+html.EscapeString(nk.NewKey)+"</code>")

	code, body = get(t, srv, "/ui/dead-letter?key="+url.QueryEscape(key))
	require.Equal(t, 200, code)
	require.Contains(t, body, "ord/1&amp;x")
	require.Regexp(t, `<tr><td>1</td><td>[^<]+</td><td>500</td><td>boom &lt;i&gt;</td></tr>`, body)
	require.Regexp(t, `<tr><td>2</td><td>[^<]+</td><td>502</td><td>COURIER_ERROR: no</td></tr>`, body)
	require.Regexp(t, regexp.MustCompile(`Superseded by</th><td><code>`+regexp.QuoteMeta(html.EscapeString(nk.NewKey))+`</code>`), body)
	require.Contains(t, body, "<pre>{\n  &#34;idempotencyKey&#34;: &#34;ord/1\\u0026x&#34;,\n  &#34;courier", "the request, pretty-printed")

	code, _ = get(t, srv, "/ui/dead-letter?key=nope")
	require.Equal(t, 404, code)
	code, _ = get(t, srv, "/ui/dead-letter")
	require.Equal(t, 400, code)
}
