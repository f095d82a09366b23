package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

const signingKey = "test-signing-key-0123456789abcdefghijklmnop"

type env struct {
	rdb *redis.Client
	ns  string
	eps *hooks.Endpoints
	now *atomic.Int64 // Unix ms the endpoints read as the time
}

func newEnv(t *testing.T, opts ...hooks.Option) *env {
	t.Helper()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	ns := queuetest.Prefix(t)
	keys, err := hooks.NewKeyring(signingKey)
	require.NoError(t, err)
	eps, err := hooks.NewEndpoints(rdb, ns, keys, opts...)
	require.NoError(t, err)
	now := &atomic.Int64{}
	now.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixMilli())
	hooks.SetClockForTest(eps, func() time.Time { return time.UnixMilli(now.Load()) })
	return &env{rdb: rdb, ns: ns, eps: eps, now: now}
}

func (e *env) advance(d time.Duration) { e.now.Add(d.Milliseconds()) }

// dump is every key and value of the namespace, as text.
func (e *env) dump(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "fl:"+e.ns+":*").Result()
	require.NoError(t, err)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s ", k)
		switch typ := e.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			fmt.Fprintln(&b, e.rdb.HGetAll(ctx, k).Val())
		case "set":
			fmt.Fprintln(&b, e.rdb.SMembers(ctx, k).Val())
		case "string":
			fmt.Fprintln(&b, e.rdb.Get(ctx, k).Val())
		default:
			t.Fatalf("key %s of type %s: the test does not read it", k, typ)
		}
	}
	return b.String()
}

func (e *env) on(t *testing.T) bool {
	t.Helper()
	n, err := e.rdb.Exists(context.Background(), "fl:"+e.ns+":hook:on").Result()
	require.NoError(t, err)
	return n == 1
}

func TestEndpoints_CreateGetList_SecretShownOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://orders.example.com/hook", Events: []webhook.EventType{webhook.LabelDead, webhook.LabelCompleted, webhook.LabelDead}, KeyPrefix: "shop-a-"})
	require.NoError(t, err)
	require.Regexp(t, `^we_[A-Z2-7]{26}$`, ep.ID)
	require.True(t, strings.HasPrefix(ep.Secret, webhook.SecretPrefix), ep.Secret)
	require.Equal(t, []webhook.EventType{webhook.LabelDead, webhook.LabelCompleted}, ep.Events, "repeats dropped, order kept")
	require.True(t, ep.Enabled)

	got, err := e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.Empty(t, got.Secret, "the secret is shown only at creation")
	want := ep
	want.Secret = ""
	require.Equal(t, want, got)

	list, err := e.eps.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []hooks.Endpoint{want}, list)

	// The secret shown is the one deliveries are signed with.
	tg, err := e.eps.Target(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, hooks.Target{ID: ep.ID, URL: ep.URL, Secrets: []string{ep.Secret}, Enabled: true}, tg)
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	require.NoError(t, webhook.Verify(webhook.Sign(body, now, tg.Secrets...), body, ep.Secret, 0, now))

	// Another endpoint has another secret; all events by default.
	other, err := e.eps.Create(ctx, hooks.Spec{URL: "http://127.0.0.1:9/x"})
	require.NoError(t, err)
	require.NotEqual(t, ep.Secret, other.Secret)
	require.Equal(t, []webhook.EventType{}, other.Events)

	_, err = e.eps.Get(ctx, "we_NOPE")
	require.ErrorIs(t, err, hooks.ErrNotFound)
	_, err = e.eps.Target(ctx, "../x")
	require.ErrorIs(t, err, hooks.ErrNotFound)
}

func TestEndpoints_HookOn_ExistsExactlyWhileAnEndpointDoes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	require.False(t, e.on(t))
	a, err := e.eps.Create(ctx, hooks.Spec{URL: "https://a.example.com/"})
	require.NoError(t, err)
	require.True(t, e.on(t))
	b, err := e.eps.Create(ctx, hooks.Spec{URL: "https://b.example.com/"})
	require.NoError(t, err)
	require.NoError(t, e.eps.Disable(ctx, b.ID, "failing"))
	require.NoError(t, e.eps.Delete(ctx, a.ID))
	require.True(t, e.on(t), "a disabled endpoint still counts")
	require.NoError(t, e.eps.Delete(ctx, b.ID))
	require.False(t, e.on(t))
	require.ErrorIs(t, e.eps.Delete(ctx, b.ID), hooks.ErrNotFound)
	require.Empty(t, e.dump(t), "nothing left behind")
}

