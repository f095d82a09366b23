package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// waitHealthy waits until base serves /healthz; logs explain a failure.
func waitHealthy(t *testing.T, base string, within time.Duration, logs *queuetest.Buffer) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, within, 20*time.Millisecond, "never served /healthz: %s", logs.String())
}

// TestDev_OneProcessServesEverything runs `flexlabel dev` as a user would on a
// machine with only Go: in-process Redis, fake API, worker, API, metrics, UI.
func TestDev_OneProcessServesEverything(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out queuetest.Buffer
	var errb queuetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--seed", "12"}, map[string]string{"FLEXLABEL_HTTP_ADDR": addr}, strings.NewReader(""), &out, &errb)
	}()
	base := "http://" + addr
	waitHealthy(t, base, 15*time.Second, &errb)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "flexlabel dev is running") }, 15*time.Second, 20*time.Millisecond)
	token := regexp.MustCompile(`dev-producer-[0-9a-f]+`).FindString(out.String())
	require.NotEmpty(t, token, out.String())

	body, err := os.ReadFile("../../docs/examples/request.json")
	require.NoError(t, err)
	req, _ := http.NewRequest("POST", base+"/v1/labels", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 202, resp.StatusCode)
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest("GET", base+"/v1/labels/ord-20260527-0001", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"state":"completed"`)
	}, 15*time.Second, 100*time.Millisecond, "the label never completed against the built-in fake")

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, metrics := get("/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, metrics, `flexlabel_enqueue_total{lane="interactive",outcome="enqueued"} 1`)
	require.Contains(t, metrics, "flexlabel_labels_created_total")
	require.Contains(t, metrics, "flexlabel_api_call_duration_seconds")
	code, ui := get("/ui/")
	require.Equal(t, 200, code)
	require.Contains(t, ui, "/ui/dead-letters")
	code, _ = get("/ui/queues/")
	require.Equal(t, 200, code)
	// seeded dead letters show up (of 12 samples, the 8th is rejected by the courier)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/ui/dead-letters?reason=courier_rejected")
		require.NoError(c, err)
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		assert.Contains(c, string(page), "sample-00008")
	}, 20*time.Second, 200*time.Millisecond)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("dev did not stop after cancel")
	}
}
