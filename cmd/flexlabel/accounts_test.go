package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func cliAccountToken(a string) string { return "tok-" + a + "-CLI-SECRET-19c4" }

// writeAccounts writes an accounts file of the named accounts on the fake
// API, brand-b's token from a tokenFile as a Kubernetes secret mount gives it.
func writeAccounts(t *testing.T, path, baseURL string, names ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, n := range names {
		if n == "brand-b" {
			tf := filepath.Join(filepath.Dir(path), n+".token")
			require.NoError(t, os.WriteFile(tf, []byte(cliAccountToken(n)+"\n"), 0o600))
			fmt.Fprintf(&b, "  - name: %s\n    tokenFile: %s.token\n    rateLimit: 1000\n    baseURL: %s\n", n, n, baseURL)
			continue
		}
		fmt.Fprintf(&b, "  - name: %s\n    token: %s\n    rateLimit: 1000\n    baseURL: %s\n", n, cliAccountToken(n), baseURL)
	}
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(b.String()), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// startAccountsWorker runs `flexlabel worker` in-process with
// FLEXLABEL_ACCOUNTS_FILE (and FLEXFORWARD_TOKEN as the default account)
// until the test ends; it returns the fake API and the worker's log.
func (c *cli) startAccountsWorker(t *testing.T, file string, fake *flexapitest.Server) *queuetest.Buffer {
	t.Helper()
	return c.startAccountsWorkerToken(t, file, fake, cliToken)
}

// startAccountsWorkerToken is startAccountsWorker with envToken as
// FLEXFORWARD_TOKEN ("": none, the file's default account the only one).
func (c *cli) startAccountsWorkerToken(t *testing.T, file string, fake *flexapitest.Server, envToken string) *queuetest.Buffer {
	t.Helper()
	env := map[string]string{}
	for k, v := range c.env {
		env[k] = v
	}
	if envToken != "" {
		env["FLEXFORWARD_TOKEN"] = envToken
	} else {
		delete(env, "FLEXFORWARD_TOKEN")
	}
	env["FLEXFORWARD_BASE_URL"] = fake.URL()
	env["FLEXLABEL_RATE_LIMIT"] = "1000"
	env["FLEXLABEL_ACCOUNTS_FILE"] = file
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errb := &queuetest.Buffer{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := run(ctx, []string{"worker"}, env, strings.NewReader(""), errb, errb)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		require.NotContains(t, errb.String(), cliToken, "token in worker logs")
		require.NotContains(t, errb.String(), "-CLI-SECRET-19c4", "an account's token in worker logs")
	})
	return errb
}

func (c *cli) waitAccountState(t *testing.T, account, key, state string) map[string]any {
	t.Helper()
	var last map[string]any
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, "", "status", "--json", "--account", account, key)
		last = nil
		require.NoError(ct, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &last), r.stdout+r.stderr)
		assert.Equal(ct, state, last["state"])
	}, 15*time.Second, 50*time.Millisecond, "%s of %s never became %s", key, account, state)
	return last
}

