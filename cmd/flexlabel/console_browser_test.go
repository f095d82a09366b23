package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const (
	browserOperatorToken = "op-BROWSER-SECRET-7c1d2e3f4a5b"
	browserViewerToken   = "vw-BROWSER-SECRET-9e8d7c6b5a49"
)

// TestBrowser_Console drives the console in a real headless Chromium as an
// operator and a viewer use it, one step after another on the same data:
//
//   - the operator logs in (the browser answers the Basic-auth challenge),
//     watches the live counts change on the landing page, finds a dead
//     letter by key with the search form, opens its label page, redrives
//     it through the confirm page and sees it complete;
//   - discards a reason's dead letters after the dry-run count, which must
//     equal what was there, and sees them gone; discards two ticked rows
//     of three;
//   - a viewer sees no action forms, and a POST forged with the viewer's
//     credentials and an operator's csrf field is refused with 403, as is
//     the operator's own POST without a valid csrf field; nothing changes;
//   - a page of another site, opened in the operator's browser (which has
//     the console's Basic credentials cached), auto-submits forms to the
//     console's action and to POST /v1/dead-letters/redrive?all=true: both
//     are refused and nothing changes.
//
// With FLEXLABEL_SCREENSHOTS=DIR it also writes a PNG of each page to DIR
// (make screenshots).
func TestBrowser_Console(t *testing.T) {
	b := newBrowser(t)
	c := newCLI(t)
	fake := c.startWorker(t)
	con := startConsole(t, c,
		"operator "+browserOperatorToken,
		"viewer "+browserViewerToken,
	)
	ctx := context.Background()

	// An auth dead letter: the worker's Flex Forward token is revoked
	// while the job runs, and restored, as after a token rotation, so a
	// redrive succeeds. Three courier rejections to discard as a reason,
	// one missing account that stays, and one label that completes.
	const authKey = "br-auth-1"
	rejKeys := []string{"br-rej-1", "br-rej-2", "br-rej-3"}
	const keepKey = "br-nf-1"
	selKeys := []string{"br-sel-1", "br-sel-2", "br-sel-3"} // invalid, enqueued while the landing page is open
	fake.Revoke(cliToken)
	enqueue(t, c, authKey, "")
	c.waitState(t, authKey, "dead")
	fake.Restore(cliToken)
	for _, k := range rejKeys {
		enqueue(t, c, k, flexapitest.RejectProductCode)
	}
	enqueue(t, c, keepKey, flexapitest.NoAccountProductCode)
	enqueue(t, c, "br-ok-1", "")
	for _, k := range rejKeys {
		c.waitState(t, k, "dead")
	}
	c.waitState(t, keepKey, "dead")
	c.waitState(t, "br-ok-1", "completed")
	d, err := con.q.DeadLetters().Get(ctx, authKey)
	require.NoError(t, err)
	require.Equal(t, queue.ReasonAuth, d.Reason)

	op := b.login(t, "operator", browserOperatorToken)

	t.Run("Landing", func(t *testing.T) {
		op.t = t
		op.open(con.url("/ui/"))
		require.Positive(t, op.answered.Load(), "the browser was asked for credentials and answered")
		op.requireCount(1, "#counts", "live counts on the landing page")
		require.Equal(t, "1", op.text(`#counts [data-count="completed"]`))
		require.Equal(t, "5", op.text(`#counts [data-count="dead"]`))
		require.Equal(t, "3", op.text(`#counts [data-reason="courier_rejected"]`))
		op.screenshot("landing")

		// The counts refresh while the page stays open: three invalid
		// requests die, and the page shows them without a reload (which
		// would forget the mark set here).
		require.True(t, eval[bool](op, `window.stillThisPage = true`))
		for _, k := range selKeys {
			enqueue(t, c, k, flexapitest.InvalidProductCode)
		}
		for _, k := range selKeys {
			c.waitState(t, k, "dead")
		}
		op.waitDOM(`document.querySelector('#counts [data-count="dead"]').textContent.trim() === "8" &&
			document.querySelector('#counts [data-reason="invalid"]').textContent.trim() === "3"`,
			"the live counts to show 8 dead, 3 of them invalid")
		require.True(t, eval[bool](op, `window.stillThisPage === true`), "the page was not reloaded")
	})

	t.Run("FindByKeyAndOpenLabelPage", func(t *testing.T) {
		op.t = t
		op.open(con.url("/ui/dead-letters"))
		// A key prefix finds the three rejections, and only them.
		op.typeInto(`form#search input[name="q"]`, "br-rej-")
		op.submit(`form#search input[name="q"]`)
		for _, k := range rejKeys {
			op.requireCount(1, labelLink(k), "search br-rej- lists %s as a link to its page", k)
		}
		op.requireCount(0, labelLink(authKey), "search br-rej- lists no other key")
		op.screenshot("dead-letters")

		// The exact key finds the one dead letter: the console opens its
		// label page at once, or lists it alone, linked to it.
		op.typeInto(`form#search input[name="q"]`, authKey)
		loaded := op.submit(`form#search input[name="q"]`)
		if !strings.HasPrefix(loaded, con.url("/ui/label")) {
			op.requireCount(1, labelLink(authKey))
			op.requireCount(0, labelLink(keepKey))
			loaded = op.click(labelLink(authKey))
		}
		require.True(t, strings.HasPrefix(loaded, con.url("/ui/label")), "the key links to its label page, got %s", loaded)
		body := op.bodyText()
		require.Contains(t, body, authKey)
		require.Contains(t, body, "dead")
		require.Contains(t, body, "auth")
		op.screenshot("label")
	})

	t.Run("TrackedLabelPage", func(t *testing.T) {
		op.t = t
		// Before its first poll the page says when it is due; after a
		// poll it shows the checkpoints, newest first, the API's text
		// as text (a hostile message runs nothing).
		ns := c.env["FLEXLABEL_QUEUE"]
		// Hours ahead, so that no tracking poller of the worker comes
		// due meanwhile.
		due := time.Now().Add(5 * time.Hour).Truncate(time.Second).UTC()
		queuetest.ScheduleTracking(t, con.q.Redis(), ns, "br-ok-1", due)
		op.open(con.url("/ui/label", "key", "br-ok-1"))
		require.Equal(t, due.Format("2006-01-02 15:04:05.000Z"), op.text("#tracking-due"))
		require.Contains(t, op.text("#tracking-state"), "Not polled yet")

		const hostile = `<img src=x onerror="window.pwned=1">`
		next := time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC)
		queuetest.SetTracking(t, con.q.Redis(), ns, "br-ok-1", queue.Tracking{
			Tag: flexapi.TagInTransit, Subtag: "InTransit_002", SubtagMessage: "Departed origin facility", TrackingNumber: "YT2412345678CN",
			Checkpoints: []flexapi.Checkpoint{
				{CheckpointTime: "2026-12-02T09:14:00+08:00", City: "Shenzhen", State: "GD", CountryRegion: "CN", Message: hostile, Tag: flexapi.TagInTransit},
				{CheckpointTime: "2026-12-01T18:00:00+08:00", City: "Shenzhen", CountryRegion: "CN", Message: "Shipment information received", Tag: flexapi.TagInfoReceived},
			},
			CheckedAt: time.Date(2026, 12, 2, 18, 45, 0, 0, time.UTC), NextCheckAt: &next,
		})
		op.open(con.url("/ui/label", "key", "br-ok-1"))
		require.Equal(t, "InTransit", op.text("#tracking-tag"))
		require.Equal(t, "Departed origin facility (InTransit_002)", op.text("#tracking-subtag"))
		require.Equal(t, "YT2412345678CN", op.text("#tracking-number"))
		require.Equal(t, "2026-12-02 18:45:00.000Z", op.text("#tracking-checked"))
		require.Equal(t, "2026-12-02 19:30:00.000Z", op.text("#tracking-next"))
		op.requireCount(2, "#checkpoints tbody tr", "one row per checkpoint")
		require.Equal(t, []string{"2026-12-02T09:14:00+08:00", "Shenzhen, GD, CN", "InTransit", hostile},
			eval[[]string](op, `Array.from(document.querySelectorAll('#checkpoints tbody tr:first-child td')).map(function (td) { return td.textContent; })`),
			"the newest checkpoint first, its message shown as text")
		require.Equal(t, "Shipment information received", op.text("#checkpoints tbody tr:nth-child(2) td:last-child"))
		op.requireCount(0, "#checkpoints img", "the message is no element")
		require.True(t, eval[bool](op, `window.pwned === undefined`), "the message ran nothing")
		op.screenshot("label-tracking")
	})

	t.Run("RedriveOneAndSeeItComplete", func(t *testing.T) {
		op.t = t
		op.open(con.url("/ui/label", "key", authKey))
		calls := fake.Ledger().CreateCalls
		op.click(`form[data-action="redrive"] [type="submit"]`)
		require.Equal(t, "1", op.text("#dry-run-count"), "the confirm page counts the one dead letter")
		_, err := con.q.DeadLetters().Get(ctx, authKey)
		require.NoError(t, err, "the confirm page changes nothing")
		op.screenshot("confirm")
		op.click("button#confirm")
		require.NotEmpty(t, op.text("#result"))
		op.screenshot("result")

		st := c.waitState(t, authKey, "completed")
		label, _ := st["label"].(map[string]any)
		id, _ := label["id"].(string)
		require.NotEmpty(t, id, "the redriven job made its label: %v", st)
		require.Greater(t, fake.Ledger().CreateCalls, calls, "the worker called the API again")
		// The label page shows it complete, with its label.
		op.waitText(con.url("/ui/label", "key", authKey), id)
		require.Contains(t, op.bodyText(), "completed")
	})

	t.Run("DiscardReasonAfterDryRunCount", func(t *testing.T) {
		op.t = t
		before, err := con.q.DeadLetters().Count(ctx, queue.ReasonCourierRejected)
		require.NoError(t, err)
		require.EqualValues(t, len(rejKeys), before)

		op.open(con.url("/ui/dead-letters"))
		op.choose(`form#search [name="reason"]`, string(queue.ReasonCourierRejected))
		op.submit(`form#search [name="reason"]`)
		for _, k := range rejKeys {
			op.requireCount(1, labelLink(k))
		}
		op.requireCount(0, labelLink(keepKey), "the filter shows one reason")
		op.requireCount(1, "a#export", "operators get the export link")

		op.click(`form[data-action="discard-matching"] [type="submit"]`)
		require.Equal(t, strconv.FormatInt(before, 10), op.text("#dry-run-count"), "the dry-run count is what was there")
		n, err := con.q.DeadLetters().Count(ctx, queue.ReasonCourierRejected)
		require.NoError(t, err)
		require.Equal(t, before, n, "the dry run discards nothing")

		op.click("button#confirm")
		require.NotEmpty(t, op.text("#result"))
		n, err = con.q.DeadLetters().Count(ctx, queue.ReasonCourierRejected)
		require.NoError(t, err)
		require.Zero(t, n, "the reason's dead letters are gone")
		_, err = con.q.DeadLetters().Get(ctx, keepKey)
		require.NoError(t, err, "another reason's dead letter stays")

		op.open(con.url("/ui/dead-letters", "reason", string(queue.ReasonCourierRejected)))
		for _, k := range rejKeys {
			op.requireCount(0, labelLink(k), "%s is no longer listed", k)
		}
	})

	t.Run("DiscardASelection", func(t *testing.T) {
		op.t = t
		op.open(con.url("/ui/dead-letters", "reason", string(queue.ReasonInvalid)))
		for _, k := range selKeys {
			op.requireCount(1, labelLink(k))
		}
		// Tick two of the three rows; the console's script sends the
		// ticked keys with the form.
		for _, k := range selKeys[:2] {
			op.step("ticking "+k, chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[type="checkbox"][name="key"][value=%q]`, k))))
		}
		op.click(`form[data-action="discard-selected"] [type="submit"]`)
		require.Equal(t, "2", op.text("#dry-run-count"), "the confirm page counts the two ticked")
		for _, k := range selKeys[:2] {
			op.requireCount(1, labelLink(k), "the confirm page names %s", k)
		}
		op.requireCount(0, labelLink(selKeys[2]), "the confirm page does not name the one not ticked")
		op.click("button#confirm")
		require.NotEmpty(t, op.text("#result"))
		for _, k := range selKeys[:2] {
			_, err := con.q.DeadLetters().Get(ctx, k)
			require.ErrorIs(t, err, queue.ErrNotFound, "%s was discarded", k)
		}
		_, err := con.q.DeadLetters().Get(ctx, selKeys[2])
		require.NoError(t, err, "the row not ticked stays")
	})

	t.Run("TokensPageForTheRotationDrill", func(t *testing.T) {
		op.t = t
		op.open(con.url("/ui/"))
		require.Equal(t, auth.TokenID(browserOperatorToken)+" · scope operator", op.text("#caller"))
		op.click(`a[href="/ui/tokens"]`)
		op.requireCount(1, `#tokens tr[data-token="`+auth.TokenID(browserOperatorToken)+`"]`, "the operator's own token is listed")
		op.requireCount(1, `#tokens tr[data-token="`+auth.TokenID(browserViewerToken)+`"]`, "the viewer's token is listed")
		require.NotContains(t, op.bodyText(), browserOperatorToken, "no secret on the page")
		require.NotContains(t, op.bodyText(), browserViewerToken, "no secret on the page")
		op.screenshot("tokens")
	})

	t.Run("ViewerSeesNoActionsAndCannotForgeOne", func(t *testing.T) {
		op.t = t
		// What a forger copies from an operator's pages, csrf fields
		// included: the redrive form of the dead letter that stays, and
		// the form of its confirm page, which acts.
		op.open(con.url("/ui/label", "key", keepKey))
		ask := op.form(`form[data-action="redrive"]`)
		require.NotEmpty(t, ask.fields["csrf"], "the operator's form carries a csrf field")
		op.click(`form[data-action="redrive"] [type="submit"]`)
		confirm := op.form("button#confirm")
		require.NotEmpty(t, confirm.fields["csrf"], "the confirm page's form carries a csrf field")
		before := con.deadSnapshot(t)

		vw := b.login(t, "viewer", browserViewerToken)
		vw.t = t
		// Who is signed in, as the rotation drill checks (docs/OPERATIONS.md).
		vw.open(con.url("/ui/"))
		require.Equal(t, auth.TokenID(browserViewerToken)+" · scope viewer", vw.text("#caller"))
		vw.requireCount(0, `a[href="/ui/tokens"]`, "a viewer gets no tokens page")
		for _, u := range []string{
			con.url("/ui/"),
			con.url("/ui/dead-letters"),
			con.url("/ui/label", "key", keepKey),
		} {
			vw.open(u)
			vw.requireCount(0, "form[data-action]", "a viewer sees no action form on %s", u)
			vw.requireCount(0, "a#export", "a viewer sees no export link on %s", u)
			require.Contains(t, vw.bodyText(), "dead", "a viewer sees the page on %s", u)
			if strings.HasSuffix(u, "/ui/dead-letters") {
				vw.requireCount(1, labelLink(keepKey), "a viewer sees the dead letters")
				vw.screenshot("viewer")
			}
		}
		require.Contains(t, vw.bodyText(), keepKey, "a viewer sees the dead letter's page")

		// POSTs from the viewer's page, with the viewer's credentials.
		for _, f := range []copiedForm{ask, confirm} {
			require.Equal(t, http.StatusForbidden, vw.post(f), "a viewer's POST to %s", f.action)
		}
		// POSTs from the operator's own page without the csrf field, or
		// with a wrong one.
		for _, f := range []copiedForm{ask, confirm} {
			require.Equal(t, http.StatusForbidden, op.post(f.without("csrf")), "a POST to %s without the csrf field", f.action)
			require.Equal(t, http.StatusForbidden, op.post(f.with("csrf", "forged-"+f.fields["csrf"])), "a POST to %s with a wrong csrf field", f.action)
		}

		require.Equal(t, before, con.deadSnapshot(t), "the refused POSTs changed nothing")

		// The same POST from the operator's page, with the csrf field the
		// page gave, acts: what refused the others was who sent them.
		calls := fake.Ledger().CreateCalls
		require.Equal(t, http.StatusOK, op.post(confirm), "the operator's own POST to %s", confirm.action)
		require.Eventually(t, func() bool { return fake.Ledger().CreateCalls > calls }, browserStep, 20*time.Millisecond,
			"the operator's POST redrove %s", keepKey)
		c.waitState(t, keepKey, "dead")
	})

	t.Run("SwitchAccountAndRedriveItsDeadLetter", func(t *testing.T) {
		op.t = t
		// Another account's dead letter under the key of one of the
		// default account's, written as its worker would; the fleet runs
		// both accounts (as workers with an accounts file record it). No
		// worker of this test runs brand-a, so the redriven job stays held.
		qa, err := con.q.ForAccount("brand-a")
		require.NoError(t, err)
		res, err := qa.EnqueueLine(ctx, queuetest.RequestJSON(keepKey, ""), queue.Interactive)
		require.NoError(t, err)
		require.Equal(t, queue.Enqueued, res.Outcome)
		j := queuetest.Job(t, qa, keepKey, "", queue.Interactive)
		require.NoError(t, queuetest.Store(t, qa).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonAuth, HTTPStatus: 401, Message: "brand-a's token revoked", Attempts: 1}))
		require.NoError(t, queuetest.Store(t, con.q).SetAccountIntervals(ctx, map[string]time.Duration{queue.DefaultAccount: time.Second, "brand-a": time.Second}))

		op.open(con.url("/ui/"))
		require.Equal(t, queue.DefaultAccount, op.text("#account"))
		// Choosing an account switches (console.js submits the selector
		// on change, which setting the value fires).
		op.must("#account-switch select")
		op.load("switching to brand-a", chromedp.SetValue(chromedp.CSS("#account-switch select"), "brand-a"))
		require.Equal(t, "brand-a", op.text("#account"), "the header names the account switched to")
		require.Equal(t, "1", op.text(`#counts [data-count="dead"]`), "the account's own counts")
		op.click(`header a[href="/ui/dead-letters?account=brand-a"]`)
		link := `a[href$="/ui/label?account=brand-a&key=` + keepKey + `"]`
		op.requireCount(1, link, "the account's dead letter, linked in the account")
		op.click(link)
		require.Contains(t, op.bodyText(), "brand-a's token revoked")
		op.click(`form[data-action="redrive"] [type="submit"]`)
		require.Equal(t, "1", op.text("#dry-run-count"))
		op.click("button#confirm")
		require.Equal(t, "1", eval[string](op, `document.getElementById("result").dataset.done`), "one redriven")
		require.Equal(t, "brand-a", op.text("#account"), "the result page is the account's")

		_, err = qa.DeadLetters().Get(ctx, keepKey)
		require.ErrorIs(t, err, queue.ErrNotFound, "brand-a's dead letter was redriven")
		d, err := con.q.DeadLetters().Get(ctx, keepKey)
		require.NoError(t, err, "the default account's dead letter of the same key stays")
		require.Equal(t, queue.ReasonNotFound, d.Reason)
	})

	t.Run("CrossSitePageCannotAct", func(t *testing.T) {
		op.t = t
		// The form that acts, from the confirm page of a redrive, with
		// its csrf field: as if a hostile page had got hold of it.
		op.open(con.url("/ui/label", "key", keepKey))
		op.click(`form[data-action="redrive"] [type="submit"]`)
		stolen := op.form("button#confirm")
		before := con.deadSnapshot(t)
		calls := fake.Ledger().CreateCalls

		// Another site: the console is http://127.0.0.1:P1, the hostile
		// page http://localhost:P2, a different host and so another site.
		evil := hostilePages(t, stolen, con.url("/v1/dead-letters/redrive", "all", "true"))
		// The person types no password for these pages: what reaches the
		// console is what the browser cached.
		op.noLogin.Store(true)
		defer op.noLogin.Store(false)
		for _, path := range []string{"/console-action", "/api-redrive-all"} {
			status, target := op.autoSubmitted(evil+path, con.base)
			require.EqualValues(t, http.StatusForbidden, status, "%s: the cross-site POST to %s", path, target)
		}
		require.Equal(t, before, con.deadSnapshot(t), "the cross-site POSTs changed nothing")
		require.Equal(t, calls, fake.Ledger().CreateCalls, "nothing was redriven to the API")
	})

}

