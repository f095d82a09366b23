package hooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/webhook"
)

// The results of a delivery (the delivery log's "result", and
// flexlabel_webhook_deliveries_total's label except pending).
const (
	ResultPending   = "pending"   // enqueued, not attempted yet (or redelivery asked)
	ResultDelivered = "delivered" // the receiver answered 2xx
	ResultRetrying  = "retrying"  // the last attempt failed; another is scheduled
	ResultFailed    = "failed"    // given up: a 4xx, the retry window ran out, or the event expired
	ResultSkipped   = "skipped"   // not sent: the endpoint was disabled (or deleted)
)

// Defaults of the delivery log's bounds.
const (
	DefaultLogTTL      = 7 * 24 * time.Hour // how long a delivery's record outlives its last write
	DefaultLogAttempts = 20                 // attempts kept per delivery, newest first
	DefaultLogPerIndex = 10000              // deliveries kept in an endpoint's index
)

// Attempt is one try to deliver an event to an endpoint.
type Attempt struct {
	At time.Time `json:"at"`
	// Status is the receiver's HTTP status, 0 when there was no answer.
	Status int `json:"status,omitempty"`
	// Error is the network error, or why the answer is a failure.
	Error     string `json:"error,omitempty"`
	LatencyMs int64  `json:"latencyMs"`
	// Response is the start of the receiver's answer (webhook.ReadLimited).
	Response          string `json:"response,omitempty"`
	ResponseTruncated bool   `json:"responseTruncated,omitempty"`
	Result            string `json:"result"`
}

// Delivery is one event's delivery to one endpoint: its result so far and
// its latest attempts.
type Delivery struct {
	Event    string            `json:"event"`
	Endpoint string            `json:"endpoint"`
	Type     webhook.EventType `json:"type,omitempty"`
	Result   string            `json:"result"`
	// Reason says why a delivery is skipped or failed without an attempt.
	Reason        string     `json:"reason,omitempty"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastAttemptAt *time.Time `json:"lastAttemptAt,omitempty"`
	LastStatus    int        `json:"lastStatus,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	// History is the latest attempts, newest first (at most the log's
	// bound).
	History []Attempt `json:"history"`
}

// Log is the delivery log, and redelivery, of one namespace. Its keys
// (P = "fl:<namespace>:"):
//
//	P hook:dl:d:<event>.<endpoint>  hash: the delivery's summary; field a1:
//	                                its first attempt as JSON when the drain made it
//	P hook:dl:h:<event>.<endpoint>  list: its (further) attempts as JSON, newest first, bounded
//	P hook:dl:ep:<endpoint>         zset: event ids by the delivery's creation (ms), bounded
//	P hook:dl:eps                   set: the endpoint ids with deliveries in the log
//	P hook:dl:streak:<endpoint>     string: ms of the first failure since the last success
//
// Every key expires TTL after its last write. An event's deliveries are
// found by their keys: one per endpoint in hook:dl:eps whose summary exists
// (a set per event, hook:dl:ev:<event>, was a second key to create and
// expire for every delivery; those written before are still read).
type Log struct {
	rdb      redis.UniversalClient
	p        string // "fl:<namespace>:hook:dl:"
	queue    string
	client   *asynq.Client
	ttl      time.Duration
	attempts int
	perIndex int
	maxRetry int
	timeout  time.Duration
}

// LogOptions bound a Log; zero values take the defaults.
type LogOptions struct {
	TTL      time.Duration
	Attempts int
	PerIndex int
	// TaskTimeout bounds one run of a deliver task asynq-side; default
	// webhook.DefaultTimeout plus a minute.
	TaskTimeout time.Duration
}

// NewLog returns the delivery log of namespace on rdb. It does not take
// ownership of rdb.
func NewLog(rdb redis.UniversalClient, namespace string, o LogOptions) *Log {
	if o.TTL <= 0 {
		o.TTL = DefaultLogTTL
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultLogAttempts
	}
	if o.PerIndex <= 0 {
		o.PerIndex = DefaultLogPerIndex
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = webhook.DefaultTimeout + time.Minute
	}
	return &Log{rdb: rdb, p: "fl:" + namespace + ":hook:dl:", queue: QueueName(namespace),
		client: asynq.NewClientFromRedisClient(rdb), ttl: o.TTL, attempts: o.Attempts,
		perIndex: o.PerIndex, maxRetry: deliverMaxRetry, timeout: o.TaskTimeout}
}