// The worker runs the accounts of FLEXLABEL_ACCOUNTS_FILE beside the
// default account: the same key under each is a label of each, made with
// the account's token; a producer names the account with --account, and
// one the fleet does not run is refused (exit 2, naming --account); an
// account whose token Flex Forward refuses is reported at start and has its
// own jobs dead-lettered (auth), nobody else's; an account added to the
// file is run within seconds, without a restart.
func TestCLI_Accounts_FileRunsEachAccountWithItsToken(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.NewTestServer(t, cliToken)
	for _, a := range []string{"brand-a", "brand-b", "brand-c"} {
		fake.AddToken(cliAccountToken(a), a)
	}
	fake.Revoke(cliAccountToken("brand-b"))
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	writeAccounts(t, file, fake.URL(), "brand-a", "brand-b")
	logs := c.startAccountsWorker(t, file, fake)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "token refused") }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, logs.String(), "account=brand-b")

	req := string(queuetest.RequestJSON("same-1", "")) + "\n"
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, req, "enqueue", "--account", "brand-a")
		assert.Equal(ct, 0, r.code, r.stderr) // once the worker has recorded its accounts
	}, 10*time.Second, 50*time.Millisecond)
	for _, args := range [][]string{{"enqueue"}, {"enqueue", "--account", "brand-b"}} {
		r := c.run(t, req, args...)
		require.Equal(t, 0, r.code, r.stderr)
		got := lines(t, r.stdout)
		require.Equal(t, "enqueued", got[0]["outcome"], "the same key is another account's own job")
	}
	r := c.run(t, req, "enqueue", "--account", "brand-a")
	require.Equal(t, 0, r.code, r.stderr)
	got := lines(t, r.stdout)
	assert.Equal(t, "duplicate", got[0]["outcome"])
	assert.Equal(t, "brand-a", got[0]["account"])

	st := c.waitAccountState(t, "brand-a", "same-1", "completed")
	assert.Equal(t, "brand-a", st["account"])
	c.waitState(t, "same-1", "completed")
	dead := c.waitAccountState(t, "brand-b", "same-1", "dead")
	assert.Equal(t, "auth", dead["deadLetter"].(map[string]any)["reason"])
	l := fake.Ledger()
	assert.Equal(t, 1, l.Accounts["brand-a"].CreatedPerKey["same-1"])
	assert.Equal(t, 1, l.Accounts["account-1"].CreatedPerKey["same-1"])

	r = c.run(t, "", "dlq", "--account", "brand-b", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"idempotencyKey":"same-1"`)
	r = c.run(t, "", "dlq", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "same-1", "the default account has no dead letter")

	r = c.run(t, req, "enqueue", "--account", "brand-c")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `--account: unknown account "brand-c"`)
	r = c.run(t, req, "enqueue", "--account", "Brand C")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--account")

	writeAccounts(t, file, fake.URL(), "brand-a", "brand-b", "brand-c")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, req, "enqueue", "--account", "brand-c")
		assert.Equal(ct, 0, r.code, r.stderr)
	}, 15*time.Second, 100*time.Millisecond, "an account added to the file is run without a restart")
	c.waitAccountState(t, "brand-c", "same-1", "completed")
	assert.Contains(t, logs.String(), "accounts reloaded")
}

// An accounts file without a default account has producers name one; a
// default account added to the file is run within seconds, without a
// restart (and removed again, its producers are refused again).
func TestCLI_Accounts_DefaultAddedToTheFileWithoutARestart(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.NewTestServer(t, cliToken)
	fake.AddToken(cliAccountToken("brand-a"), "brand-a")
	fake.AddToken(cliAccountToken("default"), "account-1")
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	writeAccounts(t, file, fake.URL(), "brand-a")
	logs := c.startAccountsWorkerToken(t, file, fake, "")
	req := string(queuetest.RequestJSON("own-1", "")) + "\n"
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, req, "enqueue", "--account", "brand-a")
		assert.Equal(ct, 0, r.code, r.stderr)
	}, 10*time.Second, 50*time.Millisecond)
	r := c.run(t, req, "enqueue")
	assert.Equal(t, 2, r.code, r.stdout)
	assert.Contains(t, r.stderr, "name the account")

	writeAccounts(t, file, fake.URL(), "default", "brand-a")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, req, "enqueue")
		assert.Equal(ct, 0, r.code, r.stderr)
	}, 15*time.Second, 100*time.Millisecond, "a default account added to the file is run without a restart")
	st := c.waitState(t, "own-1", "completed")
	assert.Equal(t, "default", st["account"])
	assert.Equal(t, 1, fake.Ledger().Accounts["account-1"].CreatedPerKey["own-1"], "made with the file's default token")
	assert.NotContains(t, logs.String(), "next start")

	writeAccounts(t, file, fake.URL(), "brand-a")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, string(queuetest.RequestJSON("own-2", ""))+"\n", "enqueue")
		assert.Equal(ct, 2, r.code, r.stdout)
	}, 15*time.Second, 100*time.Millisecond, "removed again: producers name an account")
}

// A bad accounts file stops the worker at start, naming the variable and
// the place, and never echoes a token.
func TestCLI_Accounts_BadFileExits2(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	require.NoError(t, os.WriteFile(file, []byte("accounts:\n  - name: Brand A\n    token: tok-NEVER-ECHO-1\n    rateLimit: 0\n"), 0o600))
	c.env["FLEXLABEL_ACCOUNTS_FILE"] = file
	r := c.run(t, "", "worker")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "FLEXLABEL_ACCOUNTS_FILE")
	assert.Contains(t, r.stderr, "accounts[0].name")
	assert.Contains(t, r.stderr, "accounts[0].rateLimit")
	assert.NotContains(t, r.stderr, "tok-NEVER-ECHO-1")
}

// doctor with an accounts file checks each account's token, reports a
// refused one as a problem naming the account, and does not ask for
// FLEXFORWARD_TOKEN.
func TestCLI_Accounts_Doctor(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.NewTestServer(t, cliToken)
	for _, a := range []string{"brand-a", "brand-b"} {
		fake.AddToken(cliAccountToken(a), a)
	}
	fake.Revoke(cliAccountToken("brand-b"))
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	writeAccounts(t, file, fake.URL(), "brand-a", "brand-b")
	c.env["FLEXLABEL_ACCOUNTS_FILE"] = file
	r := c.run(t, "", "doctor", "--json")
	assert.Equal(t, 1, r.code, r.stderr)
	var rep struct {
		Accounts []struct {
			Name  string `json:"name"`
			Token string `json:"token"`
		} `json:"accounts"`
		Problems []string `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Len(t, rep.Accounts, 2)
	assert.Equal(t, "accepted", rep.Accounts[0].Token)
	assert.Equal(t, "refused", rep.Accounts[1].Token)
	var ours []string
	for _, p := range rep.Problems {
		if strings.Contains(p, "account ") {
			ours = append(ours, p)
		}
	}
	require.Len(t, ours, 1, "%v", rep.Problems)
	assert.Contains(t, ours[0], "account brand-b")
	assert.NotContains(t, r.stdout, "FLEXFORWARD_TOKEN is not set")
	assert.NotContains(t, r.stdout+r.stderr, "-CLI-SECRET-19c4")
	r = c.run(t, "", "doctor")
	assert.Contains(t, r.stdout, "Accounts (FLEXLABEL_ACCOUNTS_FILE)")
	assert.NotContains(t, r.stdout+r.stderr, "-CLI-SECRET-19c4")
}

