package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/internal/metrics"
)

// serveOps serves /metrics, /healthz and /readyz for a worker on addr. With
// metricsTokens set (FLEXLABEL_METRICS_AUTH), /metrics needs one of them
// with scope metrics, as serve's does; health stays open. The returned func
// stops the server.
func serveOps(ctx context.Context, addr string, d *deps, reg *prometheus.Registry, metricsTokens *auth.Set, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	var m http.Handler = metrics.Handler(reg)
	if metricsTokens != nil {
		m = httpapi.RequireScope(metricsTokens, auth.Metrics, m)
	}
	mux.Handle("GET /metrics", m)
	healthz, readyz := httpapi.Health(d.q.Ping, nil)
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("FLEXLABEL_METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", slog.String("error", err.Error()))
		}
	}()
	log.Info("metrics and health endpoints listening", slog.String("addr", ln.Addr().String()))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
