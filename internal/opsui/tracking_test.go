package opsui_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// completed enqueues key and records its label, as the worker does.
func completed(t *testing.T, q *queue.Queue, key string) {
	t.Helper()
	ctx := context.Background()
	_, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), queue.Interactive)
	require.NoError(t, err)
	require.NoError(t, queuetest.Store(t, q).Complete(ctx, queuetest.Job(t, q, key, "", queue.Interactive),
		&flexapi.Label{ID: "lbl_" + key, Status: flexapi.StatusCreated}))
}

// TestUI_LabelPage_Tracking_CheckpointsNewestFirstEscaped: a polled label's
// page shows the tag, subtag message, tracking number, checked and next
// check, and the checkpoints in the API's order (time, place, tag,
// message), every text the API wrote escaped.
func TestUI_LabelPage_Tracking_CheckpointsNewestFirstEscaped(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	const key = "trk/1"
	completed(t, q, key)
	loc := "Dock <7>"
	next := time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC)
	queuetest.SetTracking(t, q.Redis(), q.Options().Namespace, key, queue.Tracking{
		Tag: flexapi.TagException, Subtag: "Exception_011", SubtagMessage: "Address <b>issue</b>", TrackingNumber: "YT<1>CN",
		Checkpoints: []flexapi.Checkpoint{
			{CheckpointTime: "2026-12-02T10:00:00+08:00", City: "Shenzhen", State: "GD", CountryRegion: "CN",
				Message: `<script>alert("x")</script>`, Tag: flexapi.TagException, SubtagMessage: "Address issue"},
			{CheckpointTime: "2026-12-02T08:00:00+08:00", City: "Shenzhen", CountryRegion: "CN", Message: "Departed & sorted", Tag: flexapi.TagInTransit},
			{CheckpointTime: "2026-12-01T18:00:00+08:00", Location: &loc, Message: "Information received", Tag: flexapi.TagInfoReceived},
		},
		CheckedAt:   time.Date(2026, 12, 2, 18, 45, 0, 0, time.UTC),
		NextCheckAt: &next,
	})
	srv := serve(t, q)

	code, body := getAs(t, srv, "viewer", "/ui/label?key="+url.QueryEscape(key))
	require.Equal(t, 200, code)
	contains(t, body, "<h2>Tracking</h2>")
	contains(t, body, `<span class="state state-dead" id="tracking-tag">Exception</span>`, "an exception stands out")
	contains(t, body, `<td id="tracking-subtag">Address &lt;b&gt;issue&lt;/b&gt; <span class="muted">(Exception_011)</span></td>`)
	contains(t, body, `<td id="tracking-number"><code>YT&lt;1&gt;CN</code></td>`)
	contains(t, body, `<td id="tracking-checked">2026-12-02 18:45:00.000Z</td>`)
	contains(t, body, `<td id="tracking-next">2026-12-02 19:30:00.000Z</td>`)
	lacks(t, body, "<script>alert")
	lacks(t, body, "<b>issue")

	rows := regexp.MustCompile(`(?s)<table id="checkpoints">.*?<tbody>(.*?)</tbody>`).FindStringSubmatch(body)
	require.Len(t, rows, 2, body)
	got := strings.Split(strings.TrimSpace(rows[1]), "\n")
	require.Equal(t, []string{
		`<tr><td>2026-12-02T10:00:00&#43;08:00</td><td>Shenzhen, GD, CN</td><td>Exception<br><span class="muted">Address issue</span></td><td>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td></tr>`,
		`<tr><td>2026-12-02T08:00:00&#43;08:00</td><td>Shenzhen, CN</td><td>InTransit</td><td>Departed &amp; sorted</td></tr>`,
		`<tr><td>2026-12-01T18:00:00&#43;08:00</td><td>Dock &lt;7&gt;</td><td>InfoReceived</td><td>Information received</td></tr>`,
	}, got, "newest first, as the API gives them")
}

// TestUI_LabelPage_Tracking_NotPolledYet: a completed label not polled yet
// says so, with its first check's time when the schedule has one, and why
// there is none otherwise; a label no longer followed says that.
func TestUI_LabelPage_Tracking_NotPolledYet(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	ns := q.Options().Namespace
	completed(t, q, "k1")
	completed(t, q, "k2")
	queuetest.ScheduleTracking(t, q.Redis(), ns, "k1", time.Date(2026, 12, 2, 23, 7, 42, 0, time.UTC))
	srv := serve(t, q)

	code, body := get(t, srv, "/ui/label?key=k1")
	require.Equal(t, 200, code)
	contains(t, body, `<p id="tracking-state" class="muted">Not polled yet: the first check is due at <span id="tracking-due">2026-12-02 23:07:42.000Z</span>.</p>`)
	lacks(t, body, `id="checkpoints"`)

	_, body = get(t, srv, "/ui/label?key=k2")
	contains(t, body, `Not polled yet, and no check is scheduled: tracking does not follow this key (<code>FLEXLABEL_TRACKING</code>`)

	queuetest.SetTracking(t, q.Redis(), ns, "k2", queue.Tracking{Tag: flexapi.TagDelivered, SubtagMessage: "Delivered", CheckedAt: time.Now()})
	_, body = get(t, srv, "/ui/label?key=k2")
	contains(t, body, `<span class="state state-completed" id="tracking-tag">Delivered</span>`)
	contains(t, body, `<td id="tracking-number"><span class="muted">none given</span></td>`)
	contains(t, body, `<td id="tracking-next"><span class="muted">no longer followed`)
	contains(t, body, `<tr><td colspan="4" class="muted">No checkpoints yet.</td></tr>`)

	// A job without a label has no tracking section at all.
	_, err := q.EnqueueLine(context.Background(), queuetest.RequestJSON("k3", ""), queue.Interactive)
	require.NoError(t, err)
	_, body = get(t, srv, "/ui/label?key=k3")
	lacks(t, body, "<h2>Tracking</h2>")
}
