package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// downRedis returns a redis-server that has a port of its own but is not
// running: the test starts it (Restart) once the process under test runs.
func downRedis(t *testing.T) *heldRedis {
	t.Helper()
	r := queuetest.StartRedis(t)
	r.Kill()
	// Hold the port while Redis is down: other tests start redis-servers on
	// free ports at the same time, and one taking this port would answer
	// for the Redis that should be down. Connections are closed at once, as
	// for a server that is not there.
	ln, err := net.Listen("tcp", r.Addr())
	require.NoError(t, err, "holding the port of the stopped Redis")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return &heldRedis{RedisProcess: r, ln: ln}
}

// heldRedis is a stopped redis-server whose port the test holds until
// Restart hands it back.
type heldRedis struct {
	*queuetest.RedisProcess
	ln net.Listener
}

func (h *heldRedis) Restart() {
	h.ln.Close()
	h.RedisProcess.Restart()
}

// startRun runs flexlabel with args in-process until the test ends; the
// returned channel yields run's error once it returns.
func startRun(t *testing.T, env map[string]string, logs *queuetest.Buffer, args ...string) (stop func() error, exited <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, env, strings.NewReader(""), logs, logs) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("flexlabel %v did not stop: %s", args, logs.String())
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop, done
}

type answer struct {
	code       int
	retryAfter string
	body       string
}

// get (or post, with a body) one URL; a connection error is code 0.
func fetch(method, url, token string, body []byte) answer {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return answer{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

// requireRunning fails the test if the process has already returned.
func requireRunning(t *testing.T, exited <-chan error, logs *queuetest.Buffer) {
	t.Helper()
	select {
	case err := <-exited:
		t.Fatalf("flexlabel exited while Redis was down: %v\n%s", err, logs.String())
	default:
	}
}

func TestServe_StartsWhileRedisIsDown_ServesOnceItAnswers(t *testing.T) {
	t.Parallel()
	rs := downRedis(t)
	const tok = "producer-token-0123456789abcdef"
	addr := freeAddr(t)
	env := map[string]string{
		"REDIS_URL":            rs.URL(),
		"FLEXLABEL_QUEUE":      queuetest.Prefix(t),
		"FLEXLABEL_API_TOKENS": tok,
		"FLEXLABEL_HTTP_ADDR":  addr,
		"FLEXLABEL_LOG_FORMAT": "text",
	}
	var logs queuetest.Buffer
	stop, exited := startRun(t, env, &logs, "serve")
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, &logs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "waiting for Redis") },
		10*time.Second, 10*time.Millisecond, "serve never said it waits for Redis: %s", logs.String())

	// Waiting: alive, not ready, the API refuses with a retry hint.
	requireRunning(t, exited, &logs)
	require.Equal(t, 200, fetch("GET", base+"/healthz", "", nil).code)
	ready := fetch("GET", base+"/readyz", "", nil)
	require.Equal(t, 503, ready.code, ready.body)
	require.NotEmpty(t, ready.retryAfter)
	body := queuetest.RequestJSON("startup-1", "")
	enq := fetch("POST", base+"/v1/labels", tok, body)
	require.Equal(t, 503, enq.code, enq.body)
	require.NotEmpty(t, enq.retryAfter)
	require.NotContains(t, enq.body, rs.Addr(), "the 503 does not describe the infrastructure")
	metricsBody := fetch("GET", base+"/metrics", "", nil)
	require.Equal(t, 200, metricsBody.code)
	require.Contains(t, metricsBody.body, "flexlabel_redis_up 0")
	require.NotContains(t, metricsBody.body, "flexlabel_jobs{")
	requireRunning(t, exited, &logs)

	// Redis comes up: the same process serves, no restart.
	rs.Restart()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, 200, fetch("GET", base+"/readyz", "", nil).code)
	}, 15*time.Second, 20*time.Millisecond)
	enq = fetch("POST", base+"/v1/labels", tok, body)
	require.Equal(t, 202, enq.code, enq.body)
	require.Equal(t, 200, fetch("POST", base+"/v1/labels", tok, body).code, "the same request again is a duplicate")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "Redis answered") },
		10*time.Second, 10*time.Millisecond, "serve never said Redis answered: %s", logs.String())

	require.NoError(t, stop())
	require.NotContains(t, logs.String(), tok)
}

