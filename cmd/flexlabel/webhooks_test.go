package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const testWebhookKey = "cli-test-webhook-signing-key-0123456789abcdef"

// webhookCLI is a CLI namespace with a webhook signing key, and the
// endpoints the CLI manages, opened directly.
func webhookCLI(t *testing.T) (*cli, *hooks.Endpoints) {
	t.Helper()
	c := newCLI(t)
	c.env["FLEXLABEL_WEBHOOK_SIGNING_KEY"] = testWebhookKey
	opts, err := redis.ParseURL(c.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	keys, err := hooks.NewKeyring(testWebhookKey)
	require.NoError(t, err)
	eps, err := hooks.NewEndpoints(rdb, c.env["FLEXLABEL_QUEUE"], keys)
	require.NoError(t, err)
	return c, eps
}

// ttyOutput plays a person's terminal as stdout.
type ttyOutput struct{ *bytes.Buffer }

func (ttyOutput) isTerminal() bool { return true }

func endpointOf(t *testing.T, out string) map[string]any {
	t.Helper()
	got := lines(t, out)
	require.Len(t, got, 1, out)
	return got[0]
}

func TestWebhookCLI_Lifecycle(t *testing.T) {
	t.Parallel()
	c, eps := webhookCLI(t)
	ctx := context.Background()

	r := c.run(t, "", "webhooks", "add", "https://orders.example.com/hook", "--events", "label.completed,label.dead", "--key-prefix", "shop-a-", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	ep := endpointOf(t, r.stdout)
	id := ep["id"].(string)
	require.Regexp(t, `^we_`, id)
	require.Equal(t, []any{"label.completed", "label.dead"}, ep["events"])
	require.Equal(t, "shop-a-", ep["keyPrefix"])
	require.Equal(t, true, ep["enabled"])
	for _, f := range []string{"createdAt", "updatedAt", "secret"} {
		require.Contains(t, ep, f)
	}
	require.Empty(t, r.stderr, "no warning with --json")
	tg, err := eps.Target(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []string{ep["secret"].(string)}, tg.Secrets, "the secret printed signs deliveries")

	r = c.run(t, "", "webhooks", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "secret")
	require.Equal(t, id, endpointOf(t, r.stdout)["id"])
	r = c.run(t, "", "webhooks", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `ID\s+URL\s+EVENTS\s+KEY PREFIX\s+ACCOUNTS\s+ENABLED\n`+id+`\s+https://orders.example.com/hook\s+label.completed,label.dead\s+shop-a-\s+\(all accounts\)\s+yes\n1 webhook endpoint\(s\)\n`, r.stdout)

	r = c.run(t, "", "webhooks", "show", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Events:\s+label.completed,label.dead\n`, r.stdout)
	require.NotContains(t, r.stdout, "Secret")

	r = c.run(t, "", "webhooks", "update", id, "--url", "https://orders.example.com/v2", "--events", "", "--key-prefix", "", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	ep = endpointOf(t, r.stdout)
	require.Equal(t, "https://orders.example.com/v2", ep["url"])
	require.Equal(t, []any{}, ep["events"])
	require.NotContains(t, ep, "secret")

	r = c.run(t, "", "webhooks", "disable", id, "--reason", "receiver moving")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Enabled:\s+no \(receiver moving\)\n`, r.stdout)
	r = c.run(t, "", "webhooks", "enable", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	ep = endpointOf(t, r.stdout)
	require.Equal(t, true, ep["enabled"])
	require.NotContains(t, ep, "disabledReason")
	r = c.run(t, "", "webhooks", "update", id, "--disable")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Enabled:\s+no \(disabled by an operator\)\n`, r.stdout)

	old := tg.Secrets[0]
	r = c.run(t, "", "webhooks", "rotate-secret", id, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	ep = endpointOf(t, r.stdout)
	require.NotEqual(t, old, ep["secret"])
	require.Contains(t, ep, "previousSecretExpiresAt")
	tg, err = eps.Target(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []string{ep["secret"].(string), old}, tg.Secrets)
	r = c.run(t, "", "webhooks", "rotate-secret", id, "--keep-previous", "0s")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Secret:\s+whsec_`, r.stdout)
	tg, err = eps.Target(ctx, id)
	require.NoError(t, err)
	require.Len(t, tg.Secrets, 1)

	r = c.run(t, "", "webhooks", "delete", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "deleted webhook endpoint "+id+"\n", r.stdout)
	for _, args := range [][]string{{"show", id}, {"delete", id}, {"enable", id}, {"disable", id}, {"rotate-secret", id}, {"update", id, "--enable"}} {
		r = c.run(t, "", append([]string{"webhooks"}, args...)...)
		require.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, `no webhook endpoint has id "`+id+`"`)
	}
}

// --accounts limits an endpoint to some accounts' labels (add), and
// --accounts ” gives it every account again (update); a bad name is
// refused naming the flag.
func TestWebhookCLI_Accounts(t *testing.T) {
	t.Parallel()
	c, eps := webhookCLI(t)
	ctx := context.Background()
	r := c.run(t, "", "webhooks", "add", "https://orders.example.com/hook", "--accounts", "brand-a, brand-b", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	ep := endpointOf(t, r.stdout)
	id := ep["id"].(string)
	require.Equal(t, []any{"brand-a", "brand-b"}, ep["accounts"])
	ts, err := eps.Matching(ctx, "label.dead", "brand-b", "k")
	require.NoError(t, err)
	require.Len(t, ts, 1)
	ts, err = eps.Matching(ctx, "label.dead", "default", "k")
	require.NoError(t, err)
	require.Empty(t, ts, "not the default account's")

	r = c.run(t, "", "webhooks", "show", id)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Accounts:\s+brand-a,brand-b\n`, r.stdout)
	r = c.run(t, "", "webhooks", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `\(all keys\)\s+brand-a,brand-b\s+yes\n`, r.stdout)

	r = c.run(t, "", "webhooks", "update", id, "--accounts", "", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, endpointOf(t, r.stdout), "accounts", "every account")
	r = c.run(t, "", "webhooks", "show", id)
	require.Regexp(t, `Accounts:\s+\(all accounts\)\n`, r.stdout)
	r = c.run(t, "", "webhooks", "update", id, "--accounts", "brand-c")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Accounts:\s+brand-c\n`, r.stdout)

	r = c.run(t, "", "webhooks", "update", id, "--accounts", "ok,Not Ok")
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, `--accounts: account "Not Ok" must be 1 to 32 of a-z, 0-9 and -`)
	got, err := eps.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []string{"brand-c"}, got.Accounts, "nothing written")
}

