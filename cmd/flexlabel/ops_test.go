package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

// The worker's /healthz and /readyz are the API's handlers (httpapi.Health):
// with Redis down, /readyz answers 503 with the API's body and Retry-After.
func TestServeOps_ReadyzIsTheAPIs(t *testing.T) {
	t.Parallel()
	dead := freeAddr(t) // nothing listens there
	rdb := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: "ops"})
	require.NoError(t, err)
	addr := freeAddr(t)
	stop, err := serveOps(context.Background(), addr, &deps{q: q, rdb: rdb}, prometheus.NewRegistry(), nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stop)

	resp, err := http.Get("http://" + addr + "/readyz") // serveOps returns listening
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.JSONEq(t, `{"status":"unavailable","error":"not ready"}`, string(body))
}