func TestEndpoints_Create_BadFields_EachNamed_NothingWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.eps.Create(ctx, hooks.Spec{URL: "http://orders.example.com/hook",
		Events: []webhook.EventType{webhook.LabelDead, "label.exploded"}, KeyPrefix: strings.Repeat("k", 256)})
	var inv *hooks.InvalidError
	require.ErrorAs(t, err, &inv)
	fields := []string{}
	for _, p := range inv.Problems {
		fields = append(fields, p.Field)
	}
	require.Equal(t, []string{"url", "events[1]", "keyPrefix"}, fields)
	require.Contains(t, err.Error(), `events[1]: unknown event type "label.exploded"; known: label.completed,`)
	require.Contains(t, err.Error(), "url: uses plain http")
	require.Empty(t, e.dump(t))

	for _, tc := range []struct{ url, want string }{
		{"", "url: is required"},
		{"https://10.0.0.5/hook", "FLEXLABEL_WEBHOOK_ALLOW_PRIVATE"},
		{"https://169.254.169.254/latest", "internal address"},
		{"https://user:pw@example.com/", "user name or password"},
		{"ftp://example.com/", "absolute http"},
		{"https://example.com/" + strings.Repeat("a", hooks.MaxURLLen), "at most 2048"},
	} {
		_, err := e.eps.Create(ctx, hooks.Spec{URL: tc.url})
		require.ErrorAs(t, err, &inv, tc.url)
		require.Contains(t, err.Error(), tc.want, tc.url)
		require.NotContains(t, err.Error(), "pw", "no URL password in the error")
	}
	require.Empty(t, e.dump(t))
}

func TestEndpoints_AllowPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hooks.WithAllowPrivate(true))
	_, err := e.eps.Create(context.Background(), hooks.Spec{URL: "https://10.0.0.5/hook"})
	require.NoError(t, err)
}

func TestEndpoints_Update(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://a.example.com/"})
	require.NoError(t, err)
	e.advance(time.Minute)

	url, prefix, events := "https://b.example.com/h", "shop-b-", []webhook.EventType{webhook.LabelCompleted}
	got, err := e.eps.Update(ctx, ep.ID, hooks.Patch{URL: &url, KeyPrefix: &prefix, Events: &events})
	require.NoError(t, err)
	require.Equal(t, url, got.URL)
	require.Equal(t, prefix, got.KeyPrefix)
	require.Equal(t, events, got.Events)
	require.Equal(t, ep.CreatedAt, got.CreatedAt)
	require.Equal(t, ep.CreatedAt.Add(time.Minute), got.UpdatedAt)
	require.Empty(t, got.Secret)

	off := false
	got, err = e.eps.Update(ctx, ep.ID, hooks.Patch{Enabled: &off})
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Equal(t, hooks.DisabledByOperator, got.DisabledReason)
	on := true
	got, err = e.eps.Update(ctx, ep.ID, hooks.Patch{Enabled: &on})
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.Empty(t, got.DisabledReason, "enabling clears the reason")

	// Bad fields: each named, nothing changed.
	bad, badEvents := "http://c.example.com/", []webhook.EventType{"nope"}
	_, err = e.eps.Update(ctx, ep.ID, hooks.Patch{URL: &bad, Events: &badEvents})
	require.EqualError(t, err, `url: uses plain http to a non-loopback host; use https; events[0]: unknown event type "nope"; known: label.completed, label.document, label.dead, label.redriven, label.discarded, tracking.updated`)
	again, err := e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, got, again)
	_, err = e.eps.Update(ctx, ep.ID, hooks.Patch{})
	require.ErrorContains(t, err, "body: give at least one of")

	_, err = e.eps.Update(ctx, "we_GONE", hooks.Patch{URL: &url})
	require.ErrorIs(t, err, hooks.ErrNotFound)
	require.NoError(t, e.eps.Delete(ctx, ep.ID))
	_, err = e.eps.Update(ctx, ep.ID, hooks.Patch{URL: &url})
	require.ErrorIs(t, err, hooks.ErrNotFound)
	require.ErrorIs(t, e.eps.Disable(ctx, ep.ID, "x"), hooks.ErrNotFound)
	require.Empty(t, e.dump(t), "an update of a deleted endpoint does not bring it back")
}

