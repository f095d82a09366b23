package hooks

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
)

// Limits and defaults of an endpoint's fields.
const (
	// IDPrefix starts every endpoint id.
	IDPrefix = "we_"
	// MaxURLLen is the longest destination URL taken.
	MaxURLLen = 2048
	// MaxKeyPrefixLen is the longest keyPrefix: an idempotencyKey's limit
	// (store.MaxKeyLen), since a longer prefix matches no key.
	MaxKeyPrefixLen = 255
	// MaxReasonLen is the longest disabledReason kept.
	MaxReasonLen = 500
	// DefaultKeepPrevious is how long a rotated-out secret stays valid
	// (Stripe's default), so receivers can switch without losing a delivery.
	DefaultKeepPrevious = 24 * time.Hour
	// MaxKeepPrevious bounds it.
	MaxKeepPrevious = 7 * 24 * time.Hour
	// DisabledByOperator is the disabledReason when an operator gives none.
	DisabledByOperator = "disabled by an operator"
)

// ErrNotFound is an endpoint id that does not exist (or no longer does).
var ErrNotFound = errors.New("hooks: no such webhook endpoint")

// eventTypes are the types an endpoint may subscribe to: every
// webhook.EventType.
var eventTypes = []webhook.EventType{
	webhook.LabelCompleted, webhook.LabelDocument, webhook.LabelDead,
	webhook.LabelRedriven, webhook.LabelDiscarded, webhook.TrackingUpdated,
}

// EventTypes returns the event types an endpoint may subscribe to.
func EventTypes() []webhook.EventType { return slices.Clone(eventTypes) }

