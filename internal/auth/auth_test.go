package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue"
)

const (
	prodSecret = "prod-0123456789abcdef"
	opSecret   = "oper-0123456789abcdef"
	viewSecret = "view-0123456789abcdef"
)

func TestParseFile_Format(t *testing.T) {
	t.Parallel()
	data := "# flexlabel API tokens\n\n" +
		"producer " + prodSecret + "\tshop-a- shop-b-   # shop A's order system\n" +
		"  operator\t" + opSecret + "\r\n" +
		"viewer " + viewSecret + "\n" +
		"metrics metr-0123456789abcdef\n"
	tokens, err := auth.ParseFile("tokens", []byte(data))
	require.NoError(t, err)
	require.Equal(t, []auth.Token{
		{Scope: auth.Producer, Secret: prodSecret, Prefixes: []string{"shop-a-", "shop-b-"}},
		{Scope: auth.Operator, Secret: opSecret},
		{Scope: auth.Viewer, Secret: viewSecret},
		{Scope: auth.Metrics, Secret: "metr-0123456789abcdef"},
	}, tokens)
}

func TestParseFile_BadLines_NamedByLineWithoutTheToken(t *testing.T) {
	t.Parallel()
	const secret = "sec-0123456789abcdef"
	cases := []struct{ line, want string }{
		{"all " + secret, `f:2: scope "all" is not one of producer, operator, viewer, metrics`},
		{secret + " producer", "f:2: the first field (20 characters, not shown: it may be a token) is not one of"},
		{"producer", "f:2: producer line has no token"},
		{"producer short", "f:2: token is shorter than 16 characters"},
		{"operator " + secret + " shop-a-", "f:2: key prefixes are allowed on producer lines only, this is a operator line"},
		{"viewer " + opSecret, "f:2: token " + auth.TokenID(opSecret) + " is already on line 1"},
	}
	for _, c := range cases {
		_, err := auth.ParseFile("f", []byte("operator "+opSecret+"\n"+c.line+"\n"))
		require.ErrorContains(t, err, c.want, c.line)
		require.NotContains(t, err.Error(), secret, c.line)
		require.NotContains(t, err.Error(), opSecret, c.line)
	}
	// Every problem at once.
	_, err := auth.ParseFile("f", []byte("nope x\nproducer short\n"))
	require.ErrorContains(t, err, "f:1:")
	require.ErrorContains(t, err, "f:2:")
}

func TestParseFile_Accounts(t *testing.T) {
	t.Parallel()
	data := "producer " + prodSecret + " shop-a- accounts=brand-a,brand-b shop-b-\n" +
		"operator " + opSecret + " accounts=brand-a\n" +
		"viewer " + viewSecret + "\n"
	tokens, err := auth.ParseFile("tokens", []byte(data))
	require.NoError(t, err)
	require.Equal(t, []auth.Token{
		{Scope: auth.Producer, Secret: prodSecret, Prefixes: []string{"shop-a-", "shop-b-"}, Accounts: []string{"brand-a", "brand-b"}},
		{Scope: auth.Operator, Secret: opSecret, Accounts: []string{"brand-a"}},
		{Scope: auth.Viewer, Secret: viewSecret},
	}, tokens)
	require.Equal(t, []string{"brand-a"}, tokens[1].Principal().Accounts)
}

func TestParseFile_BadAccounts_NamedByLineAndField(t *testing.T) {
	t.Parallel()
	const secret = "sec-0123456789abcdef"
	cases := []struct{ fields, want string }{
		{"accounts=Brand_A", `f:1: accounts: "Brand_A" is not an account name (1 to 32 of a-z, 0-9 and -, separated by commas)`},
		{"accounts=brand-a,,brand-b", `f:1: accounts: "" is not an account name`},
		{"accounts=", "f:1: accounts: empty; name at least one account"},
		{"accounts=brand-a,brand-a", `f:1: accounts: "brand-a" is listed twice`},
		{"accounts=brand-a accounts=brand-b", "f:1: accounts: given 2 times; list every account in one field"},
		{"accounts=" + strings.ToUpper(secret), "f:1: accounts: a name of 20 characters (not shown: it may be a token) is not an account name"},
	}
	for _, c := range cases {
		_, err := auth.ParseFile("f", []byte("producer "+secret+" "+c.fields+"\n"))
		require.ErrorContains(t, err, c.want, c.fields)
		require.NotContains(t, strings.ToLower(err.Error()), secret, c.fields)
	}
	_, err := auth.ParseFile("f", []byte("metrics "+secret+" accounts=brand-a\n"))
	require.ErrorContains(t, err, "f:1: accounts: not allowed on metrics lines")
}

// The tokens file's account names follow the queue's rule exactly.
func TestValidAccountName_IsTheQueues(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"", "default", "brand-a", "a", "-", "0-9", strings.Repeat("a", 32), strings.Repeat("a", 33),
		"Brand", "brand_a", "brand.a", "brand a", "brand/a", "brand@a", "ä", "brand-a\n"} {
		require.Equal(t, queue.ValidAccountName(a), auth.ValidAccountNameForTest(a), "%q", a)
	}
}