func TestEndpoints_Disable_ReasonShown_StillMatching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://a.example.com/"})
	require.NoError(t, err)
	require.NoError(t, e.eps.Disable(ctx, ep.ID, "failed for 3 days (last: HTTP 500)"))
	got, err := e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Equal(t, "failed for 3 days (last: HTTP 500)", got.DisabledReason)
	ts, err := e.eps.Matching(ctx, webhook.LabelDead, store.DefaultAccount, "k")
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.False(t, ts[0].Enabled)
	require.NotEmpty(t, ts[0].Secrets)

	// A long reason (one quoting a receiver's answer) is cut, not refused.
	require.NoError(t, e.eps.Disable(ctx, ep.ID, "HTTP 500: "+strings.Repeat("é", 600)))
	got, err = e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, hooks.MaxReasonLen, utf8.RuneCountInString(got.DisabledReason))
	require.True(t, strings.HasSuffix(got.DisabledReason, "é…"))
}

func TestEndpoints_Matching_ByEventsAndKeyPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mk := func(prefix string, events ...webhook.EventType) string {
		ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://x.example.com/" + prefix, Events: events, KeyPrefix: prefix})
		require.NoError(t, err)
		return ep.ID
	}
	all := mk("")
	shopA := mk("shop-a-")
	deadA := mk("shop-a-", webhook.LabelDead)
	completedB := mk("shop-b-", webhook.LabelCompleted, webhook.LabelDocument)
	ids := func(typ webhook.EventType, key string) []string {
		ts, err := e.eps.Matching(ctx, typ, store.DefaultAccount, key)
		require.NoError(t, err)
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	require.ElementsMatch(t, []string{all, shopA, deadA}, ids(webhook.LabelDead, "shop-a-1"))
	require.ElementsMatch(t, []string{all, shopA}, ids(webhook.LabelCompleted, "shop-a-1"))
	require.ElementsMatch(t, []string{all, completedB}, ids(webhook.LabelDocument, "shop-b-7"))
	require.ElementsMatch(t, []string{all}, ids(webhook.LabelDead, "shop-c-1"))
	require.ElementsMatch(t, []string{all}, ids(webhook.LabelDead, "shop-a"), "a prefix longer than the key")
}

// An endpoint's accounts (empty: every account) pick the labels it gets,
// and its key prefix applies within them.
func TestEndpoints_Matching_ByAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mk := func(prefix string, accounts ...string) string {
		ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://x.example.com/", KeyPrefix: prefix, Accounts: accounts})
		require.NoError(t, err)
		require.Equal(t, accounts, ep.Accounts)
		return ep.ID
	}
	all := mk("")
	brandA := mk("", "brand-a")
	brandAShop := mk("shop-", "brand-a")
	ownAndB := mk("", "default", "brand-b")
	ids := func(account, key string) []string {
		ts, err := e.eps.Matching(ctx, webhook.LabelCompleted, account, key)
		require.NoError(t, err)
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	require.ElementsMatch(t, []string{all, brandA, brandAShop}, ids("brand-a", "shop-1"))
	require.ElementsMatch(t, []string{all, brandA}, ids("brand-a", "other-1"))
	require.ElementsMatch(t, []string{all, ownAndB}, ids(store.DefaultAccount, "shop-1"), "brand-a's endpoints get no default-account event")
	require.ElementsMatch(t, []string{all, ownAndB}, ids("brand-b", "shop-1"))
	require.ElementsMatch(t, []string{all}, ids("brand-c", "shop-1"))

	got, err := e.eps.Get(ctx, ownAndB)
	require.NoError(t, err)
	require.Equal(t, []string{"default", "brand-b"}, got.Accounts)
	// Updated to every account (an empty list), then to one.
	up, err := e.eps.Update(ctx, ownAndB, hooks.Patch{Accounts: &[]string{}})
	require.NoError(t, err)
	require.Empty(t, up.Accounts)
	require.ElementsMatch(t, []string{all, brandA, brandAShop, ownAndB}, ids("brand-a", "shop-1"))
	up, err = e.eps.Update(ctx, ownAndB, hooks.Patch{Accounts: &[]string{"brand-c", "brand-c"}})
	require.NoError(t, err)
	require.Equal(t, []string{"brand-c"}, up.Accounts, "repeats dropped")
	require.ElementsMatch(t, []string{all, ownAndB}, ids("brand-c", "x"))

	_, err = e.eps.Create(ctx, hooks.Spec{URL: "https://x.example.com/", Accounts: []string{"ok", "Bad/Name"}})
	var inv *hooks.InvalidError
	require.ErrorAs(t, err, &inv)
	require.Equal(t, []hooks.FieldError{{Field: "accounts[1]", Message: `account "Bad/Name" must be 1 to 32 of a-z, 0-9 and -`}}, inv.Problems)
}