func TestWebhookCLI_Add_OnATerminal_WarnsTheSecretIsShownOnce(t *testing.T) {
	t.Parallel()
	c, _ := webhookCLI(t)
	out, errb := ttyOutput{&bytes.Buffer{}}, &bytes.Buffer{}
	err := run(context.Background(), []string{"webhooks", "add", "https://a.example.com/"}, c.env, strings.NewReader(""), out, errb)
	require.NoError(t, err, errb.String())
	require.Regexp(t, `Secret:\s+whsec_\S+\n`, out.String())
	require.Regexp(t, `Events:\s+all\n`, out.String())
	require.Contains(t, errb.String(), "the secret is shown only now")

	// Not a terminal: the output alone, for a script.
	r := c.run(t, "", "webhooks", "add", "https://b.example.com/")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	require.Contains(t, r.stdout, "whsec_")
}

func TestWebhookCLI_BadInput_NamesTheFlag_NothingWritten(t *testing.T) {
	t.Parallel()
	c, eps := webhookCLI(t)
	r := c.run(t, "", "webhooks", "add", "http://orders.example.com/", "--events", "label.dead,label.exploded", "--key-prefix", strings.Repeat("k", 256))
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "URL: uses plain http")
	require.Contains(t, r.stderr, `--events: unknown event type "label.exploded"`)
	require.Contains(t, r.stderr, "--key-prefix: must be at most 255")
	require.Empty(t, r.stdout)
	list, err := eps.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)

	r = c.run(t, "", "webhooks", "add", "https://a.example.com/", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	id := endpointOf(t, r.stdout)["id"].(string)
	for args, want := range map[string]string{
		"update " + id:                                  "flags: give at least one of",
		"update " + id + " --enable --disable":          "--enable and --disable exclude each other",
		"update " + id + " --url ftp://x/":              "URL: must be an absolute",
		"rotate-secret " + id + " --keep-previous 200h": "--keep-previous: must be from 0s to 168h",
	} {
		r := c.run(t, "", append([]string{"webhooks"}, strings.Fields(args)...)...)
		require.Equal(t, 2, r.code, "%s: %s", args, r.stderr)
		require.Contains(t, r.stderr, want, args)
	}
	got, err := eps.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "https://a.example.com/", got.URL)
	require.Nil(t, got.PreviousSecretExpiresAt)
}

func TestWebhookCLI_WithoutSigningKey_NamesTheVariable(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{{"add", "https://a.example.com/"}, {"list"}, {"show", "we_X"}} {
		r := c.run(t, "", append([]string{"webhooks"}, args...)...)
		require.Equal(t, 2, r.code, r.stderr)
		require.Contains(t, r.stderr, "FLEXLABEL_WEBHOOK_SIGNING_KEY: is required")
	}
	c.env["FLEXLABEL_WEBHOOK_SIGNING_KEY"] = "too-short-a-secret"
	r := c.run(t, "", "webhooks", "list")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "FLEXLABEL_WEBHOOK_SIGNING_KEY: must be at least 32 bytes")
	require.NotContains(t, r.stderr, "too-short-a-secret")
}