func (l *Log) dKey(ev, ep string) string  { return l.p + "d:" + ev + "." + ep }
func (l *Log) hKey(ev, ep string) string  { return l.p + "h:" + ev + "." + ep }
func (l *Log) epKey(ep string) string     { return l.p + "ep:" + ep }
func (l *Log) evKey(ev string) string     { return l.p + "ev:" + ev }
func (l *Log) epsKey() string             { return l.p + "eps" }
func (l *Log) streakKey(ep string) string { return l.p + "streak:" + ep }

// exists reports whether a delivery of ev to ep is recorded.
func (l *Log) exists(ctx context.Context, ev, ep string) (bool, error) {
	n, err := l.rdb.Exists(ctx, l.dKey(ev, ep)).Result()
	return n > 0, err
}

// claim records the fan-out's delivery of ev to ep with result (pending,
// or skipped with reason) unless one is recorded already, in one round
// trip, and returns whether it is new and the result now recorded. A
// delivery that already ran keeps its result (HSETNX).
func (l *Log) claim(ctx context.Context, ev webhook.Event, ep, result, reason string, now time.Time) (bool, string, error) {
	d := l.dKey(ev.ID, ep)
	var isNew *redis.BoolCmd
	var got *redis.StringCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		isNew = p.HSetNX(ctx, d, "result", result)
		got = p.HGet(ctx, d, "result")
		p.HSetNX(ctx, d, "created", now.UnixMilli())
		if reason != "" {
			p.HSetNX(ctx, d, "reason", reason)
		}
		p.HSet(ctx, d, "event", ev.ID, "endpoint", ep, "type", string(ev.Type))
		p.Expire(ctx, d, l.ttl)
		l.index(ctx, p, ev.ID, ep, now)
		return nil
	})
	if err != nil {
		return false, "", fmt.Errorf("hooks: recording delivery: %w", err)
	}
	return isNew.Val(), got.Val(), nil
}

func (l *Log) index(ctx context.Context, p redis.Pipeliner, ev, ep string, now time.Time) {
	p.ZAddNX(ctx, l.epKey(ep), redis.Z{Score: float64(now.UnixMilli()), Member: ev})
	p.ZRemRangeByRank(ctx, l.epKey(ep), 0, int64(-l.perIndex-1))
	p.Expire(ctx, l.epKey(ep), l.ttl)
	p.SAdd(ctx, l.epsKey(), ep)
	p.Expire(ctx, l.epsKey(), l.ttl)
}

// setResult changes a delivery's result without an attempt (skipped,
// failed because the event expired, pending on redelivery).
func (l *Log) setResult(ctx context.Context, ev, ep, result, reason string) error {
	d := l.dKey(ev, ep)
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, d, "result", result, "reason", reason, "event", ev, "endpoint", ep)
		p.HSetNX(ctx, d, "created", time.Now().UnixMilli())
		p.Expire(ctx, d, l.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("hooks: recording delivery: %w", err)
	}
	return nil
}

// runStart returns when the delivery's current run of attempts began (its
// first attempt, or the first since a redelivery), setting it to now when
// it has none: the retry window counts from it.
func (l *Log) runStart(ctx context.Context, ev, ep string, now time.Time) (time.Time, error) {
	d := l.dKey(ev, ep)
	var first *redis.StringCmd
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, d, "first", now.UnixMilli())
		first = p.HGet(ctx, d, "first")
		return nil
	}); err != nil {
		return time.Time{}, fmt.Errorf("hooks: reading delivery: %w", err)
	}
	ms, err := first.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("hooks: reading delivery: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// recordAttempt appends a to the delivery's history and sets its result,
// in one transaction; a delivered one also ends the endpoint's run of
// failures.
func (l *Log) recordAttempt(ctx context.Context, ev webhook.Event, ep string, a Attempt) error {
	d, h := l.dKey(ev.ID, ep), l.hKey(ev.ID, ep)
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, d, "event", ev.ID, "endpoint", ep, "type", string(ev.Type), "result", a.Result, "reason", "",
			"last", a.At.UnixMilli(), "status", a.Status, "error", a.Error)
		p.HSetNX(ctx, d, "created", a.At.UnixMilli())
		p.HIncrBy(ctx, d, "attempts", 1)
		p.Expire(ctx, d, l.ttl)
		p.LPush(ctx, h, b)
		p.LTrim(ctx, h, 0, int64(l.attempts-1))
		p.Expire(ctx, h, l.ttl)
		l.index(ctx, p, ev.ID, ep, a.At)
		if a.Result == ResultDelivered {
			p.Del(ctx, l.streakKey(ep))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hooks: recording attempt: %w", err)
	}
	return nil
}

