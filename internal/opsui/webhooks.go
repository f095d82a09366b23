package opsui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/webhook"
)

// This file is the console's face of webhooks (issue 15): /ui/webhooks lists
// the endpoints, /ui/webhooks/endpoint?id= one endpoint with its recent
// deliveries, /ui/webhooks/event?id= one event's delivery to each endpoint.
// All three are for operators: the endpoints' URLs and the events' payloads
// are theirs. Redelivery and enabling or disabling an endpoint are actions
// of the confirm flow (actions.go), told apart by their "webhook-" names.

// WithWebhooks shows the webhook endpoints eps and their delivery log dlog
// on /ui/webhooks, with redelivery and enabling or disabling an endpoint.
// Either nil means webhooks are off (no FLEXLABEL_WEBHOOK_SIGNING_KEY): the
// pages say so.
func WithWebhooks(eps *hooks.Endpoints, dlog *hooks.Log) Option {
	return func(h *Handler) {
		if eps != nil && dlog != nil {
			h.eps, h.dlog = eps, dlog
		}
	}
}

// hooksOff is what the webhook pages say while webhooks are off.
const hooksOff = "Webhooks are off: this serve process has no FLEXLABEL_WEBHOOK_SIGNING_KEY. " +
	"Set it (at least 32 bytes, e.g. openssl rand -base64 48; the same value on serve, the worker " +
	"and wherever flexlabel webhooks runs) to subscribe endpoints and see their deliveries here."

// endpointDeliveries is how many deliveries the endpoint page shows.
const endpointDeliveries = 100

// retention says how long the log keeps a delivery and the store an
// event, as the pages tell operators (serve keeps both defaults).
var retention = struct{ LogDays, EventDays int }{int(hooks.DefaultLogTTL / (24 * time.Hour)), int(queue.EventRetention / (24 * time.Hour))}

// responseShown is how much of a receiver's answer a table cell shows; the
// event page shows what the log kept.
const responseShown = 200

func endpointURL(id string) string { return "/ui/webhooks/endpoint?id=" + url.QueryEscape(id) }
func eventURL(id string) string    { return "/ui/webhooks/event?id=" + url.QueryEscape(id) }

// endpointView is an endpoint as the pages show it. It has no field for a
// secret: the pages never show one (List and Get answer none anyway).
type endpointView struct {
	ID, URL, KeyPrefix      string
	Events                  []webhook.EventType
	Accounts                []string // empty: every account
	Enabled                 bool
	DisabledReason          string
	CreatedAt, UpdatedAt    time.Time
	PreviousSecretExpiresAt time.Time
	Link                    string
}

func viewEndpoint(e hooks.Endpoint) endpointView {
	v := endpointView{ID: e.ID, URL: e.URL, KeyPrefix: e.KeyPrefix, Events: e.Events, Accounts: e.Accounts, Enabled: e.Enabled,
		DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Link: endpointURL(e.ID)}
	if e.PreviousSecretExpiresAt != nil {
		v.PreviousSecretExpiresAt = *e.PreviousSecretExpiresAt
	}
	return v
}

// deliveryView is a delivery as a row of the pages: the log's record, the
// key its event is about, and its newest attempt.
type deliveryView struct {
	hooks.Delivery
	Key, KeyLink string // "" once the event expired
	// Account is the event's account when it is not the default one: the
	// console's label pages are the default account's, so such a key has
	// no KeyLink.
	Account      string
	EventLink    string
	EndpointLink string
	// EndpointURL is the endpoint's URL on the event page; "" when the
	// endpoint was deleted.
	EndpointURL string
	LastAt      time.Time
	Latest      *hooks.Attempt // nil before the first attempt
	// Response is the start of Latest's answer; Shortened when it is not
	// all of it.
	Response  string
	Shortened bool
}

func viewDelivery(d hooks.Delivery, sub queue.EventSubject) deliveryView {
	v := deliveryView{Delivery: d, Key: sub.Key, EventLink: eventURL(d.Event), EndpointLink: endpointURL(d.Endpoint)}
	v.Account, v.KeyLink = keyLink(sub)
	if d.LastAttemptAt != nil {
		v.LastAt = *d.LastAttemptAt
	}
	if len(d.History) > 0 {
		a := d.History[0]
		v.Latest = &a
		v.Response, v.Shortened = shorten(a.Response, responseShown), a.ResponseTruncated
		v.Shortened = v.Shortened || len(v.Response) < len(a.Response)
	}
	return v
}