func TestWorker_StartsWhileRedisIsDown_WorksOnceItAnswers(t *testing.T) {
	t.Parallel()
	rs := downRedis(t)
	fake := flexapitest.NewTestServer(t, cliToken)
	metricsAddr := freeAddr(t)
	c := &cli{env: map[string]string{
		"REDIS_URL":            rs.URL(),
		"FLEXLABEL_QUEUE":      queuetest.Prefix(t),
		"FLEXLABEL_RETRY_BASE": "100ms",
		"FLEXLABEL_RETRY_MAX":  "1s",
		"FLEXLABEL_LOG_FORMAT": "text",
	}}
	env := map[string]string{
		"FLEXFORWARD_TOKEN":      cliToken,
		"FLEXFORWARD_BASE_URL":   fake.URL(),
		"FLEXLABEL_RATE_LIMIT":   "1000",
		"FLEXLABEL_METRICS_ADDR": metricsAddr,
	}
	for k, v := range c.env {
		env[k] = v
	}
	var logs queuetest.Buffer
	stop, exited := startRun(t, env, &logs, "worker")
	base := "http://" + metricsAddr
	waitHealthy(t, base, 10*time.Second, &logs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "waiting for Redis") },
		10*time.Second, 10*time.Millisecond, "the worker never said it waits for Redis: %s", logs.String())

	// Waiting: alive, not ready, honest metrics.
	requireRunning(t, exited, &logs)
	require.Equal(t, 200, fetch("GET", base+"/healthz", "", nil).code)
	require.Equal(t, 503, fetch("GET", base+"/readyz", "", nil).code)
	m := fetch("GET", base+"/metrics", "", nil)
	require.Equal(t, 200, m.code)
	require.Contains(t, m.body, "flexlabel_redis_up 0")
	require.NotContains(t, m.body, "flexlabel_dead_letters{")
	require.NotContains(t, logs.String(), "flexlabel worker running", "the worker claims to run without Redis")
	requireRunning(t, exited, &logs)

	// Redis comes up: the worker starts and takes a job, no restart.
	rs.Restart()
	r := c.run(t, string(queuetest.RequestJSON("startup-w1", "")), "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
	c.waitState(t, "startup-w1", "completed")
	require.Equal(t, 200, fetch("GET", base+"/readyz", "", nil).code)
	require.Contains(t, logs.String(), "Redis answered")
	require.Contains(t, logs.String(), "flexlabel worker running")
	require.Equal(t, 1, fake.Ledger().CreateCalls, "one label, one call")

	require.NoError(t, stop())
	require.NotContains(t, logs.String(), cliToken)
}

func TestWorker_StoppedWhileWaitingForRedis_ExitsZero(t *testing.T) {
	t.Parallel()
	rs := downRedis(t)
	env := map[string]string{
		"REDIS_URL":            rs.URL(),
		"FLEXLABEL_QUEUE":      queuetest.Prefix(t),
		"FLEXFORWARD_TOKEN":    cliToken,
		"FLEXFORWARD_BASE_URL": "http://127.0.0.1:1",
		"FLEXLABEL_LOG_FORMAT": "text",
	}
	var logs queuetest.Buffer
	stop, exited := startRun(t, env, &logs, "worker")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "waiting for Redis") },
		10*time.Second, 10*time.Millisecond, "the worker never said it waits for Redis: %s", logs.String())
	requireRunning(t, exited, &logs)
	require.NoError(t, stop(), "SIGTERM while waiting is a clean stop")
	require.Contains(t, logs.String(), "stopped before Redis answered")
	require.NotContains(t, logs.String(), cliToken)
}
