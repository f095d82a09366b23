package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/flexlabel/flexlabel/internal/store"
)

// Task types on the webhooks queue.
const (
	// TaskEvent fans one recorded event out to its endpoints; payload: the
	// event id, task id: the event id. Part of the outcome's own script
	// (internal/store), so an outcome and its event are never separated.
	TaskEvent = "webhook:event"
	// TaskDeliver sends one event to one endpoint; payload: JSON
	// {"event","endpoint"}, task id "<event>.<endpoint>" (a redelivery adds
	// a suffix).
	TaskDeliver = "webhook:deliver"
)

// QueueName is the asynq queue of a namespace's webhooks, beside the label
// lanes' namespace and namespace+"-bulk".
func QueueName(namespace string) string { return namespace + "-webhooks" }

// deliverMaxRetry is the asynq retry count of a deliver task: high enough
// never to be what ends retries; the retry window (RetryFor) does.
const deliverMaxRetry = 100000

type deliverPayload struct {
	Event    string `json:"event"`
	Endpoint string `json:"endpoint"`
}

// fanOut handles TaskEvent: one deliver task per matching enabled
// endpoint, a skipped delivery per disabled one. A retried fan-out (a
// crash midway) sends nothing twice: an endpoint whose delivery ran is
// passed over, and a task id already taken is success.
func (d *Deliverer) fanOut(ctx context.Context, t *asynq.Task) error {
	id := string(t.Payload())
	ev, sub, err := d.cfg.Events.EventAbout(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		d.log.Warn("webhook event expired before its fan-out; nothing to deliver", slog.String("event", id))
		return nil
	}
	if err != nil {
		return fmt.Errorf("hooks: loading event %s: %w", id, err)
	}
	targets, err := d.cfg.Endpoints.Matching(ctx, ev.Type, sub.Account, sub.Key)
	if err != nil {
		return fmt.Errorf("hooks: matching endpoints of event %s: %w", id, err)
	}
	now := time.Now()
	for _, tg := range targets {
		result, reason := ResultPending, ""
		if !tg.Enabled {
			result, reason = ResultSkipped, reasonDisabled
		}
		// The record first, then the task: a crash between them leaves a
		// pending delivery, which the retried fan-out enqueues (an id
		// already taken is success); any other result means it ran.
		isNew, got, err := d.dlog.claim(ctx, ev, tg.ID, result, reason, now)
		if err != nil {
			return err
		}
		if isNew && got == ResultSkipped {
			d.obs.WebhookDelivery(ResultSkipped, 0)
		}
		if got != ResultPending {
			continue
		}
		if err := d.dlog.enqueue(ctx, ev.ID, tg.ID, ""); err != nil {
			return err
		}
	}
	d.log.Debug("webhook event fanned out", slog.String("event", id), slog.Int("endpoints", len(targets)))
	return nil
}

const (
	reasonDisabled = "endpoint disabled"
	reasonDeleted  = "endpoint deleted"
	reasonExpired  = "event expired"
)
