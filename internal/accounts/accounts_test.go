package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/accounts"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const secretA, secretB = "ff-SECRET-aaaa1111", "ff-SECRET-bbbb2222"

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestParse_ReadsEveryField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "b.token", secretB+"\n") // a secret mount's trailing newline
	p := write(t, dir, "accounts.yaml", `
accounts:
  - name: brand-a
    token: `+secretA+`
    rateLimit: 10
    baseURL: http://127.0.0.1:9999
  - name: default
    tokenFile: b.token
    environment: staging
  - name: wh-2
    token: tok-c
`)
	set, err := accounts.ReadFile(p, accounts.Options{DefaultRate: 8})
	require.NoError(t, err)
	assert.Equal(t, []string{"brand-a", "default", "wh-2"}, set.Names())
	a, ok := set.Get("brand-a")
	require.True(t, ok)
	assert.Equal(t, secretA, a.Token.Reveal())
	assert.Equal(t, 10.0, a.RateLimit)
	assert.Equal(t, "http://127.0.0.1:9999", a.BaseURL)
	d, ok := set.Default()
	require.True(t, ok)
	assert.Equal(t, secretB, d.Token.Reveal(), "token files are trimmed")
	assert.Equal(t, filepath.Join(dir, "b.token"), d.TokenFile, "relative to the accounts file")
	assert.Equal(t, flexapi.StagingURL, d.BaseURL)
	c, _ := set.Get("wh-2")
	assert.Equal(t, 8.0, c.RateLimit, "FLEXLABEL_RATE_LIMIT when the file gives none")
	assert.Equal(t, flexapi.ProductionURL, c.BaseURL, "production when neither baseURL nor environment")
	_, ok = set.Get("nope")
	assert.False(t, ok)

	// A token never prints, whatever prints the account.
	for _, out := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a.Token), mustJSON(t, a)} {
		assert.NotContains(t, out, secretA)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// Every problem is reported at once, each naming its place; none shows a
// token.
func TestParse_ReportsEveryProblemByPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "accounts.yaml", `
accounts:
  - name: Brand_A
    token: `+secretA+`
  - name: ok
    token: `+secretA+`
    tokenFile: x
    rateLimit: 0
  - name: ok
    baseURL: http://flexforward.example.com
    environment: staging
    token: t
  - name: gone
    tokenFile: missing.token
    environment: mars
  - name: https-user
    token: t
    baseURL: https://user:`+secretB+`@api.example.com
  - name: none
`)
	_, err := accounts.ReadFile(p, accounts.Options{DefaultRate: 8})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`accounts[0].name: must be 1 to 32 of a-z, 0-9 and -, got "Brand_A"`,
		`accounts[1].token: give token or tokenFile, not both`,
		`accounts[1].rateLimit: must be a positive number of calls per second up to 1000, got 0`,
		`accounts[2].name: "ok" is accounts[1] too; names are unique`,
		`accounts[2].baseURL: give baseURL or environment, not both`,
		`accounts[3].tokenFile: cannot be read: ` + filepath.Join(dir, "missing.token"),
		`accounts[3].environment: must be production or staging, got "mars"`,
		`accounts[4].baseURL: must not contain user info`,
		`accounts[5].token: is required (or tokenFile)`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.True(t, strings.HasPrefix(msg, p+": "), msg)
	assert.NotContains(t, msg, secretA)
	assert.NotContains(t, msg, secretB)
}

func TestParse_RefusesWhatIsNotTheFormat(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ file, want string }{
		"misspelt field": {"accounts:\n  - name: a\n    tokn: x\n", "field tokn not found (the fields are name, token, tokenFile, rateLimit, baseURL, environment)"},
		"other top key":  {"acounts: []\n", "field acounts not found (the file has one field, accounts)"},
		"empty":          {"accounts: []\n", "accounts: lists no account"},
		"value not shown": {"accounts:\n  - name: a\n    token: t\n    rateLimit: " + secretA + "\n",
			"cannot unmarshal !!str a value into float64"},
		"not yaml": {"accounts: [\n", "not valid YAML"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := accounts.Parse("f.yaml", []byte(c.file), accounts.Options{DefaultRate: 8})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), secretA)
		})
	}
}

// With FLEXFORWARD_TOKEN set beside the file, that token is the default
// account and the file may not name one "default".
func TestParse_EnvTokenIsTheDefault(t *testing.T) {
	t.Parallel()
	env := &accounts.Account{Name: accounts.DefaultName, Token: secretA, RateLimit: 8, BaseURL: flexapi.ProductionURL}
	set, err := accounts.Parse("f.yaml", []byte("accounts:\n  - name: b\n    token: t\n"), accounts.Options{DefaultRate: 8, Env: env})
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "default"}, set.Names())
	d, _ := set.Default()
	assert.Equal(t, secretA, d.Token.Reveal())

	_, err = accounts.Parse("f.yaml", []byte("accounts:\n  - name: default\n    token: t\n"), accounts.Options{DefaultRate: 8, Env: env})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `accounts[0].name: "default" is the account of FLEXFORWARD_TOKEN`)

	single := accounts.Single(secretA, flexapi.ProductionURL, 8)
	assert.Equal(t, []string{"default"}, single.Names())
}

// An added account is picked up without a restart, a rotated token file
// too; a bad file keeps the accounts as they were and says so once.
func TestLive_ReloadsOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tok := write(t, dir, "a.token", secretA)
	p := write(t, dir, "accounts.yaml", "accounts:\n  - name: a\n    tokenFile: a.token\n")
	logs := &queuetest.Buffer{}
	live, err := accounts.NewLive(p, accounts.Options{DefaultRate: 8}, slog.New(slog.NewJSONHandler(logs, nil)))
	require.NoError(t, err)
	live.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go live.Run(ctx)

	write(t, dir, "accounts.yaml", "accounts:\n  - name: a\n    tokenFile: a.token\n  - name: b\n    token: t\n")
	require.Eventually(t, func() bool { return len(live.Set().Names()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `"added":["b"]`) }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, os.WriteFile(tok, []byte(secretB), 0o600))
	require.Eventually(t, func() bool { a, _ := live.Set().Get("a"); return a.Token.Reveal() == secretB }, 5*time.Second, 5*time.Millisecond)

	write(t, dir, "accounts.yaml", "accounts:\n  - name: BAD\n    token: t\n")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "accounts file not reloaded") }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // several more polls of the same bad file
	assert.Equal(t, 1, strings.Count(logs.String(), "accounts file not reloaded"), "once per distinct problem")
	assert.Equal(t, []string{"a", "b"}, live.Set().Names(), "a bad file keeps the accounts")
	assert.NotContains(t, logs.String(), secretA)
	assert.NotContains(t, logs.String(), secretB)
}