func TestEndpoints_RotateSecret_PreviousValidForAWhile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ep, err := e.eps.Create(ctx, hooks.Spec{URL: "https://a.example.com/"})
	require.NoError(t, err)
	old := ep.Secret

	rot, err := e.eps.RotateSecret(ctx, ep.ID, hooks.DefaultKeepPrevious)
	require.NoError(t, err)
	require.NotEqual(t, old, rot.Secret)
	require.True(t, strings.HasPrefix(rot.Secret, webhook.SecretPrefix))
	require.NotNil(t, rot.PreviousSecretExpiresAt)
	require.Equal(t, ep.CreatedAt.Add(24*time.Hour), *rot.PreviousSecretExpiresAt)

	tg, err := e.eps.Target(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rot.Secret, old}, tg.Secrets, "current first")
	body := []byte(`{"id":"evt_2"}`)
	now := time.Now()
	header := webhook.Sign(body, now, tg.Secrets...)
	require.Equal(t, 2, strings.Count(header, "v1="))
	require.NoError(t, webhook.Verify(header, body, old, 0, now), "a receiver still on the old secret")
	require.NoError(t, webhook.Verify(header, body, rot.Secret, 0, now), "a receiver on the new one")

	got, err := e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.Empty(t, got.Secret)
	require.Equal(t, rot.PreviousSecretExpiresAt, got.PreviousSecretExpiresAt)

	// Past its time the old secret signs nothing.
	e.advance(24 * time.Hour)
	tg, err = e.eps.Target(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rot.Secret}, tg.Secrets)
	got, err = e.eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.Nil(t, got.PreviousSecretExpiresAt)

	// keepPrevious 0: the old one is invalid at once.
	rot2, err := e.eps.RotateSecret(ctx, ep.ID, 0)
	require.NoError(t, err)
	tg, err = e.eps.Target(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rot2.Secret}, tg.Secrets)

	_, err = e.eps.RotateSecret(ctx, ep.ID, 8*24*time.Hour)
	require.ErrorContains(t, err, "keepPreviousFor: must be from 0s to 168h0m0s")
	_, err = e.eps.RotateSecret(ctx, "we_GONE", time.Hour)
	require.ErrorIs(t, err, hooks.ErrNotFound)
	require.NoError(t, e.eps.Delete(ctx, ep.ID))
	_, err = e.eps.RotateSecret(ctx, ep.ID, time.Hour)
	require.ErrorIs(t, err, hooks.ErrNotFound)
	require.Empty(t, e.dump(t))
}

// TestEndpoints_NoSecretInRedis: secrets are derived, never stored; nor is
// the signing key.
func TestEndpoints_NoSecretInRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var secrets []string
	for i := range 3 {
		ep, err := e.eps.Create(ctx, hooks.Spec{URL: fmt.Sprintf("https://x%d.example.com/", i), Events: []webhook.EventType{webhook.LabelDead}})
		require.NoError(t, err)
		secrets = append(secrets, ep.Secret)
		rot, err := e.eps.RotateSecret(ctx, ep.ID, time.Hour)
		require.NoError(t, err)
		secrets = append(secrets, rot.Secret)
	}
	dump := e.dump(t)
	require.Contains(t, dump, "hook:ep:we_", "the scan sees the endpoints")
	for _, s := range secrets {
		require.NotContains(t, dump, s)
		require.NotContains(t, dump, strings.TrimPrefix(s, webhook.SecretPrefix))
	}
	require.NotContains(t, dump, signingKey)
	require.NotContains(t, dump, webhook.SecretPrefix)
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	_, err := hooks.NewKeyring("")
	require.ErrorIs(t, err, hooks.ErrNoSigningKey)
	_, err = hooks.NewKeyring("short-key-that-is-secret")
	require.EqualError(t, err, "hooks: the webhook signing key must be at least 32 bytes, got 24")

	k, err := hooks.NewKeyring(signingKey)
	require.NoError(t, err)
	k2, err := hooks.NewKeyring(signingKey + "x")
	require.NoError(t, err)
	s := k.Secret("we_A", 1)
	require.Equal(t, s, k.Secret("we_A", 1), "deterministic: every process derives the same")
	require.NotEqual(t, s, k.Secret("we_A", 2))
	require.NotEqual(t, s, k.Secret("we_B", 1))
	require.NotEqual(t, s, k2.Secret("we_A", 1))
	require.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, s)

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", slog.Any("keys", k))
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k), buf.String()} {
		require.NotContains(t, out, signingKey)
		require.NotContains(t, out, fmt.Sprintf("%x", signingKey[:8]))
		require.Contains(t, out, "redacted")
	}
	require.Panics(t, func() { hooks.Keyring{}.Secret("we_A", 1) })
	_, err = hooks.NewEndpoints(nil, "ns", hooks.Keyring{})
	require.True(t, errors.Is(err, hooks.ErrNoSigningKey))
}
