package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestServeHelp_SaysWhichRoutesNeedAToken checks serve --help against the
// OpenAPI document: every operation is listed, under the token heading
// exactly when the document gives it security.
func TestServeHelp_SaysWhichRoutesNeedAToken(t *testing.T) {
	t.Parallel()
	r := newCLI(t).run(t, "", "serve", "--help")
	require.Equal(t, 0, r.code, r.stderr)
	tokenPart, publicPart, ok := strings.Cut(r.stdout, "Routes served to anyone:")
	require.True(t, ok, r.stdout)
	_, tokenPart, ok = strings.Cut(tokenPart, "Routes that need a token")
	require.True(t, ok, r.stdout)

	b, err := os.ReadFile("../../internal/httpapi/openapi.yaml")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any   `yaml:"security"`
			Scope    []string `yaml:"x-flexlabel-scope"`
		} `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			line := regexp.MustCompile(`(?m)^\s+` + strings.ToUpper(method) + `\s+` + regexp.QuoteMeta(path) + `\s`)
			public := op.Security != nil && len(*op.Security) == 0
			require.Equal(t, public, line.MatchString(publicPart), "%s %s listed as public", method, path)
			require.Equal(t, !public, line.MatchString(tokenPart), "%s %s listed as needing a token", method, path)
			if !public {
				withScope := regexp.MustCompile(`(?m)^\s+` + strings.ToUpper(method) + `\s+` + regexp.QuoteMeta(path) + `\s+` + strings.Join(op.Scope, " or ") + `\s`)
				require.Regexp(t, withScope, tokenPart, "%s %s listed with its scope %v", method, path, op.Scope)
			}
			n++
		}
	}
	require.Equal(t, 24, n) // 13, and issue 15: seven endpoint routes (part A), four delivery-log routes (part C)
	require.Regexp(t, `(?m)^\s+\*\s+/ui/`, tokenPart)
	require.Regexp(t, `(?m)^\s+GET\s+/metrics\s+metrics\s+only with FLEXLABEL_METRICS_AUTH=true`, tokenPart)
	require.Regexp(t, `(?m)^\s+GET\s+/metrics\s+.*unless FLEXLABEL_METRICS_AUTH=true`, publicPart)
}

// TestServe_MetricsAuth_TokensGuardMetrics: with FLEXLABEL_METRICS_AUTH=true
// /metrics needs a producer token like the API; serve also answers
// net/http's own errors in JSON.
func TestServe_MetricsAuth_TokensGuardMetrics(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const tok = "producer-token-0123456789abcdef"
	addr := freeAddr(t)
	c.env["FLEXLABEL_API_TOKENS"] = tok
	c.env["FLEXLABEL_HTTP_ADDR"] = addr
	c.env["FLEXLABEL_METRICS_AUTH"] = "true"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stops serve even when the test fails half-way
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"serve"}, c.env, strings.NewReader(""), &logs, &logs) }()
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, &logs)

	get := func(path string, auth func(*http.Request)) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	code, ct := get("/metrics", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "application/json", ct)
	code, _ = get("/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	require.Equal(t, http.StatusOK, code)
	code, _ = get("/metrics", func(r *http.Request) { r.SetBasicAuth("prometheus", tok) })
	require.Equal(t, http.StatusOK, code)
	code, _ = get("/healthz", nil)
	require.Equal(t, http.StatusOK, code, "health stays public")

	// A bad escape never reaches a handler; the answer is JSON all the same.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /v1/labels/%zz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	var e struct {
		Error string `json:"error"`
	}
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Contains(t, e.Error, "malformed request")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.NotContains(t, logs.String(), tok)
}

func TestServe_MetricsAuthWithoutTokens_Refused(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["FLEXLABEL_HTTP_ADDR"] = "127.0.0.1:0"
	c.env["FLEXLABEL_METRICS_AUTH"] = "true"
	// Already cancelled: a serve that wrongly starts stops at once rather
	// than running on.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	err := run(ctx, []string{"serve", "--insecure-no-auth"}, c.env, strings.NewReader(""), &out, &errb)
	require.Equal(t, 2, exitCode(err, &errb))
	require.Contains(t, errb.String(), "FLEXLABEL_METRICS_AUTH")
}
