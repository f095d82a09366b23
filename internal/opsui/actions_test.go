package opsui_test

import (
	"context"
	"html"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

var (
	dryRun    = regexp.MustCompile(`<span class="big" id="dry-run-count">(\d+)</span>`)
	actForm   = regexp.MustCompile(`(?s)<form method="post" action="/ui/act" data-action="([^"]+)">(.*?)</form>`)
	hidden    = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	resultDiv = regexp.MustCompile(`<div id="result" data-done="(\d+)" data-failed="(\d+)" data-finished="true">`)
)

// confirmStep posts an action form's fields to /ui/confirm as the operator
// and returns the dry-run count and the confirm form's fields.
func confirmStep(t *testing.T, srv *httptest.Server, form url.Values) (string, url.Values) {
	t.Helper()
	r := do(t, srv, "operator", "POST", "/ui/confirm", form)
	require.Equal(t, 200, r.code, r.body)
	m := dryRun.FindStringSubmatch(r.body)
	require.NotNil(t, m, mainOf(r.body))
	f := actForm.FindStringSubmatch(r.body)
	if f == nil {
		return m[1], nil
	}
	require.Equal(t, form.Get("action"), f[1], "the confirm form carries the action's data-action")
	contains(t, f[2], `<button id="confirm"`)
	v := url.Values{}
	for _, h := range hidden.FindAllStringSubmatch(f[2], -1) {
		v.Add(h[1], html.UnescapeString(h[2]))
	}
	return m[1], v
}

// actStep confirms and returns the result page's done and failed counts.
func actStep(t *testing.T, srv *httptest.Server, v url.Values) (done, failed string, body string) {
	t.Helper()
	r := do(t, srv, "operator", "POST", "/ui/act", v)
	require.Equal(t, 303, r.code, mainOf(r.body))
	require.Regexp(t, `^/ui/result\?id=`, r.location)
	code, body := get(t, srv, r.location)
	require.Equal(t, 200, code)
	m := resultDiv.FindStringSubmatch(body)
	require.NotNil(t, m, mainOf(body))
	again, body2 := get(t, srv, r.location)
	require.Equal(t, 200, again, "reloading the result shows it again")
	require.Equal(t, m[0], resultDiv.FindString(body2))
	return m[1], m[2], body
}

func count(t *testing.T, q *queue.Queue, reason queue.Reason) int64 {
	t.Helper()
	n, err := q.DeadLetters().Count(context.Background(), reason)
	require.NoError(t, err)
	return n
}

func state(t *testing.T, q *queue.Queue, key string) queue.State {
	t.Helper()
	s, err := q.Status(context.Background(), key)
	require.NoError(t, err)
	return s[0].State
}

// TestUI_Redrive_OneKey_DryRunConfirmResult: redrive from the label page
// acts only once confirmed, does what the dry run counted, and neither a
// reload nor a resubmitted confirmation acts again.
func TestUI_Redrive_OneKey_DryRunConfirmResult(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "r-1", queue.Interactive, queue.ReasonAuth, "m")
	srv := serve(t, q)

	_, body := get(t, srv, "/ui/label?key=r-1")
	form := url.Values{"action": {"redrive"}, "key": {"r-1"}, "csrf": {csrfOf(t, body)}}
	n, v := confirmStep(t, srv, form)
	require.Equal(t, "1", n)
	require.Equal(t, queue.StateDead, state(t, q, "r-1"), "the dry run acts on nothing")
	n, _ = confirmStep(t, srv, form)
	require.Equal(t, "1", n, "a reloaded confirm page is still a dry run")

	done, failed, res := actStep(t, srv, v)
	require.Equal(t, "1", done)
	require.Equal(t, "0", failed)
	contains(t, res, `href="/ui/label?key=r-1"`, "the result links back to the label")
	require.Equal(t, queue.StatePending, state(t, q, "r-1"))

	r := do(t, srv, "operator", "POST", "/ui/act", v)
	require.Equal(t, 409, r.code, "a spent confirmation does nothing")
	v.Del("confirm")
	r = do(t, srv, "operator", "POST", "/ui/act", v)
	require.Equal(t, 409, r.code, "acting needs a confirmation")
}

