package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
	"github.com/flexlabel/flexlabel/worker"
)

// Defaults of delivery, written only here (config's FLEXLABEL_WEBHOOK_*
// default to them).
const (
	DefaultConcurrency  = 10
	DefaultRetryFor     = 72 * time.Hour
	DefaultDisableAfter = 24 * time.Hour
	DefaultRetryBase    = 10 * time.Second
	DefaultRetryMax     = 6 * time.Hour
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter = time.Hour
)

// UserAgent is sent with every delivery.
const UserAgent = "flexlabel-webhooks/1"

// Observer receives delivery outcomes, for metrics; *metrics.Recorder
// implements it. result is one of ResultDelivered, ResultFailed,
// ResultRetrying, ResultSkipped; latency is 0 without an attempt.
type Observer interface {
	WebhookDelivery(result string, latency time.Duration)
}

type nopObserver struct{}

func (nopObserver) WebhookDelivery(string, time.Duration) {}

// Config configures a Deliverer. Redis, Endpoints and Events are required.
type Config struct {
	Redis     redis.UniversalClient
	Namespace string // default "flexlabel"
	Endpoints EndpointSource
	Events    EventSource
	Logger    *slog.Logger
	Metrics   Observer

	Concurrency  int           // deliveries at once (FLEXLABEL_WEBHOOK_CONCURRENCY); default 10
	Timeout      time.Duration // one attempt (FLEXLABEL_WEBHOOK_TIMEOUT); default webhook.DefaultTimeout
	AllowPrivate bool          // FLEXLABEL_WEBHOOK_ALLOW_PRIVATE
	// RetryFor is how long a delivery is retried from its first attempt
	// (FLEXLABEL_WEBHOOK_RETRY_FOR); default 72h.
	RetryFor time.Duration
	// DisableAfter: an endpoint whose deliveries all failed for this long
	// (no success in between) is disabled (FLEXLABEL_WEBHOOK_DISABLE_AFTER);
	// default 24h.
	DisableAfter time.Duration
	// RetryBase and RetryMax shape the backoff (worker.Backoff: exponential
	// with full jitter); defaults 10s and 6h. Tests make them small.
	RetryBase, RetryMax time.Duration

	// LeaseFor is how long an event leased by the drain (drain.go) stays
	// with this deliverer without a renewal: a deliverer killed holding
	// events has them delivered by another this long after; default
	// DefaultLeaseFor.
	LeaseFor time.Duration

	ShutdownTimeout          time.Duration // default 10s
	TaskCheckInterval        time.Duration // default 100ms
	DelayedTaskCheckInterval time.Duration // default 1s
	Log                      LogOptions
}

// Deliverer delivers a namespace's webhook events with its own slots,
// apart from the label lanes and their budget, so a slow or dead receiver
// cannot delay a label: a drain (drain.go) makes every delivery's first
// attempt, from the pending list the outcome scripts write, and an asynq
// server on the webhooks queue runs the retries and redeliveries
// (webhook:deliver tasks, each up to Concurrency at once).
type Deliverer struct {
	cfg    Config
	log    *slog.Logger
	obs    Observer
	dlog   *Log
	client *http.Client
	srv    *asynq.Server
	drain  *drain
}