// Endpoint is one subscription, as the HTTP API and `flexlabel webhooks
// --json` show it.
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the types delivered; empty means all.
	Events []webhook.EventType `json:"events"`
	// KeyPrefix limits deliveries to idempotency keys starting with it;
	// empty means all keys.
	KeyPrefix string `json:"keyPrefix"`
	// Accounts limits deliveries to the labels of these Flex Forward
	// accounts ("default" is the namespace's own); empty (shown absent)
	// means every account. KeyPrefix applies within them.
	Accounts []string `json:"accounts,omitempty"`
	Enabled  bool     `json:"enabled"`
	// DisabledReason says why a disabled endpoint is (an operator, or
	// automatic disabling after failing deliveries).
	DisabledReason string    `json:"disabledReason,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	// Secret is the current signing secret: set only by Create and
	// RotateSecret, the two moments it is shown.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is set while a rotated-out secret still
	// signs deliveries, next to the current one.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
}

// Spec is a new endpoint.
type Spec struct {
	URL       string
	Events    []webhook.EventType
	KeyPrefix string
	// Accounts: empty means every account.
	Accounts []string
}

// Patch changes an endpoint; nil fields stay as they are. Enabled true
// clears the disabled reason; Enabled false takes Reason (default
// DisabledByOperator).
type Patch struct {
	URL       *string
	Events    *[]webhook.EventType
	KeyPrefix *string
	// Accounts replaces the accounts; an empty list means every account.
	Accounts *[]string
	Enabled  *bool
	Reason   *string
}

// FieldError is one bad field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidError lists every bad field of a request; nothing was written.
type InvalidError struct {
	Problems []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

// Target is what a delivery needs of an endpoint.
type Target struct {
	ID, URL string
	// Secrets sign the delivery: the current one first, then a
	// rotated-out one still valid.
	Secrets []string
	Enabled bool
}

// Endpoints stores one namespace's webhook endpoints in Redis:
// P+"hook:eps" (the set of ids), P+"hook:ep:<id>" (a hash per endpoint) and
// P+"hook:on", which exists exactly while at least one endpoint does, so the
// scripts that record events pay one EXISTS when there are none. Secrets are
// derived by the Keyring and never stored. It is safe for concurrent use.
type Endpoints struct {
	rdb          redis.UniversalClient
	keys         Keyring
	ns           string // "fl:<namespace>:"
	allowPrivate bool
	now          func() time.Time
}

// Option configures Endpoints.
type Option func(*Endpoints)

// WithAllowPrivate lets endpoints point at private and link-local
// addresses (FLEXLABEL_WEBHOOK_ALLOW_PRIVATE); see webhook.CheckURL.
func WithAllowPrivate(allow bool) Option { return func(e *Endpoints) { e.allowPrivate = allow } }

// NewEndpoints returns the endpoints of namespace (the queue's, default
// "flexlabel") on rdb, deriving secrets with keys, which must come from
// NewKeyring. It does not take ownership of rdb.
func NewEndpoints(rdb redis.UniversalClient, namespace string, keys Keyring, opts ...Option) (*Endpoints, error) {
	if namespace == "" {
		namespace = "flexlabel"
	}
	if strings.ContainsAny(namespace, "{}: \t\r\n") {
		return nil, fmt.Errorf("hooks: namespace %q must not contain braces, colons or spaces", namespace)
	}
	if len(keys.key) == 0 {
		return nil, ErrNoSigningKey
	}
	e := &Endpoints{rdb: rdb, keys: keys, ns: "fl:" + namespace + ":", now: time.Now}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// The endpoints' keys (see Endpoints).
func (e *Endpoints) setKey() string         { return e.ns + "hook:eps" }
func (e *Endpoints) onKey() string          { return e.ns + "hook:on" }
func (e *Endpoints) epKey(id string) string { return e.ns + "hook:ep:" + id }

// validID tells an id Create could have made; any other is not found
// without asking Redis, and never names another key.
func validID(id string) bool {
	return strings.HasPrefix(id, IDPrefix) && len(id) <= 64 && !strings.ContainsAny(id, ": \t\r\n")
}

// ms is a time as stored: Unix milliseconds.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// joinEvents is an events list as stored: comma-separated ("" for all).
func joinEvents(ev []webhook.EventType) string { return strings.Join(strs(ev), ",") }

func strs(ev []webhook.EventType) []string {
	out := make([]string, len(ev))
	for i, t := range ev {
		out[i] = string(t)
	}
	return out
}

// checkURL checks a destination; "" when it is fine.
func (e *Endpoints) checkURL(raw string) string {
	if raw == "" {
		return "is required: the https:// URL deliveries are POSTed to"
	}
	if len(raw) > MaxURLLen {
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxURLLen, len(raw))
	}
	if err := webhook.CheckURL(raw, e.allowPrivate); err != nil {
		var ue *webhook.URLError
		if errors.As(err, &ue) {
			msg := ue.Err.Error()
			if errors.Is(err, webhook.ErrAddressRefused) {
				msg += "; set FLEXLABEL_WEBHOOK_ALLOW_PRIVATE=true to allow receivers inside the network"
			}
			return msg
		}
		return err.Error()
	}
	return ""
}

// checkEvents returns the events without repeats, in their order, and the
// problems, one per bad element (events[i]).
func checkEvents(in []webhook.EventType) ([]webhook.EventType, []FieldError) {
	out := make([]webhook.EventType, 0, len(in))
	var bad []FieldError
	known := strings.Join(strs(eventTypes), ", ")
	for i, t := range in {
		if !slices.Contains(eventTypes, t) {
			bad = append(bad, FieldError{fmt.Sprintf("events[%d]", i), fmt.Sprintf("unknown event type %q; known: %s", t, known)})
			continue
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, bad
}

// checkAccounts returns the accounts without repeats, in their order, and
// the problems, one per bad element (accounts[i]).
func checkAccounts(in []string) ([]string, []FieldError) {
	out := make([]string, 0, len(in))
	var bad []FieldError
	for i, a := range in {
		if !store.ValidAccountName(a) {
			bad = append(bad, FieldError{fmt.Sprintf("accounts[%d]", i), fmt.Sprintf("account %q must be 1 to 32 of a-z, 0-9 and -", a)})
			continue
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, bad
}

func checkKeyPrefix(p string) string {
	if n := utf8.RuneCountInString(p); n > MaxKeyPrefixLen {
		return fmt.Sprintf("must be at most %d characters (the idempotencyKey limit), got %d", MaxKeyPrefixLen, n)
	}
	if !utf8.ValidString(p) {
		return "must be valid UTF-8"
	}
	return ""
}

// Create validates s and stores a new enabled endpoint of generation 1,
// returning it with its secret (the one time Create shows it). A bad field
// is an *InvalidError naming every one; nothing is written then.
func (e *Endpoints) Create(ctx context.Context, s Spec) (Endpoint, error) {
	var problems []FieldError
	if msg := e.checkURL(s.URL); msg != "" {
		problems = append(problems, FieldError{"url", msg})
	}
	events, bad := checkEvents(s.Events)
	problems = append(problems, bad...)
	if msg := checkKeyPrefix(s.KeyPrefix); msg != "" {
		problems = append(problems, FieldError{"keyPrefix", msg})
	}
	accounts, bad := checkAccounts(s.Accounts)
	problems = append(problems, bad...)
	if len(problems) > 0 {
		return Endpoint{}, &InvalidError{Problems: problems}
	}
	id := IDPrefix + rand.Text()
	now := e.now()
	fields := []any{"url", s.URL, "events", joinEvents(events), "prefix", s.KeyPrefix, "enabled", "1",
		"reason", "", "created", ms(now), "updated", ms(now), "gen", "1"}
	if len(accounts) > 0 {
		// Absent for every account, as endpoints made before accounts were.
		fields = append(fields, "accounts", strings.Join(accounts, ","))
	} else {
		accounts = nil
	}
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, e.epKey(id), fields...)
		p.SAdd(ctx, e.setKey(), id)
		p.Set(ctx, e.onKey(), "1", 0)
		return nil
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("hooks: creating an endpoint: %w", err)
	}
	ep := Endpoint{ID: id, URL: s.URL, Events: events, KeyPrefix: s.KeyPrefix, Accounts: accounts, Enabled: true,
		CreatedAt: now.UTC().Truncate(time.Millisecond), UpdatedAt: now.UTC().Truncate(time.Millisecond),
		Secret: e.keys.Secret(id, 1)}
	return ep, nil
}

// record is an endpoint's hash, parsed.
type record struct {
	Endpoint
	gen, pgen int64
	pexp      time.Time
}

func parseRecord(id string, h map[string]string) (record, bool) {
	if len(h) == 0 {
		return record{}, false
	}
	msTime := func(f string) time.Time {
		n, _ := strconv.ParseInt(h[f], 10, 64)
		return time.UnixMilli(n).UTC()
	}
	r := record{Endpoint: Endpoint{ID: id, URL: h["url"], Events: []webhook.EventType{}, KeyPrefix: h["prefix"],
		Enabled: h["enabled"] == "1", DisabledReason: h["reason"], CreatedAt: msTime("created"), UpdatedAt: msTime("updated")}}
	if h["events"] != "" {
		for t := range strings.SplitSeq(h["events"], ",") {
			r.Events = append(r.Events, webhook.EventType(t))
		}
	}
	if h["accounts"] != "" {
		r.Accounts = strings.Split(h["accounts"], ",")
	}
	r.gen, _ = strconv.ParseInt(h["gen"], 10, 64)
	r.pgen, _ = strconv.ParseInt(h["pgen"], 10, 64)
	if h["pexp"] != "" {
		r.pexp = msTime("pexp")
	}
	return r, true
}

// public is the endpoint as shown, without its secret.
func (r record) public(now time.Time) Endpoint {
	ep := r.Endpoint
	if r.pgen > 0 && r.pexp.After(now) {
		t := r.pexp
		ep.PreviousSecretExpiresAt = &t
	}
	return ep
}

func (e *Endpoints) load(ctx context.Context, id string) (record, error) {
	if !validID(id) {
		return record{}, ErrNotFound
	}
	h, err := e.rdb.HGetAll(ctx, e.epKey(id)).Result()
	if err != nil {
		return record{}, fmt.Errorf("hooks: reading endpoint %s: %w", id, err)
	}
	r, ok := parseRecord(id, h)
	if !ok {
		return record{}, ErrNotFound
	}
	return r, nil
}

// Get returns one endpoint, without its secret; ErrNotFound if there is none.
func (e *Endpoints) Get(ctx context.Context, id string) (Endpoint, error) {
	r, err := e.load(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	return r.public(e.now()), nil
}

// all reads every endpoint, oldest first.
func (e *Endpoints) all(ctx context.Context) ([]record, error) {
	ids, err := e.rdb.SMembers(ctx, e.setKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("hooks: listing endpoints: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if len(ids) > 0 {
		_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, e.epKey(id))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("hooks: listing endpoints: %w", err)
		}
	}
	out := make([]record, 0, len(ids))
	for i, id := range ids {
		if r, ok := parseRecord(id, cmds[i].Val()); ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b record) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// List returns every endpoint, oldest first, without secrets.
func (e *Endpoints) List(ctx context.Context) ([]Endpoint, error) {
	rs, err := e.all(ctx)
	if err != nil {
		return nil, err
	}
	now := e.now()
	out := make([]Endpoint, len(rs))
	for i, r := range rs {
		out[i] = r.public(now)
	}
	return out, nil
}

// updateScript sets fields of an endpoint's hash if it exists, and returns
// the hash as it then is (nil when it does not exist).
// KEYS[1] the endpoint's hash; ARGV field, value pairs.
var updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], unpack(ARGV))
return redis.call('HGETALL', KEYS[1])
`)

