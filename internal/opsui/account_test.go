package opsui_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// killIn dead-letters key in account a of q's namespace, as a worker
// running the account does.
func killIn(t *testing.T, q *queue.Queue, a, key string, reason queue.Reason, msg string) {
	t.Helper()
	qa, err := q.ForAccount(a)
	require.NoError(t, err)
	if a == queue.DefaultAccount {
		kill(t, q, key, queue.Interactive, reason, msg)
		return
	}
	ctx := context.Background()
	res, err := qa.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome, key)
	j := queuetest.Job(t, qa, key, "", queue.Interactive)
	n := queuetest.Attempt(t, qa, j)
	require.NoError(t, queuetest.Store(t, qa).DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 422, Message: msg, Attempts: n}))
}

// runAccounts makes the fleet's workers run accounts (as they record it).
func runAccounts(t *testing.T, q *queue.Queue, accounts ...string) {
	t.Helper()
	m := map[string]time.Duration{}
	for _, a := range accounts {
		m[a] = time.Second
	}
	require.NoError(t, queuetest.Store(t, q).SetAccountIntervals(context.Background(), m))
}

func accountState(t *testing.T, q *queue.Queue, a, key string) queue.State {
	t.Helper()
	qa, err := q.ForAccount(a)
	require.NoError(t, err)
	return state(t, qa, key)
}

// Every page of ?account=brand-a is brand-a's: its dead letters, label
// pages, search, counts and export, and every link and form carries the
// account; without it, the default account's as before.
func TestUI_Account_PagesAndLinksAreTheNamedAccounts(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	killIn(t, q, queue.DefaultAccount, "same-key", queue.ReasonAuth, "default's")
	killIn(t, q, "brand-a", "same-key", queue.ReasonInvalid, "brand-a's")
	killIn(t, q, "brand-a", "only-a", queue.ReasonInvalid, "brand-a's")
	runAccounts(t, q, "brand-a")
	srv := serve(t, q)

	code, body := get(t, srv, "/ui/dead-letters?account=brand-a")
	require.Equal(t, 200, code, mainOf(body))
	require.Len(t, rows(body), 2)
	contains(t, body, `<b id="account">brand-a</b>`, "the header names the account")
	contains(t, body, `<option value="default">default</option><option value="brand-a" selected>brand-a</option>`, "the selector offers the default account and the fleet's")
	contains(t, body, `href="/ui/label?account=brand-a&amp;key=only-a"`, "keys link to the account's label page")
	contains(t, body, `href="/ui/dead-letters?account=brand-a&amp;reason=invalid"`, "reasons link within the account")
	contains(t, body, `data-src="/ui/counts?account=brand-a"`, "the live counts poll the account's")
	contains(t, body, `href="/ui/export?account=brand-a"`)
	contains(t, body, `<input type="hidden" name="account" value="brand-a">`, "the search form keeps the account")
	contains(t, body, `<form method="post" action="/ui/confirm?account=brand-a" data-action="redrive-matching">`)
	contains(t, body, `href="/ui/?account=brand-a"`, "the header's links keep the account")
	lacks(t, body, "default&#39;s")

	code, body = get(t, srv, "/ui/dead-letters")
	require.Equal(t, 200, code)
	require.Len(t, rows(body), 1, "without ?account=, the default account's")
	contains(t, body, `<b id="account">default</b>`)
	contains(t, body, `href="/ui/label?key=same-key"`, "the default account's links stay as they were")
	lacks(t, body, "only-a")

	_, body = get(t, srv, "/ui/label?account=brand-a&key=same-key")
	contains(t, body, "brand-a&#39;s")
	contains(t, body, `href="/ui/dead-letters?account=brand-a&amp;reason=invalid"`)
	_, body = get(t, srv, "/ui/label?key=same-key")
	contains(t, body, "default&#39;s", "the same key in the default account is another label")

	r := do(t, srv, "operator", "GET", "/ui/dead-letters?account=brand-a&q=only-a", nil)
	require.Equal(t, 303, r.code, "searching a whole key goes to its label page")
	require.Equal(t, "/ui/label?account=brand-a&key=only-a", r.location)
	code, body = get(t, srv, "/ui/dead-letters?q=only-a")
	require.Equal(t, 200, code)
	require.Empty(t, rows(body), "the default account has no key only-a")

	for a, want := range map[string]int64{"brand-a": 2, queue.DefaultAccount: 1} {
		code, body = get(t, srv, "/ui/counts?account="+a)
		require.Equal(t, 200, code)
		var c queue.Counts
		require.NoError(t, json.Unmarshal([]byte(body), &c))
		require.Equal(t, want, c.Dead, a)
	}

	r = do(t, srv, "operator", "GET", "/ui/export?account=brand-a", nil)
	require.Equal(t, 200, r.code)
	require.Contains(t, r.header.Get("Content-Disposition"), "dead-letters-brand-a.ndjson")
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		require.Contains(t, l, "brand-a's", "the account's dead letters only")
	}
}

