package opsui_test

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// personal are the personal values of queuetest's request: names, phone
// numbers, e-mail, street, city, postal code of shipTo and shipFrom.
var personal = []string{"Alex", "Smith", "8554377467", "alex@example.com", "18 Distribution Blvd", "Edison", "08817",
	"John", "Doe", "886900676877", "Habucho", "Kishiwada-Shi", "596-0825"}

func TestUI_LabelPage_DeadLetter_HistorySupersededByRequest(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
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
	srv := serve(t, q)

	code, body := get(t, srv, "/ui/dead-letters")
	require.Equal(t, 200, code)
	contains(t, body, `href="/ui/label?key=ord%2F1%26x"`, "keys link to their label page")
	contains(t, body, `href="/ui/label?key=`+html.EscapeString(url.QueryEscape(nk.NewKey))+`"`)

	code, body = get(t, srv, "/ui/dead-letter?key="+url.QueryEscape(key))
	require.Equal(t, 200, code, "the old page redirects to the label page")
	contains(t, body, "ord/1&amp;x")
	contains(t, body, `<span class="state state-dead" id="state">dead</span>`)
	contains(t, body, `<td id="attempts">2</td>`)
	require.Regexp(t, `<tr><td class="num">1</td><td>[^<]+</td><td class="num">500</td><td>boom &lt;i&gt;</td></tr>`, body)
	require.Regexp(t, `<tr><td class="num">2</td><td>[^<]+</td><td class="num">502</td><td>COURIER_ERROR: no</td></tr>`, body)
	require.Regexp(t, regexp.MustCompile(`Superseded by</th><td><a href="[^"]+"><code>`+regexp.QuoteMeta(html.EscapeString(nk.NewKey))+`</code>`), body)
	contains(t, body, "<pre id=\"request\">{\n  &#34;idempotencyKey&#34;: &#34;ord/1\\u0026x&#34;,\n  &#34;courier", "the request, pretty-printed")

	code, _ = get(t, srv, "/ui/label?key=nope")
	require.Equal(t, 404, code)
	code, _ = get(t, srv, "/ui/dead-letter")
	require.Equal(t, 400, code)
}

// TestUI_LabelPage_PersonalFieldsAndActionsByScope: an operator sees the
// request whole and the redrive and discard forms; a viewer sees neither the
// personal fields (names, addresses, phone, e-mail) nor any action form.
func TestUI_LabelPage_PersonalFieldsAndActionsByScope(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "p-1", queue.Interactive, queue.ReasonInvalid, "bad")
	srv := serve(t, q)

	code, body := getAs(t, srv, "operator", "/ui/label?key=p-1")
	require.Equal(t, 200, code)
	for _, v := range personal {
		contains(t, body, v)
	}
	lacks(t, body, opsui.Hidden)
	contains(t, body, `data-action="redrive"`)
	contains(t, body, `data-action="discard"`)

	code, body = getAs(t, srv, "viewer", "/ui/label?key=p-1")
	require.Equal(t, 200, code)
	for _, v := range personal {
		lacks(t, body, v)
	}
	contains(t, body, `&#34;firstName&#34;: &#34;hidden (needs scope operator)&#34;`)
	contains(t, body, `&#34;countryCode&#34;: &#34;US&#34;`, "a country is no personal field")
	contains(t, body, `&#34;productCode&#34;: &#34;HKMUZXR&#34;`, "the rest of the request stays")
	require.False(t, actionForm.MatchString(body), "a viewer gets no action form")
	lacks(t, body, `name="csrf"`)
}

// TestUI_LabelPage_AnyKey: a completed key shows its label, tracking number
// and document URL; a pending one its state.
func TestUI_LabelPage_AnyKey(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	ctx := context.Background()
	for _, k := range []string{"done-1", "wait-1"} {
		res, err := q.EnqueueLine(ctx, queuetest.RequestJSON(k, ""), queue.Interactive)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, res.Outcome)
	}
	st := queuetest.Store(t, q)
	track, order := "YT123<4>", "CO-9"
	j := queuetest.Job(t, q, "done-1", "", queue.Interactive)
	require.NoError(t, st.Complete(ctx, j, &flexapi.Label{ID: "lbl-7", Status: "CREATED", CourierTrackingNumber: &track, CourierOrderNumber: &order}))
	require.NoError(t, st.SetURLs(ctx, map[string]string{"done-1": "https://docs.example/lbl-7.pdf"}))
	srv := serve(t, q)

	code, body := getAs(t, srv, "viewer", "/ui/label?key=done-1")
	require.Equal(t, 200, code)
	contains(t, body, `id="state">completed</span>`)
	contains(t, body, `<code>lbl-7</code>`)
	contains(t, body, `<td id="tracking"><code>YT123&lt;4&gt;</code></td>`)
	contains(t, body, `<a id="document" href="https://docs.example/lbl-7.pdf">`)

	lacks(t, body, `data-key=`, "a finished job's page does not poll")

	w := queuetest.Job(t, q, "wait-1", "", queue.Interactive)
	n := queuetest.Attempt(t, q, w)
	require.NoError(t, st.FailAttempt(ctx, w, store.Failure{HTTPStatus: 503, Message: "try later", Attempts: n}))
	code, body = getAs(t, srv, "viewer", "/ui/label?key=wait-1")
	require.Equal(t, 200, code)
	contains(t, body, `id="state" data-key="wait-1" data-state="pending" data-attempts="1"`, "a live job's page follows it")
	require.Regexp(t, `<tr><td class="num">1</td><td>[^<]+</td><td class="num">503</td><td>try later</td></tr>`, body, "a live job's failure history")
	require.False(t, actionForm.MatchString(body), "only dead letters have actions")

	r := do(t, srv, "viewer", "GET", "/ui/status?key=wait-1", nil)
	require.Equal(t, 200, r.code)
	var js queue.JobStatus
	require.NoError(t, json.Unmarshal([]byte(r.body), &js))
	require.Equal(t, queue.StatePending, js.State)
	require.Equal(t, 1, js.Attempts)
}
