package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/internal/opsui"
	"github.com/flexlabel/flexlabel/queue"
)

// serveShutdownTimeout bounds how long `serve` waits for in-flight requests
// after SIGINT or SIGTERM.
const serveShutdownTimeout = 10 * time.Second

func (a *app) serveCmd() *cobra.Command {
	var insecureNoAuth bool
	cmd := &cobra.Command{
		Use:   "serve [--insecure-no-auth]",
		Short: "Serve the HTTP API: order systems enqueue labels, operators drain dead letters",
		Long: `Serve the HTTP API on FLEXLABEL_HTTP_ADDR until SIGINT or SIGTERM, then finish
in-flight requests (up to 10s) and exit 0. The API is described at GET /openapi.yaml.

Routes that need a token, sent as "Authorization: Bearer <token>" or as the
password of HTTP basic auth, with the scope shown (a token lacking it: 403).
Tokens come from FLEXLABEL_API_TOKENS (comma-separated, scope all) and from
FLEXLABEL_API_TOKENS_FILE (lines "SCOPE TOKEN [KEY_PREFIX...]", re-read when it
changes and on SIGHUP):
  POST   /v1/labels                      producer  enqueue one label request
  POST   /v1/labels/batch                producer  enqueue up to 1000 (NDJSON or a JSON array)
  GET    /v1/labels/{key}                producer or viewer  a job's status
  GET    /v1/dead-letters                viewer    a page of dead letters
  POST   /v1/dead-letters/redrive        operator  redrive every dead letter of a reason, or all (dryRun=true: count)
  POST   /v1/dead-letters/discard        operator  discard every dead letter of a reason, or all (dryRun=true: count)
  POST   /v1/dead-letters/export         operator  the dead letters' requests as NDJSON, as dlq export
  GET    /v1/dead-letters/{key}          viewer    one dead letter, with its request
  DELETE /v1/dead-letters/{key}          operator  discard one dead letter
  POST   /v1/dead-letters/{key}/redrive  operator  redrive one dead letter
  POST   /v1/webhook-endpoints           operator  subscribe a webhook endpoint; answers its secret, once
  GET    /v1/webhook-endpoints           operator  every webhook endpoint (no secrets)
  GET    /v1/webhook-endpoints/{id}      operator  one webhook endpoint
  PATCH  /v1/webhook-endpoints/{id}      operator  change url, events, keyPrefix, enabled
  DELETE /v1/webhook-endpoints/{id}      operator  delete a webhook endpoint
  POST   /v1/webhook-endpoints/{id}/disable        operator  disable one, with a reason
  POST   /v1/webhook-endpoints/{id}/rotate-secret  operator  a new secret; the old one stays valid 24h
  (the webhook routes answer 409 without FLEXLABEL_WEBHOOK_SIGNING_KEY)
  GET    /v1/webhook-endpoints/{id}/deliveries  operator  an endpoint's delivery log
  POST   /v1/webhook-endpoints/{id}/redeliver   operator  redeliver its failed deliveries ?since=T
  GET    /v1/webhook-events/{id}/deliveries     operator  an event's deliveries
  POST   /v1/webhook-events/{id}/redeliver      operator  redeliver one event
  *      /ui/...                         viewer    the operator UI (a browser logs in with basic auth)
  GET    /metrics                        metrics   only with FLEXLABEL_METRICS_AUTH=true

Routes served to anyone:
  GET    /healthz                        liveness
  GET    /readyz                         readiness (503 while Redis does not answer)
  GET    /openapi.yaml                   the OpenAPI 3.1 document
  GET    /metrics                        Prometheus metrics, unless FLEXLABEL_METRICS_AUTH=true

--insecure-no-auth serves every route without tokens. It is refused unless
FLEXLABEL_HTTP_ADDR is a loopback address (127.0.0.1:8080, localhost:8080,
[::1]:8080), and together with FLEXLABEL_METRICS_AUTH=true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Parse(a.env)
			if err != nil {
				return err
			}
			tokens, err := cfg.LoadAPITokens()
			if err != nil {
				return err
			}
			have := len(tokens.All()) > 0
			if err := checkServeAuth(cfg.HTTPAddr, have, insecureNoAuth); err != nil {
				return err
			}
			if cfg.MetricsAuth && !have {
				return &config.Error{Problems: []string{
					"FLEXLABEL_METRICS_AUTH: is true, but --insecure-no-auth serves without FLEXLABEL_API_TOKENS or FLEXLABEL_API_TOKENS_FILE, so there is no token to check; set one of them or FLEXLABEL_METRICS_AUTH=false"}}
			}
			log := newLogger(cfg, a.stderr, "")
			return a.serve(cmd.Context(), cfg, tokens, insecureNoAuth, log)
		},
	}
	cmd.Flags().BoolVar(&insecureNoAuth, "insecure-no-auth", false,
		"serve without FLEXLABEL_API_TOKENS or FLEXLABEL_API_TOKENS_FILE; only on a loopback FLEXLABEL_HTTP_ADDR")
	return cmd
}

// checkServeAuth refuses to serve without tokens, except with
// --insecure-no-auth on a loopback address. ":8080" listens on every
// interface, so it is not loopback.
func checkServeAuth(addr string, haveTokens, insecureNoAuth bool) error {
	if insecureNoAuth {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !flexapi.IsLoopback(host) {
			return &config.Error{Problems: []string{fmt.Sprintf(
				"FLEXLABEL_API_TOKENS: --insecure-no-auth is allowed only when FLEXLABEL_HTTP_ADDR is a loopback address such as 127.0.0.1:8080, got %q; set FLEXLABEL_API_TOKENS or FLEXLABEL_API_TOKENS_FILE instead", addr)}}
		}
		return nil
	}
	if !haveTokens {
		return &config.Error{Problems: []string{
			"FLEXLABEL_API_TOKENS: or FLEXLABEL_API_TOKENS_FILE is required to serve the API (comma-separated tokens of at least 16 characters with scope all, or a file of lines \"SCOPE TOKEN [KEY_PREFIX...]\"); for local development only, --insecure-no-auth with a loopback FLEXLABEL_HTTP_ADDR"}}
	}
	return nil
}

func (a *app) serve(ctx context.Context, cfg *config.Config, tokens *config.APITokens, insecureNoAuth bool, log *slog.Logger) error {
	// Redis need not answer yet: until it does, /readyz and every API
	// route that needs it answer 503 with Retry-After, and serve starts
	// working the moment it answers.
	d, reg, _, err := a.connectObserved(cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	var set *auth.Set
	if all := tokens.All(); len(all) > 0 {
		if set, err = auth.NewSet(all); err != nil {
			return &config.Error{Problems: []string{"FLEXLABEL_API_TOKENS: " + err.Error()}}
		}
	}
	h, err := newHTTPHandler(d, set, insecureNoAuth, true, cfg.MetricsAuth, reg, log)
	if err != nil {
		return err
	}
	if set != nil && cfg.APITokensFile != "" {
		// SIGHUP re-reads the tokens file; serve alone listens for it.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		wctx, stopWatching := context.WithCancel(ctx)
		watched := make(chan struct{})
		w := &auth.Watcher{Path: cfg.APITokensFile, Fixed: tokens.Env, Set: set, Log: log, Reload: hup, Loaded: tokens.FileSum}
		go func() { defer close(watched); w.Run(wctx) }()
		defer func() { stopWatching(); <-watched }()
	}
	wctx, stopWaiting := context.WithCancel(ctx)
	waited := make(chan struct{})
	go func() { defer close(waited); _ = waitForRedis(wctx, d, log) }()
	defer func() { stopWaiting(); <-waited }()
	return runHTTP(ctx, cfg.HTTPAddr, h, log, func(addr net.Addr) {
		log.Info("flexlabel serve listening",
			slog.String("addr", addr.String()),
			slog.String("redis", cfg.RedisAddr()),
			slog.String("queue", cfg.Queue),
			slog.Bool("auth", set != nil),
			slog.Bool("webhooks", cfg.WebhookSigningKey != ""),
			slog.Int("env_tokens", len(tokens.Env)),
			slog.Int("file_tokens", len(tokens.File)))
		if set == nil {
			log.Warn("serving without authentication (--insecure-no-auth)")
		}
	})
}

// openObserved opens the queue with its enqueue outcomes counted, and the
// metrics registry over it.
func (a *app) openObserved(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, *prometheus.Registry, *metrics.Recorder, error) {
	d, reg, rec, err := a.connectObserved(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := d.q.Ping(ctx); err != nil {
		d.Close()
		return nil, nil, nil, fmt.Errorf("redis at %s: %w", cfg.RedisAddr(), err)
	}
	return d, reg, rec, nil
}

// connectObserved is openObserved without waiting for Redis to answer.
func (a *app) connectObserved(cfg *config.Config, log *slog.Logger) (*deps, *prometheus.Registry, *metrics.Recorder, error) {
	var rec *metrics.Recorder
	d, err := a.connectQueue(cfg, func(l queue.Lane, o queue.Outcome) { rec.Enqueue(l, o) })
	if err != nil {
		return nil, nil, nil, err
	}
	var reg *prometheus.Registry
	reg, rec = metrics.Registry(d.q, log)
	return d, reg, rec, nil
}

// runHTTP serves h on addr until ctx ends, then shuts down gracefully:
// requests in flight get serveShutdownTimeout to finish. listening is called
// with the bound address once the listener is up.
func runHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger, listening func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("FLEXLABEL_HTTP_ADDR: %w", err)
	}
	srv := httpapi.NewServer(addr, h)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(httpapi.Listener(ln)) }()
	listening(ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	// Requests in flight keep their own contexts: ctx is already done, and
	// they may finish within the shutdown timeout.
	sctx, cancel := context.WithTimeout(context.Background(), serveShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at the shutdown timeout; closing their connections",
			slog.Duration("timeout", serveShutdownTimeout), slog.String("error", err.Error()))
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP server stopped with an error", slog.String("error", err.Error()))
	}
	log.Info("HTTP server stopped", slog.Duration("shutdown", time.Since(start)))
	return nil
}

// newHTTPHandler is the HTTP face of serve and dev: the producers' API, the
// metrics (unauthenticated like most scrape targets, as they hold no
// secrets, unless metricsAuth: FLEXLABEL_METRICS_AUTH, then scope metrics),
// the webhook endpoints (when d.cfg has FLEXLABEL_WEBHOOK_SIGNING_KEY; the
// routes answer 409 naming it otherwise, and the console's webhook pages
// say so),
// and the operator UI (scope viewer when uiAuth; otherwise open to everyone
// as httpapi.Anonymous, which dev allows on a loopback address only). A nil
// tokens serves without authentication (allowUnauthenticated).
func newHTTPHandler(d *deps, tokens *auth.Set, allowUnauthenticated, uiAuth, metricsAuth bool, reg *prometheus.Registry, log *slog.Logger) (*httpapi.Handler, error) {
	eps, err := webhookEndpoints(d.cfg, d.rdb)
	if err != nil {
		return nil, err
	}
	dlog, err := deliveryLog(d)
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(httpapi.Config{
		Queue:                d.q,
		Endpoints:            eps,
		Deliveries:           dlog,
		TokenSet:             tokens,
		AllowUnauthenticated: allowUnauthenticated,
		Logger:               log,
	})
	if err != nil {
		return nil, err
	}
	if metricsAuth {
		h.Handle("GET /metrics", metrics.Handler(reg), auth.Metrics)
	} else {
		h.Handle("GET /metrics", metrics.Handler(reg), auth.Public)
	}
	// The console shows the same endpoints and delivery log as the API
	// (nil while webhooks are off: its pages say so).
	uiOpts := []opsui.Option{opsui.WithWebhooks(eps, dlog)}
	if tokens != nil {
		uiOpts = append(uiOpts, opsui.WithTokens(tokens))
	}
	ui := opsui.New(d.q, log, uiOpts...)
	if uiAuth {
		// The console checks each page's account itself (?account=): a
		// token bound to accounts sees only theirs.
		h.Handle("/ui/", ui, auth.Viewer)
	} else {
		h.Handle("/ui/", httpapi.AsAnonymous(ui), auth.Public)
	}
	return h, nil
}