// A malformed account is a 400 page naming it; a well-formed one no
// worker runs (a removed account's dead letters) is shown, with a note.
func TestUI_Account_MalformedRefusedNotRunShown(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	killIn(t, q, "gone", "left-over", queue.ReasonAuth, "m")
	srv := serve(t, q)

	code, body := get(t, srv, "/ui/dead-letters?account=Brand_A")
	require.Equal(t, 400, code)
	contains(t, body, `account: &#34;Brand_A&#34; is not an account name: 1 to 32 of a-z, 0-9 and -`)
	code, body = get(t, srv, "/ui/?account=a&account=b")
	require.Equal(t, 400, code)
	contains(t, body, "account: give one account, got 2")
	code, _ = get(t, srv, "/ui/counts?account=-")
	require.Equal(t, 200, code, "\"-\" is a well-formed name")
	code, _ = get(t, srv, "/ui/counts?account=a.b")
	require.Equal(t, 400, code)

	code, body = get(t, srv, "/ui/dead-letters?account=gone")
	require.Equal(t, 200, code)
	require.Len(t, rows(body), 1)
	contains(t, body, `id="account-not-run"`, "the page says no worker runs the account")
	contains(t, body, `<option value="gone" selected>gone</option>`, "the selector shows the account read")
	_, body = get(t, srv, "/ui/dead-letters")
	lacks(t, body, `id="account-not-run"`, "a single-account fleet runs the default account")
	lacks(t, body, `id="account-switch"`, "nothing to switch to")
}

// Redriving brand-a's dead letter from its pages redrives brand-a's only:
// the default account's dead letter of the same key stays; a confirmation
// given in one account cannot be spent in another.
func TestUI_Account_RedriveActsOnTheNamedAccount(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	killIn(t, q, queue.DefaultAccount, "same-key", queue.ReasonAuth, "m")
	killIn(t, q, "brand-a", "same-key", queue.ReasonAuth, "m")
	killIn(t, q, "brand-a", "other", queue.ReasonAuth, "m")
	runAccounts(t, q, "brand-a")
	srv := serve(t, q)

	_, body := get(t, srv, "/ui/label?account=brand-a&key=same-key")
	contains(t, body, `<form method="post" action="/ui/confirm?account=brand-a" data-action="redrive">`)
	form := map[string][]string{"action": {"redrive"}, "key": {"same-key"}, "csrf": {csrfOf(t, body)}}
	r := do(t, srv, "operator", "POST", "/ui/confirm?account=brand-a", form)
	require.Equal(t, 200, r.code, mainOf(r.body))
	contains(t, r.body, `dead letter &#34;same-key&#34; of account brand-a?`, "the confirmation names the account")
	contains(t, r.body, `<form method="post" action="/ui/act?account=brand-a" data-action="redrive">`)
	f := actForm.FindStringSubmatch(strings.Replace(r.body, `action="/ui/act?account=brand-a"`, `action="/ui/act"`, 1))
	require.NotNil(t, f)
	v := map[string][]string{}
	for _, h := range hidden.FindAllStringSubmatch(f[2], -1) {
		v[h[1]] = append(v[h[1]], h[2])
	}

	r = do(t, srv, "operator", "POST", "/ui/act", v)
	require.Equal(t, 409, r.code, "brand-a's confirmation does not act on the default account")
	require.Equal(t, queue.StateDead, accountState(t, q, queue.DefaultAccount, "same-key"))

	r = do(t, srv, "operator", "POST", "/ui/act?account=brand-a", v)
	require.Equal(t, 303, r.code, mainOf(r.body))
	require.Regexp(t, `^/ui/result\?account=brand-a&id=`, r.location)
	_, body = get(t, srv, r.location)
	m := resultDiv.FindStringSubmatch(body)
	require.NotNil(t, m, mainOf(body))
	require.Equal(t, "1", m[1])
	contains(t, body, `href="/ui/label?account=brand-a&amp;key=same-key"`, "the result links back to the account's label")
	require.Equal(t, queue.StatePending, accountState(t, q, "brand-a", "same-key"))
	require.Equal(t, queue.StateDead, accountState(t, q, queue.DefaultAccount, "same-key"), "the default account's dead letter stays")
	require.Equal(t, queue.StateDead, accountState(t, q, "brand-a", "other"))

	// Discard all matching, in brand-a: the default account's stays.
	form = map[string][]string{"action": {"discard-matching"}, "csrf": form["csrf"]}
	r = do(t, srv, "operator", "POST", "/ui/confirm?account=brand-a", form)
	require.Equal(t, 200, r.code)
	require.Equal(t, "1", dryRun.FindStringSubmatch(r.body)[1], "brand-a has one dead letter left")
	contains(t, r.body, "every dead letter of account brand-a")
}

