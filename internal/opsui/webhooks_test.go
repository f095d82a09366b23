package opsui_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// refusal is what the refusing receiver answers: longer than a table cell
// shows, with markup that must arrive escaped.
var refusal = strings.Repeat("refused <b>for good</b> ", 40)

// hookEnv is the console with webhooks on: real endpoints and a real
// Deliverer on the test Redis, delivering the queue's own events to a real
// receiver with two endpoints — ok answers 204, refused 422 (a failure,
// without retry; /gone answers 410, which disables an endpoint) — and the
// secrets Create showed, which no page may show.
type hookEnv struct {
	q           *queue.Queue
	eps         *hooks.Endpoints
	dlog        *hooks.Log
	srv         *httptest.Server
	ok, refused hooks.Endpoint
	secrets     []string
	rcvURL      string
}

const testSigningKey = "opsui-test-webhook-signing-key-0123456789"

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	ctx := context.Background()
	q := newQueue(t)
	ns := q.Name(queue.Interactive) // the queue's namespace
	keys, err := hooks.NewKeyring(testSigningKey)
	require.NoError(t, err)
	eps, err := hooks.NewEndpoints(q.Redis(), ns, keys, hooks.WithAllowPrivate(true))
	require.NoError(t, err)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/refuse":
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(refusal))
			return
		case "/gone":
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	e := &hookEnv{q: q, eps: eps, rcvURL: rcv.URL}
	e.ok, err = eps.Create(ctx, hooks.Spec{URL: rcv.URL + "/ok"})
	require.NoError(t, err)
	e.refused, err = eps.Create(ctx, hooks.Spec{URL: rcv.URL + "/refuse", Events: []webhook.EventType{webhook.LabelDead}, KeyPrefix: "wh-"})
	require.NoError(t, err)
	e.secrets = []string{e.ok.Secret, e.refused.Secret}
	for _, s := range e.secrets {
		require.NotEmpty(t, s)
	}
	d, err := hooks.NewDeliverer(hooks.Config{Redis: q.Redis(), Namespace: ns, Endpoints: eps, Events: q, AllowPrivate: true,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond,
		TaskCheckInterval: 10 * time.Millisecond, DelayedTaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, d.Start())
	t.Cleanup(d.Shutdown)
	e.dlog = d.Log()
	e.srv = serve(t, q, opsui.WithWebhooks(eps, e.dlog))
	return e
}