// shorten cuts s to at most n bytes, on a character boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keyLink is how a page shows an event's key: the account when it is not
// the default one, and the label page's link for the default account's
// key (the console's label pages are the default account's).
func keyLink(sub queue.EventSubject) (account, link string) {
	switch {
	case sub.Key == "":
		return "", ""
	case sub.Account != "" && sub.Account != queue.DefaultAccount:
		return sub.Account, ""
	}
	return "", labelURL(sub.Key)
}

// eventSubject returns the account and idempotency key event id is about,
// the zero value once the event has expired (its delivery log outlives it).
func (h *Handler) eventSubject(ctx context.Context, id string) (queue.EventSubject, error) {
	_, sub, err := h.q.EventAbout(ctx, id)
	if errors.Is(err, queue.ErrEventNotFound) {
		return queue.EventSubject{}, nil
	}
	return sub, err
}

// hooksPageData is the endpoints page's data.
type hooksPageData struct {
	Off       string // hooksOff while webhooks are off
	Endpoints []endpointView
}

// webhooksPage lists the endpoints, with whether each is enabled and, if
// not, why: automatic disabling after failing deliveries shows here.
func (h *Handler) webhooksPage(w http.ResponseWriter, r *http.Request) {
	if h.eps == nil {
		h.render(w, r, http.StatusOK, "webhooks.html", page{Title: "webhooks", Data: hooksPageData{Off: hooksOff}})
		return
	}
	list, err := h.eps.List(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	d := hooksPageData{Endpoints: []endpointView{}}
	for _, e := range list {
		d.Endpoints = append(d.Endpoints, viewEndpoint(e))
	}
	h.render(w, r, http.StatusOK, "webhooks.html", page{Title: "webhooks", Data: d})
}

// endpointPageData is one endpoint's page's data.
type endpointPageData struct {
	E          endpointView
	Deliveries []deliveryView
	Limit      int
	Since      string // the redeliver form's default: a day ago
	Kept       struct{ LogDays, EventDays int }
}

func (h *Handler) webhookEndpointPage(w http.ResponseWriter, r *http.Request) {
	if h.eps == nil {
		h.problem(w, r, http.StatusConflict, hooksOff)
		return
	}
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	if id == "" {
		h.problem(w, r, http.StatusBadRequest, "id: required (the webhook endpoint to show, "+hooks.IDPrefix+"…)")
		return
	}
	e, err := h.eps.Get(ctx, id)
	if errors.Is(err, hooks.ErrNotFound) {
		h.problem(w, r, http.StatusNotFound, "id: no webhook endpoint "+strconv.Quote(id)+" (never created, or deleted)")
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	ds, err := h.dlog.ForEndpoint(ctx, id, time.Time{}, endpointDeliveries)
	if err != nil {
		h.fail(w, err)
		return
	}
	d := endpointPageData{E: viewEndpoint(e), Deliveries: []deliveryView{}, Limit: endpointDeliveries, Kept: retention,
		Since: time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04:05")}
	for _, dl := range ds {
		sub, err := h.eventSubject(ctx, dl.Event)
		if err != nil {
			h.fail(w, err)
			return
		}
		d.Deliveries = append(d.Deliveries, viewDelivery(dl, sub))
	}
	h.render(w, r, http.StatusOK, "webhook_endpoint.html", page{Title: "webhook endpoint " + id, Data: d})
}

// eventPageData is one event's page's data.
type eventPageData struct {
	ID       string
	Found    bool // the event is still kept (store.EventRetention)
	Ev       webhook.Event
	Key      string
	KeyLink  string
	Account  string // as deliveryView's
	sub      queue.EventSubject
	Envelope string // the event, indented
	// Deliveries are the event's, one per endpoint, oldest first.
	Deliveries []deliveryView
	Kept       struct{ LogDays, EventDays int }
}

func (h *Handler) webhookEventPage(w http.ResponseWriter, r *http.Request) {
	if h.eps == nil {
		h.problem(w, r, http.StatusConflict, hooksOff)
		return
	}
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	if id == "" {
		h.problem(w, r, http.StatusBadRequest, "id: required (the webhook event to show, evt_…)")
		return
	}
	d := eventPageData{ID: id, Deliveries: []deliveryView{}, Kept: retention}
	ev, sub, err := h.q.EventAbout(ctx, id)
	switch {
	case err == nil:
		d.Found, d.Ev, d.Key, d.sub = true, ev, sub.Key, sub
		d.Account, d.KeyLink = keyLink(sub)
		if b, err := json.MarshalIndent(ev, "", "  "); err == nil {
			d.Envelope = string(b)
		}
	case !errors.Is(err, queue.ErrEventNotFound):
		h.fail(w, err)
		return
	}
	ds, err := h.dlog.ForEvent(ctx, id)
	switch {
	case errors.Is(err, hooks.ErrNoDeliveries) && !d.Found:
		h.problem(w, r, http.StatusNotFound, "id: no webhook event "+strconv.Quote(id)+" and no deliveries of it (unknown, or expired)")
		return
	case err != nil && !errors.Is(err, hooks.ErrNoDeliveries):
		h.fail(w, err)
		return
	}
	slices.SortFunc(ds, func(a, b hooks.Delivery) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Endpoint, b.Endpoint)
	})
	for _, dl := range ds {
		v := viewDelivery(dl, d.sub)
		e, err := h.eps.Get(ctx, dl.Endpoint)
		switch {
		case err == nil:
			v.EndpointURL = e.URL
		case !errors.Is(err, hooks.ErrNotFound):
			h.fail(w, err)
			return
		}
		d.Deliveries = append(d.Deliveries, v)
	}
	h.render(w, r, http.StatusOK, "webhook_event.html", page{Title: "webhook event " + id, Data: d})
}

// The webhook actions, through the console's confirm flow.
const (
	actRedeliverEvent  = "webhook-redeliver-event"  // event, endpoint ("" : every endpoint it went to)
	actRedeliverFailed = "webhook-redeliver-failed" // endpoint, since
	actEnable          = "webhook-enable"           // endpoint
	actDisable         = "webhook-disable"          // endpoint, reason (optional)
)

var hookActions = []string{actRedeliverEvent, actRedeliverFailed, actEnable, actDisable}

// isHookAction tells the webhook actions from the dead-letter ones.
func isHookAction(name string) bool { return strings.HasPrefix(name, "webhook-") }

// hookAction is one webhook action as its form gives it.
type hookAction struct {
	Name, Verb      string
	Event, Endpoint string
	Since           string // as typed
	since           time.Time
	Reason          string
}

func parseHookAction(form url.Values) (hookAction, error) {
	a := hookAction{Name: form.Get("action"), Event: strings.TrimSpace(form.Get("event")),
		Endpoint: strings.TrimSpace(form.Get("endpoint")), Since: strings.TrimSpace(form.Get("since")),
		Reason: strings.TrimSpace(form.Get("reason"))}
	var errs []error
	needEndpoint := func(what string) {
		if a.Endpoint == "" {
			errs = append(errs, errors.New("endpoint: required (the webhook endpoint "+what+")"))
		}
	}
	switch a.Name {
	case actRedeliverEvent:
		a.Verb = "redeliver"
		if a.Event == "" {
			errs = append(errs, errors.New("event: required (the webhook event to redeliver)"))
		}
	case actRedeliverFailed:
		a.Verb = "redeliver"
		needEndpoint("whose failed deliveries to redeliver")
		if a.Since == "" {
			errs = append(errs, errors.New("since: required (redeliver the failed deliveries created at or after this time, UTC)"))
		} else {
			f, err := queue.ParseFilter(queue.FilterParams{Since: "since"}, func(name string) string {
				if name == "since" {
					return a.Since
				}
				return ""
			})
			if err != nil {
				errs = append(errs, err)
			}
			a.since = f.Since
		}
	case actEnable, actDisable:
		a.Verb = strings.TrimPrefix(a.Name, "webhook-")
		needEndpoint("to " + a.Verb)
		if a.Name == actDisable && utf8.RuneCountInString(a.Reason) > hooks.MaxReasonLen {
			errs = append(errs, fmt.Errorf("reason: at most %d characters, got %d", hooks.MaxReasonLen, utf8.RuneCountInString(a.Reason)))
		}
	default:
		return a, fmt.Errorf("action: want one of %v, got %q", hookActions, a.Name)
	}
	return a, errors.Join(errs...)
}

// Fields are the form fields that repeat the action (the CSRF token and the
// confirmation aside).
func (a hookAction) Fields() url.Values {
	v := url.Values{"action": {a.Name}}
	for k, s := range map[string]string{"event": a.Event, "endpoint": a.Endpoint} {
		if s != "" {
			v.Set(k, s)
		}
	}
	switch a.Name {
	case actRedeliverFailed:
		v.Set("since", a.Since)
	case actDisable:
		if a.Reason != "" {
			v.Set("reason", a.Reason)
		}
	}
	return v
}

// digest names what the action acts on, so a confirmation is spent only on
// the action it confirmed.
func (a hookAction) digest() string { return a.Fields().Encode() }

// Title is the action's verb as a heading.
func (a hookAction) Title() string { return verbs[a.Verb][0] }

// What says in words what the action acts on.
func (a hookAction) What() string {
	switch a.Name {
	case actRedeliverEvent:
		if a.Endpoint != "" {
			return fmt.Sprintf("event %s to endpoint %s", a.Event, a.Endpoint)
		}
		return fmt.Sprintf("event %s to every endpoint it went to", a.Event)
	case actRedeliverFailed:
		return fmt.Sprintf("the failed and skipped deliveries to endpoint %s since %s", a.Endpoint, a.since.Format(time.RFC3339))
	}
	return "endpoint " + a.Endpoint
}

// Back is the page the action was started from.
func (a hookAction) Back() string {
	if a.Name == actRedeliverEvent && a.Endpoint == "" {
		return eventURL(a.Event)
	}
	return endpointURL(a.Endpoint)
}

// hookConfirmPage is the confirmation page of a webhook action.
type hookConfirmPage struct {
	A       hookAction
	Count   int
	Sample  []hooks.Delivery // the first deliveries that would be redelivered
	Notes   []string         // what the operator should know first
	Nothing string           // why there is nothing to do, when Count is 0
	Confirm string           // the one-time confirmation id
}

// confirmHook is POST /ui/confirm of a webhook action: its dry run. The
// caller is authorised already.
func (h *Handler) confirmHook(w http.ResponseWriter, r *http.Request) {
	if h.eps == nil {
		h.problem(w, r, http.StatusConflict, hooksOff)
		return
	}
	a, err := parseHookAction(r.PostForm)
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	cp := hookConfirmPage{A: a}
	var ds []hooks.Delivery
	switch a.Name {
	case actRedeliverEvent:
		all, err := h.dlog.ForEvent(ctx, a.Event)
		if err != nil && !errors.Is(err, hooks.ErrNoDeliveries) {
			h.fail(w, err)
			return
		}
		for _, d := range all {
			if a.Endpoint == "" || d.Endpoint == a.Endpoint {
				ds = append(ds, d)
			}
		}
		cp.Nothing = "the delivery log has no delivery of this event (never delivered, or its log expired)."
		if a.Endpoint != "" {
			cp.Nothing = "the delivery log has no delivery of this event to this endpoint (never delivered, or its log expired)."
		}
	case actRedeliverFailed, actEnable, actDisable:
		e, err := h.eps.Get(ctx, a.Endpoint)
		if errors.Is(err, hooks.ErrNotFound) {
			h.problem(w, r, http.StatusNotFound, "endpoint: no webhook endpoint "+strconv.Quote(a.Endpoint)+" (never created, or deleted)")
			return
		}
		if err != nil {
			h.fail(w, err)
			return
		}
		switch {
		case a.Name == actRedeliverFailed:
			// The same selection as RedeliverEndpoint: created at or after
			// since, failed or skipped.
			all, err := h.dlog.ForEndpoint(ctx, a.Endpoint, a.since, math.MaxInt32)
			if err != nil {
				h.fail(w, err)
				return
			}
			for _, d := range all {
				if d.Result == hooks.ResultFailed || d.Result == hooks.ResultSkipped {
					ds = append(ds, d)
				}
			}
			cp.Nothing = "no delivery to this endpoint since " + a.since.Format(time.RFC3339) + " failed or was skipped."
		case e.Enabled == (a.Name == actEnable):
			cp.Nothing = "the endpoint is " + verbs[a.Verb][1] + " already."
		default:
			cp.Count = 1
		}
	}
	if a.Verb == "redeliver" {
		cp.Count = len(ds)
		cp.Sample = ds[:min(len(ds), 20)]
		notes, err := h.disabledNotes(ctx, ds)
		if err != nil {
			h.fail(w, err)
			return
		}
		cp.Notes = notes
	}
	if cp.Count > 0 {
		p, _ := auth.FromContext(ctx)
		cp.Confirm = h.runs.offer(p.ID, a.digest())
	}
	h.render(w, r, http.StatusOK, "webhook_confirm.html", page{Title: "confirm " + a.Verb, Data: cp})
}

// disabledNotes warns of the disabled or deleted endpoints among ds's: a
// redelivery to one is recorded as skipped again.
func (h *Handler) disabledNotes(ctx context.Context, ds []hooks.Delivery) ([]string, error) {
	var notes []string
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Endpoint] {
			continue
		}
		seen[d.Endpoint] = true
		e, err := h.eps.Get(ctx, d.Endpoint)
		switch {
		case errors.Is(err, hooks.ErrNotFound):
			notes = append(notes, "Endpoint "+d.Endpoint+" was deleted: its redelivery will be recorded as skipped.")
		case err != nil:
			return nil, err
		case !e.Enabled:
			notes = append(notes, "Endpoint "+d.Endpoint+" is disabled ("+e.DisabledReason+"): its redelivery will be recorded as skipped again. Enable it first.")
		}
	}
	return notes, nil
}