// rotateScript starts a new generation, keeping the one before valid until
// ARGV[2]; it returns the hash as it then is (nil when it does not exist).
// KEYS[1] the endpoint's hash; ARGV[1] now (Unix ms), ARGV[2] the previous
// generation's expiry (Unix ms).
var rotateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'pgen', gen - 1, 'pexp', ARGV[2], 'updated', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`)

// deleteScript deletes an endpoint, and hook:on with the last one.
// KEYS[1] the endpoint's hash, KEYS[2] hook:eps, KEYS[3] hook:on; ARGV[1]
// the id. Returns 0 when there was no such endpoint.
var deleteScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[3]) end
return 1
`)

// runHash runs a script answering an endpoint's hash as HGETALL does.
func (e *Endpoints) runHash(ctx context.Context, s *redis.Script, id string, args ...any) (record, error) {
	v, err := s.Run(ctx, e.rdb, []string{e.epKey(id)}, args...).Result()
	if errors.Is(err, redis.Nil) {
		return record{}, ErrNotFound
	}
	if err != nil {
		return record{}, fmt.Errorf("hooks: changing endpoint %s: %w", id, err)
	}
	flat, _ := v.([]any)
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		val, _ := flat[i+1].(string)
		h[k] = val
	}
	r, ok := parseRecord(id, h)
	if !ok {
		return record{}, ErrNotFound
	}
	return r, nil
}