// TestUI_Actions_RefusedWithoutOperatorOrCSRF: a POST by a viewer, or
// without the caller's own CSRF token, is 403 and changes nothing.
func TestUI_Actions_RefusedWithoutOperatorOrCSRF(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	kill(t, q, "f-1", queue.Interactive, queue.ReasonAuth, "m")
	srv := serve(t, q)
	_, body := get(t, srv, "/ui/label?key=f-1")
	token := csrfOf(t, body)
	_, other := getAs(t, srv, "other-op", "/ui/label?key=f-1")
	otherToken := csrfOf(t, other)
	require.NotEqual(t, token, otherToken, "a token is the caller's")
	_, v := confirmStep(t, srv, url.Values{"action": {"discard"}, "key": {"f-1"}, "csrf": {token}})
	require.NotEmpty(t, v.Get("confirm"))

	for _, c := range []struct {
		as, path, csrf string
	}{
		{"viewer", "/ui/confirm", token},
		{"viewer", "/ui/act", token},
		{"", "/ui/act", token},
		{"producer", "/ui/act", token},
		{"operator", "/ui/act", ""},
		{"operator", "/ui/act", "forged"},
		{"operator", "/ui/act", otherToken},
		{"other-op", "/ui/act", token},
		{"operator", "/ui/confirm", ""},
	} {
		f := url.Values{}
		for k, s := range v {
			f[k] = s
		}
		f.Set("csrf", c.csrf)
		r := do(t, srv, c.as, "POST", c.path, f)
		require.Equal(t, 403, r.code, "%+v", c)
		require.Equal(t, queue.StateDead, state(t, q, "f-1"), "%+v changed nothing", c)
	}
	// another operator, with its own token, cannot spend this confirmation
	f := url.Values{}
	for k, s := range v {
		f[k] = s
	}
	f.Set("csrf", otherToken)
	require.Equal(t, 409, do(t, srv, "other-op", "POST", "/ui/act", f).code)
	require.Equal(t, queue.StateDead, state(t, q, "f-1"))
	// and a confirmation is of the action it confirmed
	f.Set("csrf", token)
	f.Set("action", "redrive")
	require.Equal(t, 409, do(t, srv, "operator", "POST", "/ui/act", f).code)
	require.Equal(t, queue.StateDead, state(t, q, "f-1"))

	done, _, _ := actStep(t, srv, v)
	require.Equal(t, "1", done)
	require.Equal(t, queue.StateUnknown, state(t, q, "f-1"), "discarded: the key is free")
}

// TestUI_DiscardMatching_ByReason: every dead letter of a reason, after a
// dry run whose count is what is then done; other reasons untouched.
func TestUI_DiscardMatching_ByReason(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	for _, k := range []string{"a-1", "a-2", "a-3"} {
		kill(t, q, k, queue.Interactive, queue.ReasonAuth, "m")
	}
	kill(t, q, "i-1", queue.Interactive, queue.ReasonInvalid, "m")
	srv := serve(t, q)

	_, body := get(t, srv, "/ui/dead-letters?reason=auth")
	contains(t, body, `data-action="discard-matching"`)
	contains(t, body, `<input type="hidden" name="reason" value="auth">`, "the form carries the filter")
	n, v := confirmStep(t, srv, url.Values{"action": {"discard-matching"}, "reason": {"auth"}, "csrf": {csrfOf(t, body)}})
	require.Equal(t, "3", n)
	require.Equal(t, int64(3), count(t, q, queue.ReasonAuth))
	done, failed, _ := actStep(t, srv, v)
	require.Equal(t, n, done, "the dry-run count is what was done")
	require.Equal(t, "0", failed)
	require.Equal(t, int64(0), count(t, q, queue.ReasonAuth))
	require.Equal(t, int64(1), count(t, q, queue.ReasonInvalid))

	// a filter with a key prefix and a queue
	kill(t, q, "b-1", queue.Bulk, queue.ReasonAuth, "m")
	kill(t, q, "b-2", queue.Interactive, queue.ReasonAuth, "m")
	n, v = confirmStep(t, srv, url.Values{"action": {"redrive-matching"}, "q": {"b-"}, "queue": {"bulk"}, "csrf": {csrfOf(t, body)}})
	require.Equal(t, "1", n)
	done, _, _ = actStep(t, srv, v)
	require.Equal(t, "1", done)
	require.Equal(t, queue.StatePending, state(t, q, "b-1"))
	require.Equal(t, queue.StateDead, state(t, q, "b-2"))

	// nothing matching: no confirm button
	n, v = confirmStep(t, srv, url.Values{"action": {"discard-matching"}, "reason": {"not_found"}, "csrf": {csrfOf(t, body)}})
	require.Equal(t, "0", n)
	require.Nil(t, v)
}

// TestUI_RedriveSelected: the checked keys; one that is not dead is counted
// out by the dry run and reported as failed, with why.
func TestUI_RedriveSelected(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	for _, k := range []string{"s-1", "s-2", "s-3"} {
		kill(t, q, k, queue.Interactive, queue.ReasonNotFound, "m")
	}
	srv := serve(t, q)
	_, body := get(t, srv, "/ui/dead-letters")
	contains(t, body, `data-action="redrive-selected"`)
	contains(t, body, `<input type="checkbox" name="key" value="s-2">`)
	token := csrfOf(t, body)

	n, v := confirmStep(t, srv, url.Values{"action": {"redrive-selected"}, "key": {"s-1", "s-3", "gone"}, "csrf": {token}})
	require.Equal(t, "2", n, "only the dead ones count")
	require.Equal(t, []string{"s-1", "s-3", "gone"}, v["key"])
	done, failed, res := actStep(t, srv, v)
	require.Equal(t, "2", done)
	require.Equal(t, "0", failed, "the act works on the dry run's snapshot: the dead ones")
	contains(t, res, "2</span> of 2 redriven")
	require.Equal(t, queue.StatePending, state(t, q, "s-1"))
	require.Equal(t, queue.StateDead, state(t, q, "s-2"))
	require.Equal(t, queue.StatePending, state(t, q, "s-3"))

	r := do(t, srv, "operator", "POST", "/ui/confirm", url.Values{"action": {"redrive-selected"}, "csrf": {token}})
	require.Equal(t, 400, r.code)
	contains(t, r.body, "key: select at least one dead letter")
	r = do(t, srv, "operator", "POST", "/ui/confirm", url.Values{"action": {"explode"}, "csrf": {token}})
	require.Equal(t, 400, r.code)
	contains(t, r.body, "action: want one of")
}