// actHook is POST /ui/act of a webhook action: it spends the confirmation,
// acts, and redirects to the result. The caller is authorised already.
// Each action is a few Redis writes per delivery, so it runs within the
// request, detached from its cancellation so a closed tab does not cut it.
func (h *Handler) actHook(w http.ResponseWriter, r *http.Request) {
	if h.eps == nil {
		h.problem(w, r, http.StatusConflict, hooksOff)
		return
	}
	a, err := parseHookAction(r.PostForm)
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := auth.FromContext(r.Context())
	if !h.runs.spend(r.PostFormValue("confirm"), p.ID, a.digest()) {
		h.problem(w, r, http.StatusConflict, "confirm: this action was not confirmed, or its confirmation was used already; nothing was done. Start again from the action's button.")
		return
	}
	ctx := context.WithoutCancel(r.Context())
	res := Result{Action: a.Name, Verb: a.Verb, What: a.What(), Back: a.Back(), Finished: true}
	var n int
	switch a.Name {
	case actRedeliverEvent:
		n, err = h.dlog.RedeliverEvent(ctx, a.Event, a.Endpoint)
	case actRedeliverFailed:
		n, err = h.dlog.RedeliverEndpoint(ctx, a.Endpoint, a.since)
	case actEnable, actDisable:
		on := a.Name == actEnable
		patch := hooks.Patch{Enabled: &on}
		if !on && a.Reason != "" {
			patch.Reason = &a.Reason
		}
		res.Total = 1
		if _, err = h.eps.Update(ctx, a.Endpoint, patch); err == nil {
			n = 1
		} else {
			res.Failed = 1
		}
	}
	res.Done = n
	res.Total = max(res.Total, n)
	switch {
	case errors.Is(err, hooks.ErrNoDeliveries):
		res.Error = "Nothing was redelivered: the delivery log has no delivery of this event (any more)."
	case errors.Is(err, hooks.ErrNotFound):
		res.Error = "Nothing was done: the endpoint was deleted meanwhile."
	case err != nil:
		res.Error = "stopped: " + err.Error() + "; the rest was not done"
	}
	if err != nil {
		h.log.Error("ui: action stopped", slog.String("action", a.Name), slog.String("principal", p.ID),
			slog.String("event", a.Event), slog.String("endpoint", a.Endpoint), slog.Int("done", n), slog.String("error", err.Error()))
	} else {
		h.log.Info("ui: action done", slog.String("action", a.Name), slog.String("principal", p.ID),
			slog.String("event", a.Event), slog.String("endpoint", a.Endpoint), slog.Int("done", n))
	}
	run := h.runs.done(p.ID, res)
	http.Redirect(w, r, "/ui/result?id="+run.id, http.StatusSeeOther)
}

// done records a finished action's result for owner.
func (rs *runs) done(owner string, res Result) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.prune()
	r := &run{id: newID(), owner: owner, started: time.Now(), finished: make(chan struct{}), res: res}
	close(r.finished)
	rs.m[r.id] = r
	return r
}