// failing notes a failed attempt of endpoint ep at now and returns when
// its failures began (the first since its last success).
func (l *Log) failing(ctx context.Context, ep string, now time.Time, keep time.Duration) (time.Time, error) {
	k := l.streakKey(ep)
	if err := l.rdb.SetNX(ctx, k, now.UnixMilli(), 0).Err(); err != nil {
		return time.Time{}, fmt.Errorf("hooks: recording failure: %w", err)
	}
	l.rdb.Expire(ctx, k, keep)
	ms, err := l.rdb.Get(ctx, k).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("hooks: recording failure: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// get reads one delivery; ok false when it is not recorded.
func (l *Log) get(ctx context.Context, ev, ep string) (Delivery, bool, error) {
	var hv *redis.MapStringStringCmd
	var hl *redis.StringSliceCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		hv = p.HGetAll(ctx, l.dKey(ev, ep))
		hl = p.LRange(ctx, l.hKey(ev, ep), 0, -1)
		return nil
	})
	if err != nil {
		return Delivery{}, false, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	f := hv.Val()
	if len(f) == 0 {
		return Delivery{}, false, nil
	}
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	d := Delivery{Event: ev, Endpoint: ep, Type: webhook.EventType(f["type"]), Result: f["result"], Reason: f["reason"],
		Attempts: int(atoi(f["attempts"])), CreatedAt: time.UnixMilli(atoi(f["created"])).UTC(),
		LastStatus: int(atoi(f["status"])), LastError: f["error"], History: []Attempt{}}
	if ms := atoi(f["last"]); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		d.LastAttemptAt = &t
	}
	hist := hl.Val()
	if a1 := f["a1"]; a1 != "" {
		// The drain's first attempt, kept in the summary to save a key:
		// the oldest, dropped from view once the list holds the bound.
		hist = append(hist, a1)
		var a Attempt
		if _, ok := f["last"]; !ok && json.Unmarshal([]byte(a1), &a) == nil {
			// No attempt since: the summary's last attempt is this one
			// (the drain writes only what it cannot derive).
			t := time.UnixMilli(a.At.UnixMilli()).UTC()
			d.LastAttemptAt, d.LastStatus, d.LastError = &t, a.Status, a.Error
		}
	}
	for _, s := range hist[:min(len(hist), l.attempts)] {
		var a Attempt
		if json.Unmarshal([]byte(s), &a) == nil {
			d.History = append(d.History, a)
		}
	}
	return d, true, nil
}

