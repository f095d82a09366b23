package main

import (
	"context"
	"log/slog"
	"time"
)

// Pacing of waitForRedis: PINGs start redisWaitFirst apart and back off to
// redisWaitMax, so a long outage costs a PING (and a go-redis log line)
// every few seconds; a reminder is logged every redisWaitReminder.
const (
	redisWaitFirst    = 100 * time.Millisecond
	redisWaitMax      = 2 * time.Second
	redisWaitReminder = time.Minute
)

// waitForRedis returns nil as soon as Redis answers a PING, or ctx's error
// if ctx ends first. serve and worker call it at start, so that a process
// started while Redis is down (a pod restarted during an outage) waits for
// it instead of exiting and crash-looping. It logs when it starts waiting,
// a reminder each minute, and when Redis answers; nothing when Redis
// answers the first PING.
func waitForRedis(ctx context.Context, d *deps, log *slog.Logger) error {
	start := time.Now()
	delay, reminded := redisWaitFirst, start
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.q.Ping(pctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("Redis answered; starting", slog.String("redis", d.cfg.RedisAddr()),
					slog.Duration("waited", time.Since(start).Round(time.Millisecond)))
			}
			return nil
		}
		switch {
		case attempt == 1:
			log.Warn("waiting for Redis: it does not answer; /healthz is 200 and /readyz 503 meanwhile",
				slog.String("redis", d.cfg.RedisAddr()), slog.String("error", err.Error()))
		case time.Since(reminded) >= redisWaitReminder:
			reminded = time.Now()
			log.Warn("still waiting for Redis", slog.String("redis", d.cfg.RedisAddr()),
				slog.Duration("waited", time.Since(start).Round(time.Second)), slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, redisWaitMax)
	}
}