// Update applies p to endpoint id and returns it as it then is, without
// its secret. Bad fields are an *InvalidError naming each, and nothing is
// written; ErrNotFound if there is no such endpoint.
func (e *Endpoints) Update(ctx context.Context, id string, p Patch) (Endpoint, error) {
	var problems []FieldError
	var fields []any
	if p.URL == nil && p.Events == nil && p.KeyPrefix == nil && p.Accounts == nil && p.Enabled == nil {
		problems = append(problems, FieldError{"body", "give at least one of url, events, keyPrefix, accounts, enabled"})
	}
	if p.URL != nil {
		if msg := e.checkURL(*p.URL); msg != "" {
			problems = append(problems, FieldError{"url", msg})
		}
		fields = append(fields, "url", *p.URL)
	}
	if p.Events != nil {
		events, bad := checkEvents(*p.Events)
		problems = append(problems, bad...)
		fields = append(fields, "events", joinEvents(events))
	}
	if p.KeyPrefix != nil {
		if msg := checkKeyPrefix(*p.KeyPrefix); msg != "" {
			problems = append(problems, FieldError{"keyPrefix", msg})
		}
		fields = append(fields, "prefix", *p.KeyPrefix)
	}
	if p.Accounts != nil {
		accounts, bad := checkAccounts(*p.Accounts)
		problems = append(problems, bad...)
		fields = append(fields, "accounts", strings.Join(accounts, ","))
	}
	if p.Reason != nil && (p.Enabled == nil || *p.Enabled) {
		problems = append(problems, FieldError{"reason", "only when disabling"})
	}
	if p.Enabled != nil {
		if *p.Enabled {
			fields = append(fields, "enabled", "1", "reason", "")
		} else {
			reason := DisabledByOperator
			if p.Reason != nil && strings.TrimSpace(*p.Reason) != "" {
				reason = strings.TrimSpace(*p.Reason)
			}
			if n := utf8.RuneCountInString(reason); n > MaxReasonLen {
				problems = append(problems, FieldError{"reason", fmt.Sprintf("must be at most %d characters, got %d", MaxReasonLen, n)})
			}
			fields = append(fields, "enabled", "0", "reason", reason)
		}
	}
	if len(problems) > 0 {
		return Endpoint{}, &InvalidError{Problems: problems}
	}
	if !validID(id) {
		return Endpoint{}, ErrNotFound
	}
	fields = append(fields, "updated", ms(e.now()))
	r, err := e.runHash(ctx, updateScript, id, fields...)
	if err != nil {
		return Endpoint{}, err
	}
	return r.public(e.now()), nil
}