// endpointsOf returns the endpoints event ev has a delivery to, sorted: of
// the endpoints with deliveries in the log (and those of the event's own
// set, written before there was hook:dl:eps), those whose summary of ev
// exists.
func (l *Log) endpointsOf(ctx context.Context, ev string) ([]string, error) {
	var all, old *redis.StringSliceCmd
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.SMembers(ctx, l.epsKey())
		old = p.SMembers(ctx, l.evKey(ev))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	eps := append(all.Val(), old.Val()...)
	slices.Sort(eps)
	eps = slices.Compact(eps)
	if len(eps) == 0 {
		return nil, nil
	}
	ex := make([]*redis.IntCmd, len(eps))
	if _, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ep := range eps {
			ex[i] = p.Exists(ctx, l.dKey(ev, ep))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	out := eps[:0]
	for i, ep := range eps {
		if ex[i].Val() > 0 {
			out = append(out, ep)
		}
	}
	return out, nil
}

// ErrNoDeliveries: the event or endpoint has no delivery in the log (never
// delivered, or its log expired).
var ErrNoDeliveries = errors.New("hooks: no deliveries recorded")

// ForEndpoint returns the newest deliveries to endpoint ep (at most limit;
// 0 means 100), newest first, those created at or after since (zero: all).
func (l *Log) ForEndpoint(ctx context.Context, ep string, since time.Time, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	min := "-inf"
	if !since.IsZero() {
		min = strconv.FormatInt(since.UnixMilli(), 10)
	}
	evs, err := l.rdb.ZRevRangeByScore(ctx, l.epKey(ep), &redis.ZRangeBy{Min: min, Max: "+inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	out := []Delivery{}
	for _, ev := range evs {
		d, ok, err := l.get(ctx, ev, ep)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// ForEvent returns the deliveries of event ev, one per endpoint, or
// ErrNoDeliveries.
func (l *Log) ForEvent(ctx context.Context, ev string) ([]Delivery, error) {
	eps, err := l.endpointsOf(ctx, ev)
	if err != nil {
		return nil, err
	}
	out := []Delivery{}
	for _, ep := range eps {
		d, ok, err := l.get(ctx, ev, ep)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: event %q", ErrNoDeliveries, ev)
	}
	return out, nil
}

// RedeliverEvent sends event ev again to endpoint ep, or, with ep "", to
// every endpoint it was delivered to, and returns how many deliveries it
// enqueued. Each is a fresh task (a new task id), with a fresh retry window;
// a disabled endpoint's is recorded as skipped again, so enable it first.
func (l *Log) RedeliverEvent(ctx context.Context, ev, ep string) (int, error) {
	eps := []string{ep}
	if ep == "" {
		var err error
		if eps, err = l.endpointsOf(ctx, ev); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, ep := range eps {
		ok, err := l.exists(ctx, ev, ep)
		if err != nil {
			return n, fmt.Errorf("hooks: reading delivery log: %w", err)
		}
		if !ok {
			continue
		}
		if err := l.redeliver(ctx, ev, ep); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: event %q", ErrNoDeliveries, ev)
	}
	return n, nil
}

// RedeliverEndpoint sends again every delivery to endpoint ep created at
// or after since whose result is failed or skipped, and returns how many
// it enqueued (0 is not an error).
func (l *Log) RedeliverEndpoint(ctx context.Context, ep string, since time.Time) (int, error) {
	evs, err := l.rdb.ZRangeByScore(ctx, l.epKey(ep), &redis.ZRangeBy{Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return 0, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	n := 0
	for _, ev := range evs {
		res, err := l.rdb.HGet(ctx, l.dKey(ev, ep), "result").Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("hooks: reading delivery log: %w", err)
		}
		if res != ResultFailed && res != ResultSkipped {
			continue
		}
		if err := l.redeliver(ctx, ev, ep); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (l *Log) redeliver(ctx context.Context, ev, ep string) error {
	var b [5]byte
	_, _ = rand.Read(b[:])
	suffix := ".r" + strconv.FormatInt(time.Now().Unix(), 36) + hex.EncodeToString(b[:])
	// The run's window restarts: drop "first" before the task can run.
	d := l.dKey(ev, ep)
	if _, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, d, "first")
		p.HSet(ctx, d, "result", ResultPending, "reason", "redelivery requested")
		p.Expire(ctx, d, l.ttl)
		return nil
	}); err != nil {
		return fmt.Errorf("hooks: recording redelivery: %w", err)
	}
	if err := l.enqueue(ctx, ev, ep, suffix); err != nil {
		return err
	}
	return nil
}

// enqueue adds the deliver task of ev to ep, task id "<ev>.<ep>"+suffix;
// an existing task of that id is success (a retried fan-out).
func (l *Log) enqueue(ctx context.Context, ev, ep, suffix string) error {
	payload, err := json.Marshal(deliverPayload{Event: ev, Endpoint: ep})
	if err != nil {
		return err
	}
	_, err = l.client.EnqueueContext(ctx, asynq.NewTask(TaskDeliver, payload),
		asynq.Queue(l.queue), asynq.TaskID(ev+"."+ep+suffix), asynq.MaxRetry(l.maxRetry), asynq.Timeout(l.timeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("hooks: enqueueing delivery: %w", err)
	}
	return nil
}