// NewDeliverer validates cfg and returns a Deliverer ready to Start.
func NewDeliverer(cfg Config) (*Deliverer, error) {
	if cfg.Redis == nil || cfg.Endpoints == nil || cfg.Events == nil {
		return nil, errors.New("hooks: Redis, Endpoints and Events are required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "flexlabel"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopObserver{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	def(&cfg.Timeout, webhook.DefaultTimeout)
	def(&cfg.RetryFor, DefaultRetryFor)
	def(&cfg.DisableAfter, DefaultDisableAfter)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.LeaseFor, DefaultLeaseFor)
	def(&cfg.ShutdownTimeout, 10*time.Second)
	def(&cfg.TaskCheckInterval, 100*time.Millisecond)
	def(&cfg.DelayedTaskCheckInterval, time.Second)
	def(&cfg.Log.TaskTimeout, cfg.Timeout+time.Minute)
	d := &Deliverer{cfg: cfg, log: cfg.Logger, obs: cfg.Metrics,
		dlog: NewLog(cfg.Redis, cfg.Namespace, cfg.Log),
		client: webhook.NewClient(webhook.ClientOptions{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.Timeout,
			// Every slot may be sending to one receiver: keep a connection
			// per slot rather than reconnecting.
			MaxIdleConnsPerHost: max(cfg.Concurrency, webhook.DefaultMaxIdleConnsPerHost)})}
	d.srv = asynq.NewServerFromRedisClient(cfg.Redis, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{QueueName(cfg.Namespace): 1},
		RetryDelayFunc:           d.retryDelay,
		Logger:                   worker.AsynqLogger(cfg.Logger.With(slog.String("lane", "webhooks"))),
		LogLevel:                 asynq.WarnLevel,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			var re *retryError
			if !errors.As(err, &re) && !errors.Is(err, asynq.SkipRetry) {
				d.log.Warn("webhook task failed; asynq retries it", slog.String("type", t.Type()), slog.String("error", err.Error()))
			}
		}),
	})
	d.drain = newDrain(d)
	return d, nil
}

// Log returns the delivery log the Deliverer writes.
func (d *Deliverer) Log() *Log { return d.dlog }

// Start begins delivering in the background.
func (d *Deliverer) Start() error {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskEvent, d.fanOut)
	mux.HandleFunc(TaskDeliver, d.deliver)
	if err := d.srv.Start(mux); err != nil {
		return fmt.Errorf("hooks: starting: %w", err)
	}
	d.drain.start()
	d.log.Info("webhook delivery started", slog.String("queue", QueueName(d.cfg.Namespace)),
		slog.Int("concurrency", d.cfg.Concurrency))
	return nil
}

// Shutdown stops taking deliveries and lets in-flight ones finish within
// the shutdown timeout; the events it still holds are released at once for
// any deliverer to take, and asynq requeues its tasks: at least once.
func (d *Deliverer) Shutdown() {
	d.drain.stop(d.cfg.ShutdownTimeout)
	d.srv.Shutdown()
	d.log.Info("webhook delivery stopped")
}

// retryError: a failed attempt to run again after the policy's delay.
type retryError struct {
	after time.Duration
	err   error
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func (d *Deliverer) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var re *retryError
	if errors.As(err, &re) && re.after > 0 {
		return re.after
	}
	return worker.Backoff(n, d.cfg.RetryBase, d.cfg.RetryMax)
}

// verdict is what one attempt's answer means.
type verdict struct {
	result     string        // ResultDelivered, ResultRetrying or ResultFailed
	retryAfter time.Duration // the receiver's Retry-After, capped; 0 for none
	gone       bool          // 410: the receiver asks us to stop (disable now)
	why        string        // for a failure: what was wrong
}

// classify is the one place deciding, from an attempt's answer (status 0:
// no answer, netErr set), whether the delivery is done, retried or failed:
// network errors, 5xx, 408 and 429 are retried (honouring Retry-After);
// any other status outside 2xx fails without retry, 410 also disabling
// the endpoint. Redirects are not followed, so a 3xx is a failure.
func classify(status int, netErr error, h http.Header, now time.Time) verdict {
	switch {
	case netErr != nil:
		return verdict{result: ResultRetrying, why: netErr.Error()}
	case status >= 200 && status < 300:
		return verdict{result: ResultDelivered}
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return verdict{result: ResultRetrying, retryAfter: retryAfter(h.Get("Retry-After"), now), why: "HTTP " + strconv.Itoa(status)}
	case status == http.StatusGone:
		return verdict{result: ResultFailed, gone: true, why: "HTTP 410: the receiver asked to stop deliveries"}
	default:
		return verdict{result: ResultFailed, why: "HTTP " + strconv.Itoa(status) + " (not retried)"}
	}
}

