package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// With FLEXLABEL_METRICS_AUTH=true the worker's metrics listener asks for a
// token with scope metrics, as serve's /metrics does, from the same
// variables; health stays open for probes, and a token added to the file
// later is accepted without a restart.
func TestWorker_MetricsAuth_NeedsAMetricsToken(t *testing.T) {
	t.Parallel()
	const (
		scrapeTok = "prometheus-scrape-token-01"
		prodTok   = "producer-only-token-000002"
		laterTok  = "prometheus-rotated-token-3"
	)
	file := filepath.Join(t.TempDir(), "api-tokens")
	require.NoError(t, os.WriteFile(file, []byte("metrics "+scrapeTok+"\nproducer "+prodTok+"\n"), 0o600))
	fake := flexapitest.NewTestServer(t, cliToken)
	metricsAddr := freeAddr(t)
	env := map[string]string{
		"REDIS_URL":                 queuetest.RedisURL(t),
		"FLEXLABEL_QUEUE":           queuetest.Prefix(t),
		"FLEXFORWARD_TOKEN":         cliToken,
		"FLEXFORWARD_BASE_URL":      fake.URL(),
		"FLEXLABEL_METRICS_ADDR":    metricsAddr,
		"FLEXLABEL_METRICS_AUTH":    "true",
		"FLEXLABEL_API_TOKENS_FILE": file,
		"FLEXLABEL_LOG_FORMAT":      "text",
	}
	var logs queuetest.Buffer
	stop, _ := startRun(t, env, &logs, "worker")
	base := "http://" + metricsAddr
	waitHealthy(t, base, 10*time.Second, &logs)

	require.Equal(t, 401, fetch("GET", base+"/metrics", "", nil).code)
	require.Equal(t, 401, fetch("GET", base+"/metrics", "not-a-configured-token", nil).code)
	forbidden := fetch("GET", base+"/metrics", prodTok, nil)
	require.Equal(t, 403, forbidden.code)
	require.Contains(t, forbidden.body, "this token lacks scope metrics")
	ok := fetch("GET", base+"/metrics", scrapeTok, nil)
	require.Equal(t, 200, ok.code)
	require.Contains(t, ok.body, "flexlabel_redis_up")
	require.Equal(t, 200, fetch("GET", base+"/healthz", "", nil).code, "probes need no token")

	// A rotation: the new line is picked up while the worker runs.
	require.NoError(t, os.WriteFile(file, []byte("metrics "+laterTok+"\n"), 0o600))
	require.Eventually(t, func() bool { return fetch("GET", base+"/metrics", laterTok, nil).code == 200 },
		20*time.Second, 50*time.Millisecond)
	require.Equal(t, 401, fetch("GET", base+"/metrics", scrapeTok, nil).code, "the removed line's token is revoked")

	require.NoError(t, stop())
	for _, tok := range []string{scrapeTok, prodTok, laterTok} {
		require.NotContains(t, logs.String(), tok)
	}
}

// FLEXLABEL_METRICS_AUTH=true without any token could only refuse every
// scrape: the worker refuses to start, naming the variables.
func TestWorker_MetricsAuth_WithoutTokens_ExitsTwo(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["FLEXFORWARD_TOKEN"] = cliToken
	c.env["FLEXLABEL_METRICS_ADDR"] = freeAddr(t)
	c.env["FLEXLABEL_METRICS_AUTH"] = "true"
	r := c.run(t, "", "worker")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "FLEXLABEL_METRICS_AUTH")
	require.True(t, strings.Contains(r.stderr, "FLEXLABEL_API_TOKENS_FILE"), r.stderr)
}
