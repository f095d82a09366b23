package opsui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue"
)

// The console's actions go in three steps, each of them a form POST that
// carries the CSRF token:
//
//	the action form (data-action) → POST /ui/confirm: the dry-run count,
//	    computed without acting, and a form to confirm it with a one-time
//	    confirmation id;
//	POST /ui/act: spends the confirmation, acts, and redirects (303) to
//	GET /ui/result?id=…: how many were done and how many failed, and why.
//
// The redirect makes a reload of the result show it again, never act again,
// and a spent confirmation refuses a resubmitted act form.

// csrfToken is the caller's CSRF token: an HMAC of its principal's ID under
// the process's random key. A cross-site page cannot read it, and checking
// it does not depend on the browser sending Origin or Sec-Fetch-Site.
func (h *Handler) csrfToken(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	m := hmac.New(sha256.New, h.csrfKey[:])
	m.Write([]byte("flexlabel console csrf\x00" + p.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authorise checks a POST: its caller has scope operator and its csrf field
// is the caller's token (compared in constant time). It answers 403 itself
// and returns false otherwise.
func (h *Handler) authorise(w http.ResponseWriter, r *http.Request) bool {
	if !has(r, auth.Operator) {
		http.Error(w, "forbidden: actions need scope operator", http.StatusForbidden)
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("csrf"))
	want, _ := base64.RawURLEncoding.DecodeString(h.csrfToken(r))
	if err != nil || !hmac.Equal(got, want) {
		http.Error(w, "forbidden: csrf: missing or invalid token (reload the page and try again)", http.StatusForbidden)
		return false
	}
	return true
}

// action is one request to redrive or discard: its verb, and either keys
// (one, or a selection) or a filter (every dead letter matching).
type action struct {
	Name   string // the form's data-action: redrive, discard-selected, …
	Verb   string // redrive or discard
	Keys   []string
	F      filter
	filter bool // acts on F, not Keys
	v      view // the account acted on
}

var actions = []string{"redrive", "discard", "redrive-selected", "discard-selected", "redrive-matching", "discard-matching"}

// parseAction reads the action of form on the account of v.
func parseAction(form url.Values, v view) (action, error) {
	a := action{Name: form.Get("action"), v: v}
	if !slices.Contains(actions, a.Name) {
		return a, fmt.Errorf("action: want one of %v, got %q", actions, a.Name)
	}
	verb, sel, _ := strings.Cut(a.Name, "-")
	a.Verb = verb
	switch sel {
	case "matching":
		f, err := parseFilter(form)
		if err != nil {
			return a, err
		}
		a.F, a.filter = f, true
	default:
		for _, k := range form["key"] {
			if k != "" && !slices.Contains(a.Keys, k) {
				a.Keys = append(a.Keys, k)
			}
		}
		switch {
		case len(a.Keys) == 0:
			return a, errors.New("key: select at least one dead letter")
		case sel == "" && len(a.Keys) != 1:
			return a, fmt.Errorf("key: %s acts on one key, got %d (use %s-selected)", a.Name, len(a.Keys), a.Name)
		}
	}
	return a, nil
}

// digest names what an action acts on, so a confirmation is spent only on
// the action it confirmed, in the account it confirmed.
func (a action) digest() string {
	v := url.Values{"action": {a.Name}, "key": a.Keys, accountParam: {a.v.account}}
	if a.filter {
		for k, s := range a.F.Query() {
			v[k] = s
		}
	}
	return v.Encode()
}

// Fields are the form fields that repeat the action (the CSRF token and the
// confirmation aside).
func (a action) Fields() url.Values {
	v := url.Values{"action": {a.Name}}
	if a.filter {
		for k, s := range a.F.Query() {
			v[k] = s
		}
	} else {
		v["key"] = a.Keys
	}
	return v
}

// What says in words what the action acts on.
func (a action) What() string {
	switch {
	case a.filter:
		return a.F.String() + a.v.of()
	case len(a.Keys) == 1:
		return "dead letter " + fmt.Sprintf("%q", a.Keys[0]) + a.v.of()
	}
	return fmt.Sprintf("the %d selected dead letters", len(a.Keys)) + a.v.of()
}

// Back is where the result page links back to.
func (a action) Back() string {
	if !a.filter && len(a.Keys) == 1 {
		return a.v.labelURL(a.Keys[0])
	}
	return a.v.filterURL(a.F, "/ui/dead-letters")
}

// targets returns the keys the action would act on now: the given keys
// that are dead, or the keys matching the filter. It acts on nothing.
func (h *Handler) targets(ctx context.Context, a action) ([]string, error) {
	q := a.v.q
	if a.filter {
		return q.DeadLetters().KeysMatching(ctx, a.F.options(q))
	}
	sts, err := q.Status(ctx, a.Keys...)
	if err != nil {
		return nil, err
	}
	var dead []string
	for _, s := range sts {
		if s.State == queue.StateDead {
			dead = append(dead, s.IdempotencyKey)
		}
	}
	return dead, nil
}

// confirmPage is the confirmation page's data.
type confirmPage struct {
	A       action
	Count   int64
	Sample  []string // the first keys that would be acted on
	Confirm string   // the one-time confirmation id
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if !h.authorise(w, r) {
		return
	}
	if isHookAction(r.PostForm.Get("action")) {
		if msg := fleetRefusal(r); msg != "" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		h.confirmHook(w, r)
		return
	}
	a, err := parseAction(r.PostForm, viewOf(r))
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	keys, err := h.targets(r.Context(), a)
	if err != nil {
		h.queueError(w, r, err)
		return
	}
	cp := confirmPage{A: a, Count: int64(len(keys)), Sample: keys[:min(len(keys), 20)]}
	if len(keys) > 0 {
		p, _ := auth.FromContext(r.Context())
		cp.Confirm = h.runs.offer(p.ID, a.digest())
	}
	h.render(w, r, http.StatusOK, "confirm.html", page{Title: "confirm " + a.Verb, Data: cp})
}

// actWait is how long POST /ui/act waits for its action to finish before it
// redirects to a result page that shows progress instead.
const actWait = 10 * time.Second

func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	if !h.authorise(w, r) {
		return
	}
	if isHookAction(r.PostForm.Get("action")) {
		if msg := fleetRefusal(r); msg != "" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		h.actHook(w, r)
		return
	}
	a, err := parseAction(r.PostForm, viewOf(r))
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := auth.FromContext(r.Context())
	if !h.runs.spend(r.PostFormValue("confirm"), p.ID, a.digest()) {
		h.problem(w, r, http.StatusConflict, "confirm: this action was not confirmed, or its confirmation was used already; nothing was done. Start again from the action's button.")
		return
	}
	// The same snapshot the dry run counted: the given keys that are dead,
	// or the keys matching now. Acting on a snapshot ends even when the
	// redriven jobs die again at once.
	keys, err := h.targets(r.Context(), a)
	if err != nil {
		h.queueError(w, r, err)
		return
	}
	run := h.runs.start(p.ID, a, len(keys))
	each := a.v.q.DeadLetters().RedriveEach
	if a.Verb == "discard" {
		each = a.v.q.DeadLetters().DiscardEach
	}
	// The action outlives the request if it must (a whole reason of a
	// large queue): the result page shows its progress.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		err := each(ctx, keys, func(res queue.OpResult) error {
			run.record(res)
			return nil
		})
		run.finish(err)
		if err != nil {
			h.log.Error("ui: action stopped", slog.String("action", a.Name), slog.String("account", a.v.account), slog.String("principal", p.ID), slog.Int("done", run.snapshot().Done), slog.String("error", err.Error()))
		} else {
			res := run.snapshot()
			h.log.Info("ui: action done", slog.String("action", a.Name), slog.String("account", a.v.account), slog.String("principal", p.ID), slog.Int("done", res.Done), slog.Int("failed", res.Failed))
		}
	}()
	select {
	case <-run.finished:
	case <-time.After(actWait):
	}
	http.Redirect(w, r, a.v.link("/ui/result", "id", run.id), http.StatusSeeOther)
}

