package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/metrics"
	"github.com/flexlabel/flexlabel/worker"
)

func (a *app) workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Process label jobs: call Flex Forward, retry what is transient, dead-letter what is not",
		Long: `Process label jobs until SIGINT or SIGTERM, then stop taking jobs, let in-flight
calls finish within FLEXLABEL_SHUTDOWN_TIMEOUT, and exit 0.
Requires FLEXFORWARD_TOKEN, which it checks with one GET /couriers call, on a
slot of the namespace's budget, before taking any job: a token Flex Forward
refuses (401 or 403) exits 2; an API that is down or erroring at start is only
a warning.
With FLEXLABEL_ACCOUNTS_FILE it runs every account the file names (re-read
every 2 s and on SIGHUP, no restart needed); each account's token is checked
at start, and one refused is reported without stopping the others.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Parse(a.env)
			if err != nil {
				return err
			}
			if err := cfg.RequireToken(); err != nil {
				return err
			}
			log := newLogger(cfg, a.stderr, "")
			fa, err := loadAccounts(cfg, log)
			if err != nil {
				return err
			}
			return a.runWorker(cmd.Context(), cfg, log, fa)
		},
	}
}

// startWorker builds and starts a worker from the configuration; the caller
// shuts it down. It is shared by `worker` and `dev`.
func (a *app) startWorker(ctx context.Context, cfg *config.Config, d *deps, log *slog.Logger, obs worker.Observer, fa *fleetAccounts) (*worker.Worker, error) {
	var api worker.LabelAPI
	var others []worker.Account
	rate := cfg.RateLimit
	if fa == nil {
		c, err := flexapi.NewClient(cfg.FlexForwardBaseURL, cfg.FlexForwardToken.Reveal(), flexapi.WithTimeout(cfg.APITimeout))
		if err != nil {
			return nil, fmt.Errorf("FLEXFORWARD_BASE_URL: %w", err)
		}
		api = c
	} else {
		// Every account, the default among them, through SetAccounts: the
		// file may add, change or remove any of them while the worker runs.
		rate = fa.ownRate()
		var err error
		if others, err = fa.accounts(fa.live.Set()); err != nil {
			return nil, err
		}
	}
	budget, err := worker.NewBudget(d.q, rate)
	if err != nil {
		return nil, fmt.Errorf("FLEXLABEL_RATE_LIMIT: %w", err)
	}
	w, err := worker.New(worker.Config{
		Queue:           d.q,
		API:             api,
		Budget:          budget,
		Logger:          log,
		Metrics:         obs,
		Concurrency:     cfg.Concurrency,
		APITimeout:      cfg.APITimeout,
		MaxRetry:        cfg.MaxRetry,
		RetryBase:       cfg.RetryBase,
		RetryMax:        cfg.RetryMax,
		ShutdownTimeout: cfg.ShutdownTimeout,
		DocumentWait:    cfg.WebhookDocumentWait,
		Tracking: worker.TrackingConfig{On: cfg.TrackingOn(), KeyPrefix: cfg.TrackingKeyPrefix,
			MaxAge: cfg.TrackingMaxAge, Speedup: cfg.TrackingSpeedup},
		Accounts: others,
	})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	if fa != nil {
		// Each account's token is its own: one refused is reported and
		// dead-letters that account's jobs only.
		go fa.checkTokens(ctx, w, fa.live.Set().Accounts())
		go fa.follow(ctx, w)
	}
	return w, nil
}

func (a *app) runWorker(ctx context.Context, cfg *config.Config, log *slog.Logger, fa *fleetAccounts) error {
	d, err := a.connectQueue(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	// With an accounts file, each account's token is checked once the
	// worker runs (startWorker), on its budget; FLEXFORWARD_TOKEN alone
	// before it starts, on the namespace's budget if Redis answers.
	if fa == nil {
		if err := tokenCheckSlot(ctx, d.q, cfg.RateLimit); err != nil {
			log.Debug("checking FLEXFORWARD_TOKEN without a budget slot", slog.String("error", err.Error()))
		}
		if err := checkTokenAtStart(ctx, cfg, log); err != nil {
			return err
		}
	}
	reg, rec := metrics.Registry(d.q, log)
	// The health endpoints come first, so they answer while the worker
	// waits for Redis (/readyz 503 until Redis answers).
	if cfg.MetricsAddr != "" {
		tokens, err := metricsTokens(ctx, cfg, log)
		if err != nil {
			return err
		}
		stop, err := serveOps(ctx, cfg.MetricsAddr, d, reg, tokens, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := waitForRedis(ctx, d, log); err != nil {
		log.Info("flexlabel worker stopped before Redis answered", slog.String("redis", cfg.RedisAddr()))
		return nil
	}
	w, err := a.startWorker(ctx, cfg, d, log, rec, fa)
	if err != nil {
		return err
	}
	hooksDl, err := a.startWebhooks(cfg, d, log, rec)
	if err != nil {
		w.Shutdown()
		return err
	}
	log.Info("flexlabel worker running",
		slog.String("api", cfg.FlexForwardBaseURL),
		slog.String("redis", cfg.RedisAddr()),
		slog.Float64("rate_limit", cfg.RateLimit))
	<-ctx.Done()
	start := time.Now()
	// Labels and webhooks stop together, each within FLEXLABEL_SHUTDOWN_TIMEOUT.
	var wg sync.WaitGroup
	if hooksDl != nil {
		wg.Add(1)
		go func() { defer wg.Done(); hooksDl.Shutdown() }()
	}
	w.Shutdown()
	wg.Wait()
	log.Info("flexlabel worker exited", slog.Duration("shutdown", time.Since(start)))
	return nil
}

// checkTokenAtStart makes one cheap call before any job is taken. A token
// Flex Forward refuses would dead-letter every job as auth, so the worker
// does not start (exit 2, naming FLEXFORWARD_TOKEN). An API that is down or
// erroring is a warning: jobs wait for it and retry.
func checkTokenAtStart(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	err := checkToken(ctx, cfg)
	var ae *flexapi.APIError
	switch {
	case err == nil:
		log.Info("FLEXFORWARD_TOKEN accepted", slog.String("api", cfg.FlexForwardBaseURL))
	case errors.As(err, &ae) && tokenRefused(ae.StatusCode):
		return &config.Error{Problems: []string{tokenRefusedMessage(cfg, ae) + "; the worker took no job"}}
	default:
		log.Warn("could not check FLEXFORWARD_TOKEN at start; starting anyway, jobs retry until the API answers",
			slog.String("api", cfg.FlexForwardBaseURL), slog.String("error", err.Error()))
	}
	return nil
}

// metricsTokens is the token set the worker's /metrics checks under
// FLEXLABEL_METRICS_AUTH=true (nil when false): the API's tokens, from
// FLEXLABEL_API_TOKENS and FLEXLABEL_API_TOKENS_FILE, the file re-read when
// it changes, as serve does (the worker takes no SIGHUP). A Prometheus
// scraper gets a "metrics" line. Without any token the setting could only
// refuse every scrape, so it is a configuration error.
func metricsTokens(ctx context.Context, cfg *config.Config, log *slog.Logger) (*auth.Set, error) {
	if !cfg.MetricsAuth {
		return nil, nil
	}
	loaded, err := cfg.LoadAPITokens()
	if err != nil {
		return nil, err
	}
	all := loaded.All()
	if len(all) == 0 {
		return nil, &config.Error{Problems: []string{
			"FLEXLABEL_METRICS_AUTH: is true, but the worker has no token to check on FLEXLABEL_METRICS_ADDR; set FLEXLABEL_API_TOKENS or FLEXLABEL_API_TOKENS_FILE (a \"metrics TOKEN\" line for Prometheus), or FLEXLABEL_METRICS_AUTH=false"}}
	}
	set, err := auth.NewSet(all)
	if err != nil {
		return nil, &config.Error{Problems: []string{"FLEXLABEL_API_TOKENS: " + err.Error()}}
	}
	if cfg.APITokensFile != "" {
		w := &auth.Watcher{Path: cfg.APITokensFile, Fixed: loaded.Env, Set: set, Log: log, Loaded: loaded.FileSum}
		go w.Run(ctx)
	}
	return set, nil
}