// deliveries polls until endpoint ep's log has n deliveries, each
// satisfying done, and returns them.
func (e *hookEnv) deliveries(t *testing.T, ep string, n int, done func(hooks.Delivery) bool) []hooks.Delivery {
	t.Helper()
	var last []hooks.Delivery
	require.Eventually(t, func() bool {
		ds, err := e.dlog.ForEndpoint(context.Background(), ep, time.Time{}, 0)
		if err != nil || len(ds) != n {
			return false
		}
		last = ds
		for _, d := range ds {
			if !done(d) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "endpoint %s: want %d deliveries done (last: %+v)", ep, n, last)
	return last
}

func result(r string) func(hooks.Delivery) bool {
	return func(d hooks.Delivery) bool { return d.Result == r }
}

// delivery reads one delivery of the log.
func (e *hookEnv) delivery(t *testing.T, ev, ep string) hooks.Delivery {
	t.Helper()
	ds, err := e.dlog.ForEvent(context.Background(), ev)
	require.NoError(t, err)
	for _, d := range ds {
		if d.Endpoint == ep {
			return d
		}
	}
	t.Fatalf("no delivery of %s to %s in %+v", ev, ep, ds)
	return hooks.Delivery{}
}

func (e *hookEnv) endpoint(t *testing.T, id string) hooks.Endpoint {
	t.Helper()
	ep, err := e.eps.Get(context.Background(), id)
	require.NoError(t, err)
	return ep
}

// noSecret fails if body shows a signing secret or the signing key.
func (e *hookEnv) noSecret(t *testing.T, body string) {
	t.Helper()
	for _, s := range e.secrets {
		lacks(t, body, s, "an endpoint's secret")
	}
	lacks(t, body, testSigningKey, "the signing key")
	lacks(t, body, webhook.SecretPrefix, "anything like a secret")
}

// rowOf is the table row of body that has attribute attr="val".
func rowOf(t *testing.T, body, attr, val string) string {
	t.Helper()
	_, after, ok := strings.Cut(body, `<tr `+attr+`="`+val+`">`)
	require.True(t, ok, "a row %s=%s in:\n%s", attr, val, mainOf(body))
	r, _, _ := strings.Cut(after, "</tr>")
	return r
}

func TestUI_Webhooks_PagesShowEndpointsDeliveriesAndEvents(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t)
	ctx := context.Background()
	kill(t, e.q, "wh-<1>", queue.Interactive, queue.ReasonAuth, "Unauthorized")
	kill(t, e.q, "other-1", queue.Interactive, queue.ReasonAuth, "Unauthorized")
	okDs := e.deliveries(t, e.ok.ID, 2, result(hooks.ResultDelivered))
	refusedDs := e.deliveries(t, e.refused.ID, 1, result(hooks.ResultFailed)) // its prefix takes wh- only
	ev := refusedDs[0].Event
	var bodies []string

	// The endpoints.
	code, body := get(t, e.srv, "/ui/webhooks")
	require.Equal(t, 200, code)
	bodies = append(bodies, body)
	row := rowOf(t, body, "data-endpoint", e.refused.ID)
	require.Contains(t, row, `href="/ui/webhooks/endpoint?id=`+e.refused.ID+`"`)
	require.Contains(t, row, "<code>"+e.refused.URL+"</code>")
	require.Contains(t, row, "<code>label.dead</code>")
	require.Contains(t, row, "<code>wh-</code>")
	require.Contains(t, row, `<span class="state state-enabled">enabled</span>`)
	row = rowOf(t, body, "data-endpoint", e.ok.ID)
	require.Contains(t, row, "all events")
	require.Contains(t, row, "any key")
	contains(t, body, `<a href="/ui/webhooks">Webhooks</a>`, "the header links the page")

	// Disabled automatically (a receiver answering 410 Gone): the reason
	// shows, on the list and the endpoint's page.
	gone, err := e.eps.Create(ctx, hooks.Spec{URL: e.rcvURL + "/gone"})
	require.NoError(t, err)
	e.secrets = append(e.secrets, gone.Secret)
	kill(t, e.q, "other-2", queue.Interactive, queue.ReasonAuth, "Unauthorized")
	e.deliveries(t, gone.ID, 1, result(hooks.ResultFailed))
	require.Eventually(t, func() bool { return !e.endpoint(t, gone.ID).Enabled }, 30*time.Second, 10*time.Millisecond)
	reason := e.endpoint(t, gone.ID).DisabledReason
	require.Contains(t, reason, "410")
	_, body = get(t, e.srv, "/ui/webhooks")
	bodies = append(bodies, body)
	row = rowOf(t, body, "data-endpoint", gone.ID)
	require.Contains(t, row, `<span class="state state-disabled">disabled</span> <span class="disabled-reason">`+html.EscapeString(reason)+`</span>`)
	code, body = get(t, e.srv, "/ui/webhooks/endpoint?id="+gone.ID)
	require.Equal(t, 200, code)
	bodies = append(bodies, body)
	contains(t, body, `disabled: <span id="disabled-reason">`+html.EscapeString(reason)+`</span>`)
	contains(t, body, `data-action="webhook-enable"`, "a disabled endpoint offers enabling")
	lacks(t, body, `data-action="webhook-disable"`)
	// An operator's reason, with markup, arrives escaped.
	require.NoError(t, e.eps.Disable(ctx, e.refused.ID, "moving <script>"))

	// One endpoint's deliveries.
	code, body = get(t, e.srv, "/ui/webhooks/endpoint?id="+e.refused.ID)
	require.Equal(t, 200, code)
	bodies = append(bodies, body)
	contains(t, body, `disabled: <span id="disabled-reason">moving &lt;script&gt;</span>`)
	row = rowOf(t, body, "data-event", ev)
	require.Contains(t, row, `href="/ui/webhooks/event?id=`+ev+`"`)
	require.Contains(t, row, "label.dead")
	require.Contains(t, row, `<a href="/ui/label?key=wh-%3C1%3E"><code>wh-&lt;1&gt;</code></a>`, "the key links its label page")
	require.Contains(t, row, `<span class="state state-failed">failed</span>`)
	require.Contains(t, row, `<td class="num">1</td>`, "one attempt: a 422 is not retried")
	require.Contains(t, row, `<td class="num">422</td>`)
	require.Regexp(t, `<td class="num">\d+ ms</td>`, row, "the latency")
	require.Contains(t, row, "refused &lt;b&gt;for good&lt;/b&gt;", "the response, escaped")
	require.Less(t, strings.Count(row, "for good"), strings.Count(refusal, "for good"), "cut for the table")
	require.Contains(t, row, "… (truncated)")
	require.Contains(t, row, `data-action="webhook-redeliver-event"`)
	require.Contains(t, row, `<input type="hidden" name="endpoint" value="`+e.refused.ID+`">`)

	code, body = get(t, e.srv, "/ui/webhooks/endpoint?id="+e.ok.ID)
	require.Equal(t, 200, code)
	bodies = append(bodies, body)
	for _, d := range okDs {
		require.Contains(t, rowOf(t, body, "data-event", d.Event), `<span class="state state-delivered">delivered</span>`)
	}
	contains(t, body, `<code>other-1</code>`)
	contains(t, body, "The log keeps a delivery 7 days after its last write, an event 4 days.")
	contains(t, body, `data-action="webhook-disable"`)

	// One event's deliveries, to each endpoint.
	code, body = get(t, e.srv, "/ui/webhooks/event?id="+ev)
	require.Equal(t, 200, code)
	bodies = append(bodies, body)
	contains(t, body, `<a id="event-key" href="/ui/label?key=wh-%3C1%3E"><code>wh-&lt;1&gt;</code></a>`)
	require.Contains(t, rowOf(t, body, "data-endpoint", e.ok.ID), `<span class="state state-delivered">delivered</span>`)
	refusedRow := rowOf(t, body, "data-endpoint", e.refused.ID)
	require.Contains(t, refusedRow, `<span class="state state-failed">failed</span>`)
	require.Contains(t, refusedRow, "<code>"+e.refused.URL+"</code>")
	contains(t, body, `<table class="attempts" data-endpoint="`+e.refused.ID+`">`)
	contains(t, body, `&#34;idempotencyKey&#34;: &#34;wh-\u003c1\u003e&#34;`, "the envelope")
	contains(t, body, `data-action="webhook-redeliver-event"`)

	for _, b := range bodies {
		e.noSecret(t, b)
	}

	// Operators only; and bad or unknown ids say which parameter.
	for _, path := range []string{"/ui/webhooks", "/ui/webhooks/endpoint?id=" + e.ok.ID, "/ui/webhooks/event?id=" + ev} {
		require.Equal(t, 403, do(t, e.srv, "viewer", "GET", path, nil).code, path)
		require.Equal(t, 403, do(t, e.srv, "producer", "GET", path, nil).code, path)
	}
	_, viewerPage := getAs(t, e.srv, "viewer", "/ui/")
	lacks(t, viewerPage, "/ui/webhooks")
	for _, c := range []struct {
		path string
		code int
		msg  string
	}{
		{"/ui/webhooks/endpoint", 400, "id: required"},
		{"/ui/webhooks/endpoint?id=we_nope", 404, `id: no webhook endpoint &#34;we_nope&#34;`},
		{"/ui/webhooks/event", 400, "id: required"},
		{"/ui/webhooks/event?id=evt_nope", 404, `id: no webhook event &#34;evt_nope&#34;`},
	} {
		r := do(t, e.srv, "operator", "GET", c.path, nil)
		require.Equal(t, c.code, r.code, c.path)
		contains(t, r.body, c.msg, c.path)
	}
}

func TestUI_Webhooks_Off_SayWhichVariable(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	srv := serve(t, q, opsui.WithWebhooks(nil, nil))
	_, dl := get(t, srv, "/ui/dead-letters")
	code, body := get(t, srv, "/ui/webhooks")
	require.Equal(t, 200, code)
	contains(t, body, `<p class="note" id="webhooks-off">Webhooks are off: this serve process has no FLEXLABEL_WEBHOOK_SIGNING_KEY.`)
	require.Equal(t, 403, do(t, srv, "viewer", "GET", "/ui/webhooks", nil).code)
	for _, path := range []string{"/ui/webhooks/endpoint?id=we_x", "/ui/webhooks/event?id=evt_x"} {
		r := do(t, srv, "operator", "GET", path, nil)
		require.Equal(t, 409, r.code, path)
		contains(t, r.body, "FLEXLABEL_WEBHOOK_SIGNING_KEY", path)
	}
	r := do(t, srv, "operator", "POST", "/ui/confirm", url.Values{"action": {"webhook-enable"}, "endpoint": {"we_x"}, "csrf": {csrfOf(t, dl)}})
	require.Equal(t, 409, r.code)
	contains(t, r.body, "FLEXLABEL_WEBHOOK_SIGNING_KEY")
}

// hookConfirm posts a webhook action's fields to /ui/confirm and returns
// the dry-run count, the confirm form's fields (nil without a confirm
// button) and the page.
func hookConfirm(t *testing.T, srv *httptest.Server, form url.Values) (string, url.Values, string) {
	t.Helper()
	r := do(t, srv, "operator", "POST", "/ui/confirm", form)
	require.Equal(t, 200, r.code, mainOf(r.body))
	m := dryRun.FindStringSubmatch(r.body)
	require.NotNil(t, m, mainOf(r.body))
	f := actForm.FindStringSubmatch(r.body)
	if f == nil {
		return m[1], nil, r.body
	}
	require.Equal(t, form.Get("action"), f[1], "the confirm form carries the action's data-action")
	contains(t, f[2], `<button id="confirm"`)
	v := url.Values{}
	for _, h := range hidden.FindAllStringSubmatch(f[2], -1) {
		v.Add(h[1], html.UnescapeString(h[2]))
	}
	return m[1], v, r.body
}

var resultDone = regexp.MustCompile(`<span class="big">(\d+)</span> of (\d+) ([^<.,]+)`)

func TestUI_Webhooks_Actions_ConfirmedByOperatorsOnly(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t)
	kill(t, e.q, "wh-1", queue.Interactive, queue.ReasonAuth, "m")
	kill(t, e.q, "wh-2", queue.Interactive, queue.ReasonAuth, "m")
	e.deliveries(t, e.ok.ID, 2, result(hooks.ResultDelivered))
	refusedDs := e.deliveries(t, e.refused.ID, 2, result(hooks.ResultFailed))
	ev := refusedDs[0].Event

	_, page := get(t, e.srv, "/ui/webhooks/endpoint?id="+e.refused.ID)
	token := csrfOf(t, page)
	_, otherPage := getAs(t, e.srv, "other-op", "/ui/webhooks/endpoint?id="+e.refused.ID)
	otherToken := csrfOf(t, otherPage)

	// Redeliver every failed delivery since a time: the dry run counts
	// them and acts on nothing.
	failed := url.Values{"action": {"webhook-redeliver-failed"}, "endpoint": {e.refused.ID}, "since": {"2000-01-01T00:00"}, "csrf": {token}}
	n, v, body := hookConfirm(t, e.srv, failed)
	require.Equal(t, "2", n)
	contains(t, body, "the failed and skipped deliveries to endpoint "+e.refused.ID+" since 2000-01-01T00:00:00Z")
	for _, d := range refusedDs {
		got := e.delivery(t, d.Event, e.refused.ID)
		require.Equal(t, hooks.ResultFailed, got.Result, "the dry run redelivers nothing")
		require.Equal(t, 1, got.Attempts)
	}

	// Refused without scope operator or the caller's own CSRF token.
	for _, c := range []struct{ as, path, csrf string }{
		{"viewer", "/ui/confirm", token},
		{"viewer", "/ui/act", token},
		{"operator", "/ui/act", ""},
		{"operator", "/ui/act", "forged"},
		{"operator", "/ui/act", otherToken},
		{"other-op", "/ui/act", token},
	} {
		f := url.Values{}
		for k, s := range v {
			f[k] = s
		}
		f.Set("csrf", c.csrf)
		require.Equal(t, 403, do(t, e.srv, c.as, "POST", c.path, f).code, "%+v", c)
	}
	// Another operator cannot spend this confirmation, nor can another action.
	f := url.Values{}
	for k, s := range v {
		f[k] = s
	}
	f.Set("csrf", otherToken)
	require.Equal(t, 409, do(t, e.srv, "other-op", "POST", "/ui/act", f).code)
	f.Set("csrf", token)
	f.Set("since", "2026-01-01T00:00")
	require.Equal(t, 409, do(t, e.srv, "operator", "POST", "/ui/act", f).code, "the confirmation is of its since")
	for _, d := range refusedDs {
		require.Equal(t, hooks.ResultFailed, e.delivery(t, d.Event, e.refused.ID).Result, "nothing refused acted")
	}

	done, failedN, res := actStep(t, e.srv, v)
	require.Equal(t, "2", done)
	require.Equal(t, "0", failedN)
	require.Equal(t, []string{"2", "2", "queued for delivery again"}, resultDone.FindStringSubmatch(res)[1:])
	contains(t, res, `href="/ui/webhooks/endpoint?id=`+e.refused.ID+`"`, "back to the endpoint")
	e.deliveries(t, e.refused.ID, 2, func(d hooks.Delivery) bool { return d.Result == hooks.ResultFailed && d.Attempts == 2 })
	require.Equal(t, 409, do(t, e.srv, "operator", "POST", "/ui/act", v).code, "a spent confirmation does nothing")

	// Redeliver one event to one endpoint.
	n, v, _ = hookConfirm(t, e.srv, url.Values{"action": {"webhook-redeliver-event"}, "event": {ev}, "endpoint": {e.ok.ID}, "csrf": {token}})
	require.Equal(t, "1", n)
	require.Equal(t, 1, e.delivery(t, ev, e.ok.ID).Attempts)
	done, _, _ = actStep(t, e.srv, v)
	require.Equal(t, "1", done)
	require.Eventually(t, func() bool {
		ds, err := e.dlog.ForEvent(context.Background(), ev)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Endpoint == e.ok.ID {
				return d.Result == hooks.ResultDelivered && d.Attempts == 2
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "the event arrived again")
	require.Equal(t, 2, e.delivery(t, ev, e.refused.ID).Attempts, "the other endpoint's delivery is untouched (its 2 attempts are redeliver-failed's)")

	// Disable, with a reason, then enable: each after its confirmation.
	disable := url.Values{"action": {"webhook-disable"}, "endpoint": {e.ok.ID}, "reason": {"receiver moving"}, "csrf": {token}}
	n, v, _ = hookConfirm(t, e.srv, disable)
	require.Equal(t, "1", n)
	require.True(t, e.endpoint(t, e.ok.ID).Enabled, "the dry run disables nothing")
	done, _, _ = actStep(t, e.srv, v)
	require.Equal(t, "1", done)
	got := e.endpoint(t, e.ok.ID)
	require.False(t, got.Enabled)
	require.Equal(t, "receiver moving", got.DisabledReason)
	n, v, body = hookConfirm(t, e.srv, disable)
	require.Equal(t, "0", n, "disabled already")
	require.Nil(t, v)
	contains(t, body, "Nothing to disable: the endpoint is disabled already.")

	// A redelivery to a disabled endpoint warns first.
	_, _, body = hookConfirm(t, e.srv, url.Values{"action": {"webhook-redeliver-event"}, "event": {ev}, "csrf": {token}})
	contains(t, body, "Endpoint "+e.ok.ID+" is disabled (receiver moving): its redelivery will be recorded as skipped again. Enable it first.")

	n, v, _ = hookConfirm(t, e.srv, url.Values{"action": {"webhook-enable"}, "endpoint": {e.ok.ID}, "csrf": {token}})
	require.Equal(t, "1", n)
	require.False(t, e.endpoint(t, e.ok.ID).Enabled)
	done, _, res = actStep(t, e.srv, v)
	require.Equal(t, "1", done)
	contains(t, res, "of 1 enabled")
	got = e.endpoint(t, e.ok.ID)
	require.True(t, got.Enabled)
	require.Empty(t, got.DisabledReason)

	// Bad input names the field.
	for _, c := range []struct {
		form url.Values
		code int
		msg  string
	}{
		{url.Values{"action": {"webhook-redeliver-failed"}, "endpoint": {e.refused.ID}}, 400, "since: required"},
		{url.Values{"action": {"webhook-redeliver-failed"}, "endpoint": {e.refused.ID}, "since": {"yesterday"}}, 400, "since: want a time like"},
		{url.Values{"action": {"webhook-redeliver-failed"}, "since": {"2026-01-01"}}, 400, "endpoint: required"},
		{url.Values{"action": {"webhook-redeliver-event"}}, 400, "event: required"},
		{url.Values{"action": {"webhook-enable"}, "endpoint": {"we_nope"}}, 404, `endpoint: no webhook endpoint &#34;we_nope&#34;`},
		{url.Values{"action": {"webhook-explode"}}, 400, "action: want one of"},
	} {
		c.form.Set("csrf", token)
		r := do(t, e.srv, "operator", "POST", "/ui/confirm", c.form)
		require.Equal(t, c.code, r.code, "%v", c.form)
		contains(t, r.body, c.msg, c.form)
	}
	n, v, body = hookConfirm(t, e.srv, url.Values{"action": {"webhook-redeliver-event"}, "event": {"evt_nope"}, "csrf": {token}})
	require.Equal(t, "0", n)
	require.Nil(t, v)
	contains(t, body, "Nothing to redeliver: the delivery log has no delivery of this event")
}

// Another account's event shows its account beside the key, which links
// no label page (the console's are the default account's); an endpoint's
// page shows its accounts.
func TestUI_Webhooks_AnotherAccountsEvent_NamesTheAccount(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t)
	ctx := context.Background()
	branded, err := e.eps.Create(ctx, hooks.Spec{URL: e.rcvURL + "/ok", Accounts: []string{"brand-a"}})
	require.NoError(t, err)
	e.secrets = append(e.secrets, branded.Secret)
	qa, err := e.q.ForAccount("brand-a")
	require.NoError(t, err)
	res, err := qa.EnqueueLine(ctx, queuetest.RequestJSON("a-1", ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	j := &store.Job{Key: "a-1", Queue: qa.Name(queue.Interactive), Payload: queuetest.RequestJSON("a-1", "")}
	require.NoError(t, queuetest.Store(t, qa).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "revoked", Attempts: 1}))
	ev := e.deliveries(t, branded.ID, 1, result(hooks.ResultDelivered))[0].Event

	code, body := get(t, e.srv, "/ui/webhooks/event?id="+ev)
	require.Equal(t, 200, code)
	contains(t, body, `<code id="event-key">a-1</code> <span class="muted">(account <code>brand-a</code>)</span>`)
	lacks(t, body, `/ui/label?key=a-1`)
	code, body = get(t, e.srv, "/ui/webhooks/endpoint?id="+branded.ID)
	require.Equal(t, 200, code)
	contains(t, body, `<tr><th>Accounts</th><td><code>brand-a</code></td></tr>`)
	require.Contains(t, rowOf(t, body, "data-event", ev), `<code>a-1</code> <span class="muted">(account <code>brand-a</code>)</span>`)
	_, body = get(t, e.srv, "/ui/webhooks/endpoint?id="+e.ok.ID)
	contains(t, body, `<tr><th>Accounts</th><td><span class="muted">every account</span></td></tr>`)
}