func TestPrincipal_CheckAccount(t *testing.T) {
	t.Parallel()
	p := auth.Principal{Scope: auth.Producer, Accounts: []string{"brand-a"}}
	require.NoError(t, p.CheckAccount("brand-a"))
	require.EqualError(t, p.CheckAccount("default"), `this token may only act on account "brand-a", not "default"`)
	p.Accounts = append(p.Accounts, "brand-b")
	require.EqualError(t, p.CheckAccount("brand-c"), `this token may only act on accounts "brand-a" or "brand-b", not "brand-c"`)
	require.NoError(t, auth.Principal{Scope: auth.Operator}.CheckAccount("anything"), "a token bound to no account acts on every one")
}

func TestToken_PrintsWithoutSecret(t *testing.T) {
	t.Parallel()
	tok := auth.Token{Scope: auth.Producer, Secret: prodSecret, Prefixes: []string{"a-"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", slog.Any("token", tok))
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v %#v %v %s %x", tok, tok, []auth.Token{tok}, tok, tok), logs.String()} {
		require.NotContains(t, s, prodSecret)
		require.Contains(t, s, tok.ID())
	}
	require.Regexp(t, `^tok-[0-9a-f]{12}$`, tok.ID())
	require.Equal(t, tok.ID(), auth.Token{Secret: prodSecret}.ID(), "the id depends on the secret only")
	require.NotEqual(t, tok.ID(), auth.TokenID(opSecret))
}

func TestSet_LookupAndReplace(t *testing.T) {
	t.Parallel()
	s, err := auth.NewSet([]auth.Token{{Scope: auth.All, Secret: prodSecret}})
	require.NoError(t, err)
	p, ok := s.Lookup(prodSecret)
	require.True(t, ok)
	require.Equal(t, auth.Principal{ID: auth.TokenID(prodSecret), Scope: auth.All}, p)
	_, ok = s.Lookup(prodSecret[:len(prodSecret)-1])
	require.False(t, ok)
	_, ok = s.Lookup("")
	require.False(t, ok)

	// A duplicate keeps the old set.
	err = s.Replace([]auth.Token{{Scope: auth.Viewer, Secret: viewSecret}, {Scope: auth.Operator, Secret: viewSecret}})
	require.ErrorContains(t, err, "twice")
	require.NotContains(t, err.Error(), viewSecret)
	_, ok = s.Lookup(prodSecret)
	require.True(t, ok)

	require.NoError(t, s.Replace([]auth.Token{{Scope: auth.Viewer, Secret: viewSecret}}))
	_, ok = s.Lookup(prodSecret)
	require.False(t, ok)
	p, ok = s.Lookup(viewSecret)
	require.True(t, ok)
	require.Equal(t, auth.Viewer, p.Scope)
	require.Equal(t, 1, s.Len())
}

func TestPrincipal_CheckKey(t *testing.T) {
	t.Parallel()
	p := auth.Principal{Scope: auth.Producer, Prefixes: []string{"shop-a-", "shop-b-"}}
	require.NoError(t, p.CheckKey("shop-b-1"))
	require.EqualError(t, p.CheckKey("shop-c-1"), `idempotencyKey: this token may only use keys starting with "shop-a-" or "shop-b-"`)
	require.NoError(t, auth.Principal{Scope: auth.Producer}.CheckKey("anything"))
}

// syncBuffer is a log sink the watcher's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(sub string) int { return strings.Count(s.String(), sub) }

type watched struct {
	path   string
	set    *auth.Set
	logs   *syncBuffer
	reload chan os.Signal
}

// watch starts a watcher over a tokens file holding content; interval 0
// polls often, a long one leaves reloading to SIGHUP.
func watch(t *testing.T, content string, interval time.Duration) *watched {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	fixed := []auth.Token{{Scope: auth.All, Secret: "env-0123456789abcdef"}}
	tokens, sum, err := auth.ReadFile(path)
	require.NoError(t, err)
	set, err := auth.NewSet(append(append([]auth.Token{}, fixed...), tokens...))
	require.NoError(t, err)
	w := &watched{path: path, set: set, logs: &syncBuffer{}, reload: make(chan os.Signal, 1)}
	if interval == 0 {
		interval = 5 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	watcher := &auth.Watcher{Path: path, Fixed: fixed, Set: set, Log: slog.New(slog.NewJSONHandler(w.logs, nil)),
		Interval: interval, Reload: w.reload, Loaded: sum}
	go func() { defer close(done); watcher.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *watched) has(secret string) bool { _, ok := w.set.Lookup(secret); return ok }

func TestWatcher_ContentChange_Reloads_BadFileKeepsOld(t *testing.T) {
	t.Parallel()
	w := watch(t, "producer "+prodSecret+"\n", 0)
	require.True(t, w.has(prodSecret))

	// Rotation: the new token next to the old.
	require.NoError(t, os.WriteFile(w.path, []byte("producer "+prodSecret+"\nproducer "+opSecret+"\n"), 0o600))
	require.Eventually(t, func() bool { return w.has(opSecret) }, 10*time.Second, time.Millisecond)
	require.True(t, w.has(prodSecret))
	require.True(t, w.has("env-0123456789abcdef"), "FLEXLABEL_API_TOKENS stays valid")
	require.Contains(t, w.logs.String(), `"msg":"api tokens reloaded"`)
	require.Contains(t, w.logs.String(), `"tokens":2,"producer":2`)

	// A bad file leaves the set as it was, and says why, without the token.
	require.NoError(t, os.WriteFile(w.path, []byte("producer "+viewSecret+"\noperator "+prodSecret+" shop-\n"), 0o600))
	require.Eventually(t, func() bool { return w.logs.count("not reloaded") == 1 }, 10*time.Second, time.Millisecond)
	require.Contains(t, w.logs.String(), w.path+":2: key prefixes are allowed on producer lines only")
	require.False(t, w.has(viewSecret))
	require.True(t, w.has(opSecret))

	// A symlink swap, as a Kubernetes secret mount does it.
	next := filepath.Join(filepath.Dir(w.path), "tokens.next")
	require.NoError(t, os.WriteFile(next, []byte("viewer "+viewSecret+"\n"), 0o600))
	link := filepath.Join(filepath.Dir(w.path), "tokens.link")
	require.NoError(t, os.Symlink(next, link))
	require.NoError(t, os.Rename(link, w.path))
	require.Eventually(t, func() bool { return w.has(viewSecret) }, 10*time.Second, time.Millisecond)
	require.False(t, w.has(prodSecret), "a token removed from the file stops working")
	require.Equal(t, 1, w.logs.count("not reloaded"), "a bad file is reported once, not every poll")

	for _, s := range []string{prodSecret, opSecret, viewSecret, "env-0123456789abcdef"} {
		require.NotContains(t, w.logs.String(), s)
	}
}

func TestWatcher_SIGHUP_Reloads(t *testing.T) {
	t.Parallel()
	w := watch(t, "producer "+prodSecret+"\n", time.Hour)
	require.NoError(t, os.WriteFile(w.path, []byte("operator "+opSecret+"\n"), 0o600))
	w.reload <- syscall.SIGHUP
	require.Eventually(t, func() bool { return w.has(opSecret) }, 10*time.Second, time.Millisecond)
	require.False(t, w.has(prodSecret))
	// The reload line is logged after the new set is in place.
	require.Eventually(t, func() bool { return strings.Contains(w.logs.String(), `"operator":1`) },
		10*time.Second, time.Millisecond, "the reload is logged with its counts: %s", w.logs.String())

	// A file that cannot be read keeps the tokens.
	require.NoError(t, os.Remove(w.path))
	w.reload <- syscall.SIGHUP
	require.Eventually(t, func() bool { return w.logs.count("not reloaded") == 1 }, 10*time.Second, time.Millisecond)
	require.True(t, w.has(opSecret))
}

// Tokens lists what a rotation needs to see — each token's id, scope,
// prefixes and when it was last accepted — never a secret, and a token's
// last use survives a reload that keeps it.
func TestSet_Tokens_LastUsedSurvivesReload(t *testing.T) {
	t.Parallel()
	oldTok := auth.Token{Scope: auth.Producer, Secret: "old-producer-secret-0001", Prefixes: []string{"shop-a-"}}
	newTok := auth.Token{Scope: auth.Producer, Secret: "new-producer-secret-0002", Prefixes: []string{"shop-a-"}}
	op := auth.Token{Scope: auth.Operator, Secret: "operator-secret-000003"}
	s, err := auth.NewSet([]auth.Token{oldTok, op})
	require.NoError(t, err)

	before := time.Now()
	_, ok := s.Lookup(oldTok.Secret)
	require.True(t, ok)
	_, ok = s.Lookup("not-a-configured-token")
	require.False(t, ok)

	require.NoError(t, s.Replace([]auth.Token{oldTok, newTok, op}))
	got, loadedAt := s.Tokens()
	require.False(t, loadedAt.Before(before), "loadedAt is the last Replace")
	require.Len(t, got, 3)
	byID := map[string]auth.TokenInfo{}
	for _, ti := range got {
		byID[ti.ID] = ti
	}
	require.Equal(t, auth.Operator, got[0].Scope, "sorted by scope")
	require.False(t, byID[oldTok.ID()].LastUsed.Before(before), "the old token's use is remembered across the reload")
	require.True(t, byID[newTok.ID()].LastUsed.IsZero(), "the new token was never used")
	require.True(t, byID[op.ID()].LastUsed.IsZero())
	require.Equal(t, []string{"shop-a-"}, byID[newTok.ID()].Prefixes)
	require.NoError(t, s.Replace([]auth.Token{{Scope: auth.Viewer, Secret: viewSecret, Accounts: []string{"brand-a"}}}))
	got, _ = s.Tokens()
	require.Equal(t, []string{"brand-a"}, got[0].Accounts)
	require.NotContains(t, fmt.Sprintf("%+v", got), "secret", "no secret in what Tokens hands out")
}