// An account's labels are followed like the default account's, and what is
// followed is shown with --account: `status --json --account` carries the
// tracking object, and `track --account` the account's shipment (the same
// key of the default account, never enqueued there, is unknown to it).
func TestCLI_Accounts_TrackingShownWithAccount(t *testing.T) {
	t.Parallel()
	const speedup = 3600 * 20 // an hour in 50 ms: 90001 is Delivered ~5 s after its label
	c := newCLI(t)
	c.env["FLEXLABEL_TRACKING_SPEEDUP"] = strconv.Itoa(speedup)
	fake := flexapitest.NewTestServer(t, cliToken)
	fake.SetTrackingSpeedup(speedup)
	fake.AddToken(cliAccountToken("brand-a"), "brand-a")
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	writeAccounts(t, file, fake.URL(), "brand-a")
	c.startAccountsWorker(t, file, fake)

	req := strings.Replace(string(queuetest.RequestJSON("trk-a", "")), `"postalCode":"08817"`, `"postalCode":"90001"`, 1) + "\n"
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, req, "enqueue", "--account", "brand-a")
		assert.Equal(ct, 0, r.code, r.stderr) // once the worker has recorded its accounts
	}, 10*time.Second, 50*time.Millisecond)

	var tr map[string]any
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, "", "status", "--json", "--account", "brand-a", "trk-a")
		var st map[string]any
		require.NoError(ct, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &st), r.stdout+r.stderr)
		tr, _ = st["tracking"].(map[string]any)
		if assert.NotNil(ct, tr, "tracking of brand-a's trk-a: %s", r.stdout) {
			assert.Equal(ct, flexapi.TagDelivered, tr["tag"])
		}
	}, 30*time.Second, 100*time.Millisecond)
	assert.Nil(t, tr["nextCheckAt"], "Delivered: no longer followed")
	assert.NotEmpty(t, tr["checkpoints"])

	r := c.run(t, "", "track", "--account", "brand-a", "trk-a")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Delivered")
	assert.Contains(t, r.stdout, "Checkpoints (newest first):")
	r = c.run(t, "", "track", "--json", "--account", "brand-a", "trk-a")
	require.Equal(t, 0, r.code, r.stderr)
	var ans map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ans))
	assert.Equal(t, tr, ans["tracking"], "the same object as status's")

	r = c.run(t, "", "track", "trk-a")
	assert.Equal(t, 1, r.code, "the default account has no trk-a: %s", r.stdout)
	l := fake.Ledger()
	assert.Positive(t, l.Accounts["brand-a"].TrackingCalls, "polled with brand-a's token")
	assert.Zero(t, l.Accounts["account-1"].TrackingCalls)
}