func (h *Handler) result(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	run := h.runs.get(r.URL.Query().Get("id"), p.ID)
	if run == nil {
		h.problem(w, r, http.StatusNotFound, "id: no such result (results are kept for an hour, for the caller who acted)")
		return
	}
	h.render(w, r, http.StatusOK, "result.html", page{Title: "result", Data: run.snapshot()})
}

// runs holds the confirmations offered and the actions run, for an hour.
type runs struct {
	mu     sync.Mutex
	m      map[string]*run
	offers map[string]offer
}

type offer struct {
	owner, digest string
	at            time.Time
}

const keepRuns = time.Hour

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// offer records a confirmation of digest for owner and returns its id.
func (rs *runs) offer(owner, digest string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.prune()
	if rs.offers == nil {
		rs.offers = make(map[string]offer)
	}
	id := newID()
	rs.offers[id] = offer{owner, digest, time.Now()}
	return id
}

// spend uses up confirmation id, if owner was offered it for digest.
func (rs *runs) spend(id, owner, digest string) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	o, ok := rs.offers[id]
	if !ok || o.owner != owner || o.digest != digest {
		return false
	}
	delete(rs.offers, id)
	return true
}

func (rs *runs) prune() {
	cut := time.Now().Add(-keepRuns)
	for id, o := range rs.offers {
		if o.at.Before(cut) {
			delete(rs.offers, id)
		}
	}
	for id, r := range rs.m {
		if r.started.Before(cut) {
			delete(rs.m, id)
		}
	}
}