// enqueue enqueues one label request for key (productCode "" for one that
// succeeds) with the CLI.
func enqueue(t *testing.T, c *cli, key, productCode string) {
	t.Helper()
	r := c.run(t, string(queuetest.RequestJSON(key, productCode))+"\n", "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
}

// labelLink selects a link to key's label page.
func labelLink(key string) string {
	return fmt.Sprintf(`a[href$="/ui/label?key=%s"]`, key)
}

// type replaces what the field sel holds with s, typed key by key.
func (p *person) typeInto(sel, s string) {
	p.t.Helper()
	p.must(sel)
	p.step("typing into "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), s))
}

// choose sets the field sel (a select) to value.
func (p *person) choose(sel, value string) {
	p.t.Helper()
	p.must(sel)
	p.step("choosing "+value+" in "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// submit submits the form of the element sel, as pressing Enter in it
// does, waits for the page that loads, and returns its URL.
func (p *person) submit(sel string) string {
	p.t.Helper()
	p.must(sel)
	return p.load("submitting the form of "+sel, chromedp.Submit(chromedp.CSS(sel)))
}

// copiedForm is a form as a forger copies it from a page: where it posts,
// and its fields.
type copiedForm struct {
	action string
	fields map[string]string
}

func (f copiedForm) without(name string) copiedForm {
	g := copiedForm{action: f.action, fields: map[string]string{}}
	for k, v := range f.fields {
		if k != name {
			g.fields[k] = v
		}
	}
	return g
}

func (f copiedForm) with(name, value string) copiedForm {
	g := f.without(name)
	g.fields[name] = value
	return g
}

// form copies the form of the first element matching sel on the page (the
// element itself, or the form a button of it submits, with the button's
// name and value).
func (p *person) form(sel string) copiedForm {
	p.t.Helper()
	p.must(sel)
	got := eval[struct {
		Action string            `json:"action"`
		Fields map[string]string `json:"fields"`
	}](p, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		const f = el.closest("form");
		const fields = {};
		for (const [k, v] of new FormData(f)) fields[k] = String(v);
		if (el !== f && el.name) fields[el.name] = el.value;
		// f.action would be the form's field named action, if it has one.
		return {action: new URL(f.getAttribute("action") || "", location.href).href, fields};
	})()`, strconv.Quote(sel)))
	require.NotEmpty(p.t, got.Action)
	return copiedForm{action: got.Action, fields: got.Fields}
}

// post sends f as a form POST with fetch from the person's page (so with
// the credentials their browser cached), and returns the status of the
// page it ends on (redirects followed).
func (p *person) post(f copiedForm) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`fetch(%s, {method: "POST", body: new URLSearchParams(%s)}).then(r => r.status)`,
		strconv.Quote(f.action), jsObject(f.fields)))
}

func jsObject(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, strconv.Quote(k)+": "+strconv.Quote(v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// hostilePages serves, on another site (http://localhost:PORT), pages that
// auto-submit a form POST on load: /console-action to the stolen console
// form (its csrf field included), /api-redrive-all to apiURL with a body
// of type text/plain, which a form may send anywhere without a preflight.
func hostilePages(t *testing.T, stolen copiedForm, apiURL string) string {
	t.Helper()
	autoSubmit := func(action, enctype string, fields map[string]string) string {
		var inputs strings.Builder
		for k, v := range fields {
			fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, htmlEscape(k), htmlEscape(v))
		}
		return fmt.Sprintf(`<!doctype html><html><body><h1>You won a prize</h1>
<form id="f" method="POST" action="%s" enctype="%s">%s</form>
<script>document.getElementById("f").submit()</script></body></html>`, htmlEscape(action), enctype, inputs.String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console-action", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, autoSubmit(stolen.action, "application/x-www-form-urlencoded", stolen.fields))
	})
	mux.HandleFunc("GET /api-redrive-all", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, autoSubmit(apiURL, "text/plain", map[string]string{`{"all":true,"x":"`: `"}`}))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return "http://localhost:" + port
}

func htmlEscape(s string) string {
	return strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;", `'`, "&#39;").Replace(s)
}

// autoSubmitted opens a page that submits a form on load, and returns the
// status and URL of the document the form loads from target (a URL prefix).
func (p *person) autoSubmitted(pageURL, target string) (int64, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	responses := chromedp.Events(ctx, network.ResponseReceived)
	// The Network domain reports responses; the Fetch domain the harness
	// enabled does not.
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(p.t, err)
	// Not chromedp.Navigate: the page navigates away before it waits.
	_, err = chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: pageURL})
	require.NoError(p.t, err, "%s: opening %s", p.name, pageURL)
	for ev, err := range responses {
		if err != nil {
			p.t.Fatalf("%s: %s never submitted its form to %s: %v (at %s)", p.name, pageURL, target, err, p.location())
		}
		if ev.Type == network.ResourceTypeDocument && strings.HasPrefix(ev.Response.URL, target) {
			return ev.Response.Status, ev.Response.URL
		}
	}
	panic("unreachable")
}
