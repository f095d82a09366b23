package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestServe_RefusesWithoutTokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.run(t, "", "serve")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "FLEXLABEL_API_TOKENS")
	c.env["FLEXLABEL_HTTP_ADDR"] = ":0"
	r = c.run(t, "", "serve", "--insecure-no-auth")
	require.Equal(t, 2, r.code, "--insecure-no-auth is for loopback addresses only")
}

func TestServe_APIMetricsAndUIBehindTokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const tok = "producer-token-0123456789abcdef"
	addr := freeAddr(t)
	c.env["FLEXLABEL_API_TOKENS"] = tok
	c.env["FLEXLABEL_HTTP_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"serve"}, c.env, strings.NewReader(""), &logs, &logs) }()
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, &logs)

	do := func(method, path string, body []byte, auth func(*http.Request)) int {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		require.NoError(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	basic := func(r *http.Request) { r.SetBasicAuth("ops", tok) }
	body := queuetest.RequestJSON("serve-1", "")
	require.Equal(t, 401, do("POST", "/v1/labels", body, nil))
	require.Equal(t, 202, do("POST", "/v1/labels", body, bearer))
	require.Equal(t, 200, do("POST", "/v1/labels", body, bearer))
	require.Equal(t, 401, do("GET", "/ui/", nil, nil))
	require.Equal(t, 200, do("GET", "/ui/", nil, basic))
	require.Equal(t, 200, do("GET", "/ui/queues/", nil, basic))
	require.Equal(t, 200, do("GET", "/metrics", nil, nil))
	require.Equal(t, 200, do("GET", "/openapi.yaml", nil, nil))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.NotContains(t, logs.String(), tok)
}