// A token bound to accounts lands on its first, switches only between its
// own, and gets 403 for any other account and for the fleet-wide pages.
func TestUI_Account_BoundTokenSeesOnlyItsAccounts(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	killIn(t, q, queue.DefaultAccount, "same-key", queue.ReasonAuth, "default's")
	killIn(t, q, "brand-a", "same-key", queue.ReasonAuth, "brand-a's")
	runAccounts(t, q, "brand-a", "brand-b", "brand-c")
	srv := serve(t, q)

	code, body := getAs(t, srv, "op-a", "/ui/")
	require.Equal(t, 200, code, mainOf(body))
	contains(t, body, `<b id="account">brand-a</b>`, "a bound token lands on its first account")
	contains(t, body, `href="/ui/dead-letters?account=brand-a"`)
	lacks(t, body, `id="account-switch"`, "one account: nothing to switch to")
	lacks(t, body, `href="/ui/queues/"`, "asynqmon shows every account's tasks")
	lacks(t, body, `href="/ui/webhooks"`)

	_, body = getAs(t, srv, "op-a", "/ui/label?key=same-key")
	contains(t, body, "brand-a&#39;s")
	contains(t, body, `action="/ui/confirm?account=brand-a"`)

	for _, path := range []string{"/ui/?account=default", "/ui/label?account=default&key=same-key", "/ui/counts?account=brand-b", "/ui/export?account=default"} {
		r := do(t, srv, "op-a", "GET", path, nil)
		require.Equal(t, 403, r.code, path)
		require.Contains(t, r.body, `account: this token may only act on account &#34;brand-a&#34;`, path)
		lacks(t, r.body, "default&#39;s")
	}
	for _, path := range []string{"/ui/queues/", "/ui/webhooks", "/ui/tokens"} {
		require.Equal(t, 403, do(t, srv, "op-a", "GET", path, nil).code, path)
	}

	_, body = getAs(t, srv, "op-a", "/ui/label?key=same-key")
	form := map[string][]string{"action": {"redrive"}, "key": {"same-key"}, "csrf": {csrfOf(t, body)}}
	r := do(t, srv, "op-a", "POST", "/ui/confirm?account=default", form)
	require.Equal(t, 403, r.code, "acting on another account is refused")
	form["action"] = []string{"webhook-enable"}
	r = do(t, srv, "op-a", "POST", "/ui/confirm?account=brand-a", form)
	require.Equal(t, 403, r.code, "the webhooks are the fleet's")
	require.Equal(t, queue.StateDead, accountState(t, q, queue.DefaultAccount, "same-key"))

	code, body = getAs(t, srv, "view-ab", "/ui/dead-letters?account=brand-b")
	require.Equal(t, 200, code)
	contains(t, body, `<select name="account" aria-label="switch account"><option value="brand-a">brand-a</option><option value="brand-b" selected>brand-b</option></select>`,
		"the selector offers the token's accounts only")
}
