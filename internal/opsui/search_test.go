package opsui_test

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

var rowKey = regexp.MustCompile(`<input type="checkbox" name="key" value="([^"]+)">`)

// rows are the keys of a list page's rows, in order.
func rows(body string) []string {
	var out []string
	for _, m := range rowKey.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// failedAt is when key's dead letter last failed; it waits until the clock
// has moved past that millisecond, so the next dead letter fails later.
func failedAt(t *testing.T, q *queue.Queue, key string) time.Time {
	t.Helper()
	d, err := q.DeadLetters().Get(context.Background(), key)
	require.NoError(t, err)
	for time.Now().UnixMilli() <= d.FailedAt.UnixMilli() {
	}
	return d.FailedAt
}

func TestUI_SearchAndFilters(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "shop-a/1", queue.Interactive, queue.ReasonAuth, "m")
	kill(t, q, "shop-a/2", queue.Bulk, queue.ReasonAuth, "m")
	kill(t, q, "shop-b/1", queue.Interactive, queue.ReasonInvalid, "m")
	failedAt(t, q, "shop-b/1")
	kill(t, q, "shop-a/10", queue.Interactive, queue.ReasonCourierRejected, "m")
	late := failedAt(t, q, "shop-a/10").UTC().Format(time.RFC3339Nano)
	_, err := q.EnqueueLine(context.Background(), queuetest.RequestJSON("live-1", ""), queue.Interactive)
	require.NoError(t, err)
	srv := serve(t, q)

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"shop-a/1", "shop-a/2", "shop-b/1", "shop-a/10"}},
		{"q=shop-a/", []string{"shop-a/1", "shop-a/2", "shop-a/10"}},
		{"q=shop-a/1", []string{"shop-a/1", "shop-a/10"}}, // a whole key is a prefix of others: a search
		{"q=shop-a/&queue=bulk", []string{"shop-a/2"}},
		{"q=shop-a/&queue=interactive", []string{"shop-a/1", "shop-a/10"}},
		{"reason=auth", []string{"shop-a/1", "shop-a/2"}},
		{"reason=auth&queue=interactive", []string{"shop-a/1"}},
		{"since=" + url.QueryEscape(late), []string{"shop-a/10"}},
		{"until=" + url.QueryEscape(late), []string{"shop-a/1", "shop-a/2", "shop-b/1"}},
		{"q=shop-&since=" + url.QueryEscape(late) + "&reason=auth", nil},
		{"q=nothing-like-it", nil},
	} {
		r := do(t, srv, "operator", "GET", "/ui/dead-letters?"+c.query, nil)
		require.Equal(t, 200, r.code, c.query)
		require.Equal(t, c.want, rows(r.body), c.query)
		contains(t, r.body, "<h1>Dead letters <span class=\"muted\">("+strconv.Itoa(len(c.want)), c.query)
	}

	// A whole key, dead or not, that finds no other goes to its page.
	for _, k := range []string{"shop-b/1", "live-1"} {
		r := do(t, srv, "viewer", "GET", "/ui/dead-letters?q="+url.QueryEscape(k), nil)
		require.Equal(t, 303, r.code, k)
		require.Equal(t, "/ui/label?key="+url.QueryEscape(k), r.location)
	}
	r := do(t, srv, "viewer", "GET", "/ui/dead-letters?q=shop-a/1", nil)
	require.Equal(t, 200, r.code)
	contains(t, r.body, `<input name="q" value="shop-a/1"`, "the form keeps the search")
	contains(t, r.body, `href="/ui/label?key=shop-a%2F10"`)
	require.Empty(t, rows(r.body), "a viewer gets no checkboxes")
	require.False(t, actionForm.MatchString(r.body), "nor action forms")
	lacks(t, r.body, `id="export"`, "nor the export, whose requests hold personal data")
}

// TestUI_Export: an operator exports the current filter as the lines of
// `flexlabel dlq export`.
func TestUI_Export(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "ex-1", queue.Interactive, queue.ReasonAuth, "m1")
	kill(t, q, "ex-2", queue.Bulk, queue.ReasonAuth, "m2")
	kill(t, q, "ex-3", queue.Interactive, queue.ReasonInvalid, "m3")
	srv := serve(t, q)

	r := do(t, srv, "operator", "GET", "/ui/dead-letters?reason=auth", nil)
	contains(t, r.body, `<a class="button" id="export" href="/ui/export?reason=auth"`)
	r = do(t, srv, "operator", "GET", "/ui/export?reason=auth", nil)
	require.Equal(t, 200, r.code)
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	var want strings.Builder
	for _, k := range []string{"ex-1", "ex-2"} {
		d, err := q.DeadLetters().Get(context.Background(), k)
		require.NoError(t, err)
		line, err := d.ExportLine()
		require.NoError(t, err)
		want.Write(append(line, '\n'))
	}
	require.Equal(t, want.String(), r.body)
	res, err := q.EnqueueLine(context.Background(), []byte(strings.SplitN(r.body, "\n", 2)[0]), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Dead, res.Outcome, "an exported line is the request as enqueue takes it")

	r = do(t, srv, "operator", "GET", "/ui/export?q=ex-&queue=bulk", nil)
	require.Equal(t, 1, strings.Count(r.body, "\n"))
	require.Contains(t, r.body, `"idempotencyKey":"ex-2"`)
	require.Equal(t, 400, do(t, srv, "operator", "GET", "/ui/export?reason=nope", nil).code)
}

// TestUI_Counts: the live counts, on the landing page and as JSON.
func TestUI_Counts(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "c-1", queue.Interactive, queue.ReasonAuth, "m")
	kill(t, q, "c-2", queue.Bulk, queue.ReasonRetriesExhausted, "m")
	for _, k := range []string{"p-1", "p-2"} {
		_, err := q.EnqueueLine(context.Background(), queuetest.RequestJSON(k, ""), queue.Bulk)
		require.NoError(t, err)
	}
	_, err := q.EnqueueLine(context.Background(), queuetest.RequestJSON("p-3", ""), queue.Interactive)
	require.NoError(t, err)
	srv := serve(t, q)

	r := do(t, srv, "viewer", "GET", "/ui/counts", nil)
	require.Equal(t, 200, r.code)
	var c queue.Counts
	require.NoError(t, json.Unmarshal([]byte(r.body), &c))
	require.Equal(t, int64(3), c.Pending)
	require.Equal(t, int64(2), c.Dead)
	require.Equal(t, int64(1), c.DeadByReason[queue.ReasonAuth])
	require.Equal(t, int64(1), c.DeadByReason[queue.ReasonRetriesExhausted])
	require.Equal(t, int64(0), c.DeadByReason[queue.ReasonInvalid])

	r = do(t, srv, "viewer", "GET", "/ui/", nil)
	contains(t, r.body, `<div id="counts" class="panel"`)
	contains(t, r.body, `<b data-count="pending">3</b>`)
	contains(t, r.body, `<b data-count="dead">2</b>`)
	contains(t, r.body, `<b data-reason="retries_exhausted">1</b>`)
	r = do(t, srv, "viewer", "GET", "/ui/dead-letters", nil)
	contains(t, r.body, `<div id="counts" class="bar"`, "every page has the bar")
	contains(t, r.body, `<b data-count="pending">3</b>`)
	require.Equal(t, 1, strings.Count(r.body, `id="counts"`))
}