func (rs *runs) start(owner string, a action, total int) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.prune()
	r := &run{id: newID(), owner: owner, started: time.Now(), finished: make(chan struct{}),
		res: Result{Action: a.Name, Verb: a.Verb, What: a.What(), Back: a.Back(), Total: total}}
	rs.m[r.id] = r
	return r
}

func (rs *runs) get(id, owner string) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r := rs.m[id]; r != nil && r.owner == owner {
		return r
	}
	return nil
}

// run is one action in progress or done.
type run struct {
	id, owner string
	started   time.Time
	finished  chan struct{}
	mu        sync.Mutex
	res       Result
}

// Result is what the result page shows of a run.
type Result struct {
	Action, Verb, What, Back string
	Total, Done, Failed      int
	Failures                 []queue.OpResult // the first maxFailures
	Finished                 bool
	Error                    string // why the run stopped early
}

const maxFailures = 100

// verbs are the Title and Past of each action's verb, for the result page.
var verbs = map[string][2]string{
	"redrive":   {"Redrive", "redriven"},
	"discard":   {"Discard", "discarded"},
	"redeliver": {"Redeliver", "queued for delivery again"},
	"enable":    {"Enable", "enabled"},
	"disable":   {"Disable", "disabled"},
}

// Title is the result's verb as a heading ("Redrive").
func (r Result) Title() string { return verbs[r.Verb][0] }

// Past is what became of what was done ("redriven").
func (r Result) Past() string { return verbs[r.Verb][1] }

func (r *run) record(res queue.OpResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.Done {
		r.res.Done++
		return
	}
	r.res.Failed++
	if len(r.res.Failures) < maxFailures {
		r.res.Failures = append(r.res.Failures, res)
	}
}

func (r *run) finish(err error) {
	r.mu.Lock()
	r.res.Finished = true
	if err != nil {
		r.res.Error = "stopped: the queue is unavailable (" + err.Error() + "); the rest was not done"
	}
	r.mu.Unlock()
	close(r.finished)
}

func (r *run) snapshot() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Failures = slices.Clone(res.Failures)
	return res
}

func isNotFound(err error) bool { return errors.Is(err, queue.ErrNotFound) }