// retryAfter reads a Retry-After value, seconds or an HTTP date, capped at
// MaxRetryAfter; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// deliver handles TaskDeliver: one attempt, recorded, then done, retried
// (*retryError) or failed (asynq.SkipRetry).
func (d *Deliverer) deliver(ctx context.Context, t *asynq.Task) error {
	var p deliverPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Event == "" || p.Endpoint == "" {
		return fmt.Errorf("hooks: malformed deliver payload: %w", asynq.SkipRetry)
	}
	tg, err := d.cfg.Endpoints.Target(ctx, p.Endpoint)
	if errors.Is(err, ErrNotFound) {
		return d.skip(ctx, p, reasonDeleted)
	}
	if err != nil {
		return fmt.Errorf("hooks: loading endpoint %s: %w", p.Endpoint, err)
	}
	if !tg.Enabled {
		return d.skip(ctx, p, reasonDisabled)
	}
	if !signable(tg.Secrets) {
		// Never sent unsigned: webhook.Sign refuses, and a receiver could not authenticate it.
		return fmt.Errorf("hooks: endpoint %s has no signing secret: %w", tg.ID, asynq.SkipRetry)
	}
	ev, _, err := d.cfg.Events.EventAbout(ctx, p.Event)
	if errors.Is(err, store.ErrNotFound) {
		if err := d.dlog.setResult(ctx, p.Event, p.Endpoint, ResultFailed, reasonExpired); err != nil {
			return err
		}
		d.obs.WebhookDelivery(ResultFailed, 0)
		return fmt.Errorf("hooks: event %s expired: %w", p.Event, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("hooks: loading event %s: %w", p.Event, err)
	}
	// The same event gives the same bytes on every attempt (the envelope is
	// stored, encoding/json is deterministic), so the receiver sees one id
	// and one body however often it is sent.
	body, err := encodeEvent(ev)
	if err != nil {
		return fmt.Errorf("hooks: encoding event %s: %w", p.Event, asynq.SkipRetry)
	}
	start := time.Now()
	first, err := d.dlog.runStart(ctx, ev.ID, tg.ID, start)
	if err != nil {
		return err
	}
	a := d.send(ctx, tg, ev, body, start)
	v := classify(a.Status, a.netErr, a.header, time.Now())
	if v.result == ResultRetrying && time.Since(first) >= d.cfg.RetryFor {
		v.result = ResultFailed
		v.why += "; retried for " + d.cfg.RetryFor.String() + ", giving up"
	}
	a.Result = v.result
	if v.result != ResultDelivered {
		a.Error = v.why
	}
	if err := d.dlog.recordAttempt(ctx, ev, tg.ID, a.Attempt); err != nil {
		return err // asynq runs it again: the attempt is sent again, at least once
	}
	latency := time.Duration(a.LatencyMs) * time.Millisecond
	d.obs.WebhookDelivery(v.result, latency)
	if v.result == ResultDelivered {
		return nil
	}
	d.checkDisable(ctx, tg.ID, v, a.At)
	if v.result == ResultRetrying {
		return &retryError{after: v.retryAfter, err: fmt.Errorf("hooks: delivering %s to %s: %s", ev.ID, tg.ID, v.why)}
	}
	return fmt.Errorf("hooks: delivering %s to %s: %s: %w", ev.ID, tg.ID, v.why, asynq.SkipRetry)
}

// checkDisable disables endpoint ep after a failed attempt when its
// failures have lasted DisableAfter, or at once when it answered 410.
func (d *Deliverer) checkDisable(ctx context.Context, ep string, v verdict, now time.Time) {
	since, err := d.dlog.failing(ctx, ep, now, d.cfg.DisableAfter+d.cfg.RetryFor)
	if err != nil {
		d.log.Warn("webhook: recording the endpoint's failure", slog.String("endpoint", ep), slog.String("error", err.Error()))
		return
	}
	var reason string
	switch {
	case v.gone:
		reason = "disabled automatically: the receiver answered 410 Gone at " + now.UTC().Format(time.RFC3339)
	case now.Sub(since) >= d.cfg.DisableAfter:
		reason = "disabled automatically: every delivery failed since " + since.UTC().Format(time.RFC3339) +
			" (last: " + v.why + ")"
	default:
		return
	}
	if err := d.cfg.Endpoints.Disable(ctx, ep, reason); err != nil && !errors.Is(err, ErrNotFound) {
		d.log.Warn("webhook: disabling a failing endpoint", slog.String("endpoint", ep), slog.String("error", err.Error()))
		return
	}
	d.log.Warn("webhook endpoint disabled; its events stay redeliverable", slog.String("endpoint", ep), slog.String("reason", reason))
}

// signable reports whether secrets can sign a delivery: at least one, none empty.
func signable(secrets []string) bool {
	for _, s := range secrets {
		if s == "" {
			return false
		}
	}
	return len(secrets) > 0
}

func (d *Deliverer) skip(ctx context.Context, p deliverPayload, reason string) error {
	if err := d.dlog.setResult(ctx, p.Event, p.Endpoint, ResultSkipped, reason); err != nil {
		return err
	}
	d.obs.WebhookDelivery(ResultSkipped, 0)
	return nil
}

// sent is an attempt with what classify needs beside it.
type sent struct {
	Attempt
	netErr error
	header http.Header
}

// send makes one POST of body to tg, signed with each of its secrets.
func (d *Deliverer) send(ctx context.Context, tg Target, ev webhook.Event, body []byte, start time.Time) sent {
	s := sent{Attempt: Attempt{At: start.UTC()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.URL, bytes.NewReader(body))
	if err != nil {
		s.netErr = errors.New("building the request: the endpoint's URL is not usable")
		return s
	}
	// Canonical keys set directly, the constant values shared (nothing
	// writes a request's header values once it is sent): Header.Set would
	// canonicalize each key and allocate each value, for every delivery.
	req.Header = http.Header{
		"Content-Type":          headerJSON,
		"User-Agent":            headerUserAgent,
		"Flexlabel-Event-Id":    {ev.ID},
		"Flexlabel-Event-Type":  {string(ev.Type)},
		webhook.SignatureHeader: {webhook.Sign(body, start, tg.Secrets...)},
	}
	resp, err := d.client.Do(req)
	if err != nil {
		s.LatencyMs = time.Since(start).Milliseconds()
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			s.netErr = errors.New("timeout: no answer within " + d.cfg.Timeout.String())
		} else {
			s.netErr = errors.New(scrubURL(err, tg.URL))
		}
		return s
	}
	defer resp.Body.Close()
	s.Status, s.header = resp.StatusCode, resp.Header
	if resp.ContentLength != 0 { // an empty answer (a 204) has nothing to read
		b, trunc, _ := webhook.ReadLimited(resp.Body, webhook.DefaultResponseLimit)
		s.Response, s.ResponseTruncated = string(b), trunc
	}
	s.LatencyMs = time.Since(start).Milliseconds()
	return s
}

// The constant header values of a delivery's request (see send).
var (
	headerJSON      = []string{"application/json"}
	headerUserAgent = []string{UserAgent}
)

// encodeEvent returns the bytes json.Marshal gives for ev, without its
// reflection when it can (one is encoded per delivery): an event whose
// strings need no escaping and whose data is valid JSON already compact
// and HTML-safe — as encoding/json writes it, which is how the store makes
// it — is appended as is; any other goes through json.Marshal.
func encodeEvent(ev webhook.Event) ([]byte, error) {
	if y := ev.CreatedAt.Year(); y < 0 || y > 9999 || !plainJSONText(ev.Data) || !json.Valid(ev.Data) {
		return json.Marshal(ev)
	}
	b := make([]byte, 0, 128+len(ev.ID)+len(ev.Data))
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(ev.Type))
	b = append(b, `,"createdAt":"`...)
	b = ev.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","apiVersion":`...)
	b = appendJSONString(b, ev.APIVersion)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendInt(b, ev.Sequence, 10)
	b = append(b, `,"data":`...)
	b = append(b, ev.Data...)
	return append(b, '}'), nil
}

// plainJSONText reports whether JSON text b, if valid, is as json.Marshal
// writes a json.RawMessage: no white space outside strings, printable
// ASCII, none of the characters it escapes for HTML (<, >, &).
func plainJSONText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	in, esc := false, false
	for _, c := range b {
		switch {
		case c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&':
			return false
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && c == ' ':
			return false
		}
	}
	return true
}

// scrubURL is err's text without the endpoint's URL, which may carry a
// token in its path or query.
func scrubURL(err error, u string) string {
	var ue interface{ Unwrap() error }
	msg := err.Error()
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			msg = inner.Error()
		}
	}
	return strings.ReplaceAll(msg, u, "[endpoint url]")
}
