package main

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/internal/hooks"
)

// webhookSetup is what webhook delivery needs beyond the configuration
// (issue 15): the endpoints (part A) and the events (part B).
type webhookSetup struct {
	Endpoints    hooks.EndpointSource
	Events       hooks.EventSource
	AllowPrivate bool // FLEXLABEL_WEBHOOK_ALLOW_PRIVATE
}

// webhookSources returns the sources delivery reads — the endpoints, whose
// secrets derive from FLEXLABEL_WEBHOOK_SIGNING_KEY, and the queue's
// recorded events — or nil when webhooks are off (the key unset).
//
// A variable so that a (sequential) test can give fakes.
var webhookSources = func(d *deps) (*webhookSetup, error) {
	eps, err := webhookEndpoints(d.cfg, d.rdb)
	if err != nil || eps == nil {
		return nil, err
	}
	return &webhookSetup{Endpoints: eps, Events: d.q, AllowPrivate: d.cfg.WebhookAllowPrivate}, nil
}

// deliveryLog is the webhook delivery log serve and the CLI read, or nil
// while webhooks are off.
func deliveryLog(d *deps) (*hooks.Log, error) {
	s, err := webhookSources(d)
	if err != nil || s == nil {
		return nil, err
	}
	return hooks.NewLog(d.rdb, d.cfg.Queue, hooks.LogOptions{TaskTimeout: d.cfg.WebhookTimeout + time.Minute}), nil
}

// hooksConfig is delivery's configuration from the environment's.
func hooksConfig(cfg *config.Config, rdb redis.UniversalClient, s *webhookSetup, log *slog.Logger, obs hooks.Observer) hooks.Config {
	return hooks.Config{
		Redis:           rdb,
		Namespace:       cfg.Queue,
		Endpoints:       s.Endpoints,
		Events:          s.Events,
		Logger:          log,
		Metrics:         obs,
		Concurrency:     cfg.WebhookConcurrency,
		Timeout:         cfg.WebhookTimeout,
		AllowPrivate:    s.AllowPrivate,
		RetryFor:        cfg.WebhookRetryFor,
		DisableAfter:    cfg.WebhookDisableAfter,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Log:             hooks.LogOptions{TaskTimeout: cfg.WebhookTimeout + time.Minute},
	}
}

// startWebhooks starts webhook delivery beside the label worker: its own
// asynq server on the "<namespace>-webhooks" queue with
// FLEXLABEL_WEBHOOK_CONCURRENCY slots, apart from the label lanes' slots and
// their rate budget. It returns nil (and says so) when webhooks are off.
func (a *app) startWebhooks(cfg *config.Config, d *deps, log *slog.Logger, obs hooks.Observer) (*hooks.Deliverer, error) {
	s, err := webhookSources(d)
	if err != nil {
		return nil, err
	}
	if s == nil {
		log.Info("webhooks off: FLEXLABEL_WEBHOOK_SIGNING_KEY is not set; no webhook is delivered")
		return nil, nil
	}
	return startDeliverer(hooksConfig(cfg, d.rdb, s, log, obs))
}

func startDeliverer(c hooks.Config) (*hooks.Deliverer, error) {
	dl, err := hooks.NewDeliverer(c)
	if err != nil {
		return nil, err
	}
	if err := dl.Start(); err != nil {
		return nil, err
	}
	return dl, nil
}