// Disable disables endpoint id with reason, shown to operators (automatic
// disabling after failing deliveries calls it); its events stay
// redeliverable. A reason longer than MaxReasonLen is cut there (it may
// quote a receiver's answer), not refused. ErrNotFound if there is no such
// endpoint.
func (e *Endpoints) Disable(ctx context.Context, id, reason string) error {
	if utf8.RuneCountInString(reason) > MaxReasonLen {
		reason = string([]rune(reason)[:MaxReasonLen-1]) + "…"
	}
	off := false
	_, err := e.Update(ctx, id, Patch{Enabled: &off, Reason: &reason})
	return err
}

// Delete removes endpoint id; ErrNotFound if there is no such endpoint.
func (e *Endpoints) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	n, err := deleteScript.Run(ctx, e.rdb, []string{e.epKey(id), e.setKey(), e.onKey()}, id).Int()
	if err != nil {
		return fmt.Errorf("hooks: deleting endpoint %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RotateSecret gives endpoint id a new secret and returns the endpoint
// with it (the one time it is shown). The secret it replaces keeps signing
// deliveries, next to the new one, for keepPrevious (0: not at all; at most
// MaxKeepPrevious); a secret rotated out before is dropped at once.
func (e *Endpoints) RotateSecret(ctx context.Context, id string, keepPrevious time.Duration) (Endpoint, error) {
	if keepPrevious < 0 || keepPrevious > MaxKeepPrevious {
		return Endpoint{}, &InvalidError{Problems: []FieldError{{"keepPreviousFor",
			fmt.Sprintf("must be from 0s to %s, got %s", MaxKeepPrevious, keepPrevious)}}}
	}
	if !validID(id) {
		return Endpoint{}, ErrNotFound
	}
	now := e.now()
	r, err := e.runHash(ctx, rotateScript, id, ms(now), ms(now.Add(keepPrevious)))
	if err != nil {
		return Endpoint{}, err
	}
	ep := r.public(now)
	ep.Secret = e.keys.Secret(id, r.gen)
	return ep, nil
}

// target is the Target of a record at now.
func (e *Endpoints) target(r record, now time.Time) Target {
	t := Target{ID: r.ID, URL: r.URL, Enabled: r.Enabled, Secrets: []string{e.keys.Secret(r.ID, r.gen)}}
	if r.pgen > 0 && r.pexp.After(now) {
		t.Secrets = append(t.Secrets, e.keys.Secret(r.ID, r.pgen))
	}
	return t
}

// Target returns what a delivery to endpoint id needs; ErrNotFound when it
// is gone.
func (e *Endpoints) Target(ctx context.Context, id string) (Target, error) {
	r, err := e.load(ctx, id)
	if err != nil {
		return Target{}, err
	}
	return e.target(r, e.now()), nil
}

// Matching returns the endpoints that take an event of type t about
// account's key: by their events (empty: all), accounts (empty: all) and
// key prefix. Disabled endpoints are included, with Enabled false, so that
// their deliveries are recorded and stay redeliverable.
func (e *Endpoints) Matching(ctx context.Context, t webhook.EventType, account, key string) ([]Target, error) {
	rs, err := e.all(ctx)
	if err != nil {
		return nil, err
	}
	now := e.now()
	var out []Target
	for _, r := range rs {
		if (len(r.Events) == 0 || slices.Contains(r.Events, t)) && (len(r.Accounts) == 0 || slices.Contains(r.Accounts, account)) &&
			strings.HasPrefix(key, r.KeyPrefix) {
			out = append(out, e.target(r, now))
		}
	}
	return out, nil
}
