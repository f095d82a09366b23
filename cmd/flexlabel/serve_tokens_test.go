package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestServe_TokensFile_ScopesReloadAndSIGHUP(t *testing.T) {
	t.Parallel()
	const (
		allTok  = "env-all-token-0123456789"
		operTok = "file-operator-0123456789"
		prodTok = "file-shop-a-0123456789ab"
		viewTok = "file-viewer-0123456789ab"
	)
	file := filepath.Join(t.TempDir(), "api-tokens")
	require.NoError(t, os.WriteFile(file, []byte("# rotated by ops\noperator "+operTok+"\nproducer "+prodTok+" shop-a-\n"), 0o600))
	c := newCLI(t)
	addr := freeAddr(t)
	c.env["FLEXLABEL_API_TOKENS"] = allTok
	c.env["FLEXLABEL_API_TOKENS_FILE"] = file
	c.env["FLEXLABEL_HTTP_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"serve"}, c.env, strings.NewReader(""), &logs, &logs) }()
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, &logs)

	do := func(method, path, tok string, body []byte) int {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 403, do("POST", "/v1/labels", prodTok, queuetest.RequestJSON("shop-b-1", "")))
	require.Equal(t, 202, do("POST", "/v1/labels", prodTok, queuetest.RequestJSON("shop-a-1", "")))
	require.Equal(t, 403, do("GET", "/v1/dead-letters", prodTok, nil))
	require.Equal(t, 200, do("GET", "/v1/dead-letters", operTok, nil))
	require.Equal(t, 200, do("GET", "/v1/dead-letters", allTok, nil), "FLEXLABEL_API_TOKENS has scope all")
	require.Equal(t, 403, do("GET", "/ui/", prodTok, nil), "the console needs viewer")
	require.Equal(t, 200, do("GET", "/ui/", operTok, nil))

	// Rotation: the file changes under the running server.
	require.NoError(t, os.WriteFile(file, []byte("viewer "+viewTok+"\nproducer "+prodTok+" shop-a-\n"), 0o600))
	require.Eventually(t, func() bool { return do("GET", "/v1/dead-letters", viewTok, nil) == 200 }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, 401, do("GET", "/v1/dead-letters", operTok, nil), "a line removed is a token revoked")
	require.Equal(t, 200, do("GET", "/v1/dead-letters", allTok, nil))
	require.Equal(t, 1, strings.Count(logs.String(), "api tokens reloaded"), logs.String())

	// SIGHUP re-reads the file even when it has not changed.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "api tokens reloaded") == 2 }, 20*time.Second, 10*time.Millisecond)

	// A bad file keeps the tokens, and says where it is bad.
	require.NoError(t, os.WriteFile(file, []byte("viewer "+viewTok+"\nviewer "+operTok+" shop-\n"), 0o600))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "not reloaded") }, 20*time.Second, 50*time.Millisecond)
	require.Contains(t, logs.String(), file+":2: key prefixes are allowed on producer lines only")
	require.Equal(t, 200, do("GET", "/v1/dead-letters", viewTok, nil))
	require.Equal(t, 202, do("POST", "/v1/labels", prodTok, queuetest.RequestJSON("shop-a-2", "")))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	out := logs.String()
	for _, tok := range []string{allTok, operTok, prodTok, viewTok} {
		require.NotContains(t, out, tok)
	}
	require.Contains(t, out, `token_id=`+auth.TokenID(prodTok))
}

func TestServe_BadTokensFile_ConfigErrorNamingVariableAndLine(t *testing.T) {
	t.Parallel()
	const secret = "operator-secret-0123456789"
	file := filepath.Join(t.TempDir(), "api-tokens")
	require.NoError(t, os.WriteFile(file, []byte("operator "+secret+"\nroot "+secret+"x\n"), 0o600))
	c := newCLI(t)
	c.env["FLEXLABEL_API_TOKENS_FILE"] = file
	r := c.run(t, "", "serve")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "FLEXLABEL_API_TOKENS_FILE: "+file+`:2: scope "root" is not one of producer, operator, viewer, metrics`)
	require.NotContains(t, r.stderr, secret)

	c.env["FLEXLABEL_API_TOKENS_FILE"] = file + ".missing"
	r = c.run(t, "", "serve")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "FLEXLABEL_API_TOKENS_FILE: reading the tokens file")
}