func TestWebhookCLI_CompletesEventTypes(t *testing.T) {
	t.Parallel()
	completions := func(args ...string) (values []string, directive string) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{cobra.ShellCompRequestCmd}, args...), nil, strings.NewReader(""), &out, &errb)
		require.NoError(t, err, errb.String())
		ls := strings.Split(strings.TrimSpace(out.String()), "\n")
		return ls[:len(ls)-1], ls[len(ls)-1]
	}
	got, directive := completions("webhooks", "add", "https://a.example.com/", "--events", "label.dead,")
	require.Equal(t, ":6", directive, "no file completion, no space after a type (more may follow)")
	require.Contains(t, got, "label.dead,label.completed")
	require.NotContains(t, got, "label.dead,label.dead", "a type given is not offered again")
	got, _ = completions("webhooks", "update", "we_X", "--events", "")
	require.Len(t, got, len(hooks.EventTypes()))
	got, directive = completions("webhooks", "disable", "we_X", "--reason", "")
	require.Empty(t, got, "a disabled reason is free text, not a dead-letter reason")
	require.Equal(t, ":4", directive)
}

// TestWebhookServe_RoutesWiredToTheSigningKey: serve manages endpoints
// with FLEXLABEL_WEBHOOK_SIGNING_KEY, on the namespace and with the secrets
// the CLI sees, and answers 409 naming the variable without it.
func TestWebhookServe_RoutesWiredToTheSigningKey(t *testing.T) {
	t.Parallel()
	serve := func(t *testing.T, c *cli) (string, *queuetest.Buffer) {
		t.Helper()
		addr := freeAddr(t)
		c.env["FLEXLABEL_API_TOKENS"] = "operator-token-0123456789abcdef"
		c.env["FLEXLABEL_HTTP_ADDR"] = addr
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		logs := &queuetest.Buffer{}
		go func() { done <- run(ctx, []string{"serve"}, c.env, strings.NewReader(""), logs, logs) }()
		t.Cleanup(func() { cancel(); <-done })
		waitHealthy(t, "http://"+addr, 10*time.Second, logs)
		return "http://" + addr, logs
	}
	post := func(t *testing.T, base string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/v1/webhook-endpoints", strings.NewReader(`{"url":"https://orders.example.com/hook"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer operator-token-0123456789abcdef")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var v map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
		return resp.StatusCode, v
	}

	c, eps := webhookCLI(t)
	base, logs := serve(t, c)
	code, ep := post(t, base)
	require.Equal(t, http.StatusCreated, code, "%v", ep)
	tg, err := eps.Target(context.Background(), ep["id"].(string))
	require.NoError(t, err)
	require.Equal(t, []string{ep["secret"].(string)}, tg.Secrets, "serve and the CLI derive the same secret")
	r := c.run(t, "", "webhooks", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, ep["id"], endpointOf(t, r.stdout)["id"])
	require.NotContains(t, logs.String(), ep["secret"].(string))
	require.NotContains(t, logs.String(), testWebhookKey)
	code, page := consolePage(t, base, "/ui/webhooks")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `<tr data-endpoint="`+ep["id"].(string)+`">`, "the console lists serve's endpoints")
	require.NotContains(t, page, ep["secret"].(string))

	off := newCLI(t)
	base, _ = serve(t, off)
	code, body := post(t, base)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, body["error"], "FLEXLABEL_WEBHOOK_SIGNING_KEY")
	code, page = consolePage(t, base, "/ui/webhooks")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "Webhooks are off: this serve process has no FLEXLABEL_WEBHOOK_SIGNING_KEY")
}

// consolePage fetches a console page as the operator token of the webhook
// tests.
func consolePage(t *testing.T, base, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	req.SetBasicAuth("ops", "operator-token-0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestWebhookDev_GeneratesASigningKey: dev, with its in-process Redis,
// turns webhooks on with a generated key and says so in its banner.
func TestWebhookDev_GeneratesASigningKey(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb queuetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev"}, map[string]string{"FLEXLABEL_HTTP_ADDR": addr}, strings.NewReader(""), &out, &errb)
	}()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + addr
	waitHealthy(t, base, 15*time.Second, &errb)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "flexlabel dev is running") }, 15*time.Second, 20*time.Millisecond)
	token := regexp.MustCompile(`dev-producer-[0-9a-f]+`).FindString(out.String())
	require.NotEmpty(t, token, out.String())
	require.Regexp(t, `Webhooks\s+`+regexp.QuoteMeta(base)+`/v1/webhook-endpoints\s+\(signing key generated; for the CLI: FLEXLABEL_WEBHOOK_SIGNING_KEY=dev-webhook-signing-key-[0-9a-f]{32}\)`, out.String())

	req, err := http.NewRequest(http.MethodPost, base+"/v1/webhook-endpoints", strings.NewReader(`{"url":"http://127.0.0.1:9/hook"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NotContains(t, errb.String(), "dev-webhook-signing-key-", "the key is in the banner only, not the log")
}
