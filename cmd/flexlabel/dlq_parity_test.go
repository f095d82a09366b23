package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestDLQ_CLIAndHTTP_SameExportAndDryRun: `dlq export` and POST
// /v1/dead-letters/export write the very same lines, new keys included, and
// a dry run answers the same JSON on both faces (issue 14, parity).
func TestDLQ_CLIAndHTTP_SameExportAndDryRun(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	c.deadLetter(t, q, "cr-0", queue.ReasonCourierRejected)
	c.deadLetter(t, q, "cr-1", queue.ReasonCourierRejected)

	const tok = "operator-token-0123456789abcdef"
	addr := freeAddr(t)
	c.env["FLEXLABEL_API_TOKENS"] = tok
	c.env["FLEXLABEL_HTTP_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"serve"}, c.env, strings.NewReader(""), &logs, &logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, &logs)
	post := func(path string) (string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
		return string(b), resp.Header.Get("Content-Type")
	}

	for _, tc := range []struct{ cli, http string }{
		{"", ""},
		{"--reason auth", "?reason=auth"},
		{"--reason courier_rejected --new-keys", "?reason=courier_rejected&newKeys=true"},
		{"--prefix auth- --queue interactive --since 2000-01-01", "?prefix=auth-&queue=interactive&since=2000-01-01"},
	} {
		r := c.run(t, "", append([]string{"dlq", "export"}, strings.Fields(tc.cli)...)...)
		require.Equal(t, 0, r.code, r.stderr)
		require.NotEmpty(t, r.stdout)
		body, ct := post("/v1/dead-letters/export" + tc.http)
		require.Equal(t, "application/x-ndjson", ct)
		require.Equal(t, r.stdout, body, "dlq export %s", tc.cli)
	}

	for _, tc := range []struct{ cli, http string }{
		{"discard --all", "discard?all=true"},
		{"redrive --reason auth", "redrive?reason=auth"},
		{"discard --prefix auth-1", "discard?prefix=auth-1"},
		{"redrive --queue interactive --until 2999-01-01T00:00:00Z", "redrive?queue=interactive&until=2999-01-01T00:00:00Z"},
	} {
		r := c.run(t, "", append([]string{"dlq"}, append(strings.Fields(tc.cli), "--dry-run", "--json")...)...)
		require.Equal(t, 0, r.code, r.stderr)
		body, _ := post("/v1/dead-letters/" + tc.http + "&dryRun=true")
		require.JSONEq(t, r.stdout, body, tc.cli)
	}
	require.EqualValues(t, 6, deadCount(t, q, ""), "dry runs and exports leave the dead letters")
	require.NotContains(t, logs.String(), tok)
}
