package hooks

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
//	P hook:dl:ok:<endpoint>:<hour>  hash: event id → the record of a delivery the
//	                                drain delivered at its first attempt in that
//	                                hour (Unix ms / 3600000; okRecord), which has
//	                                no summary of its own
//	P hook:dl:ep:<endpoint>         zset: event ids by the delivery's creation (ms), bounded
//	P hook:dl:eps                   set: the endpoint ids with deliveries in the log
//	P hook:dl:streak:<endpoint>     string: ms of the first failure since the last success
//
// Every key expires TTL after its last write (so a record in an hour's
// hash lives TTL to TTL plus an hour). An event's deliveries are found by
// their keys: one per endpoint in hook:dl:eps whose summary exists, or
// whose hour's hash holds the event — the hour of the delivery's score in
// the endpoint's index, or, for one the bounded index has dropped, any hour
// of the TTL (a set per event, hook:dl:ev:<event>, was a second key to
// create and expire for every delivery; those written before are still
// read). A delivery in an hour's hash gets a summary of its own (and leaves
// the hash) before anything else is written of it: a redelivery.
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

func (l *Log) dKey(ev, ep string) string { return l.p + "d:" + ev + "." + ep }
func (l *Log) okKey(ep string, hour int64) string {
	return l.p + "ok:" + ep + ":" + strconv.FormatInt(hour, 10)
}
func (l *Log) hKey(ev, ep string) string  { return l.p + "h:" + ev + "." + ep }
func (l *Log) epKey(ep string) string     { return l.p + "ep:" + ep }
func (l *Log) evKey(ev string) string     { return l.p + "ev:" + ev }
func (l *Log) epsKey() string             { return l.p + "eps" }
func (l *Log) streakKey(ep string) string { return l.p + "streak:" + ep }

// hourMs is the span of an endpoint's hash of deliveries delivered at their
// first attempt (P hook:dl:ok:<endpoint>:<hour>).
const hourMs = int64(time.Hour / time.Millisecond)

// appendOKRecord appends the record of a delivery delivered at its first
// attempt a, as its field in the hour's hash holds it: the event's type,
// the attempt's time in Unix ms and the attempt as JSON (appendAttempt),
// separated by spaces (okLua reads it back).
func appendOKRecord(b []byte, typ webhook.EventType, a Attempt) []byte {
	b = append(b, typ...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, a.At.UnixMilli(), 10)
	b = append(b, ' ')
	return appendAttempt(b, a)
}

// okLua is prepended to the scripts that read the hours' hashes.
//
// okfind(p, ev, ep, lo, hi) returns the record (okRecord) of ev's delivery
// to ep from the hash of its hour, or nil: the hour of its score in the
// endpoint's index first, then every hour from hi down to lo.
//
// oksummary(p, ev, ep, ttl, rec, h) writes rec, found in hour h's hash, as
// the delivery's summary (the fields recordScript writes for a first
// attempt), with TTL ttl seconds, and removes it from the hash.
const okLua = `
local function okkey(p, ep, h) return p .. 'ok:' .. ep .. ':' .. string.format('%d', h) end
local function okfind(p, ev, ep, lo, hi)
  local s = redis.call('ZSCORE', p .. 'ep:' .. ep, ev)
  if s then
    local h = math.floor(tonumber(s) / 3600000)
    local r = redis.call('HGET', okkey(p, ep, h), ev)
    if r then return r, h end
  end
  for h = hi, lo, -1 do
    local r = redis.call('HGET', okkey(p, ep, h), ev)
    if r then return r, h end
  end
  return nil
end
local function oksummary(p, ev, ep, ttl, rec, h)
  local ty, at, a1 = string.match(rec, '^(%S+) (%d+) (.*)$')
  local d = p .. 'd:' .. ev .. '.' .. ep
  redis.call('HSET', d, 'type', ty, 'result', 'delivered', 'created', at, 'attempts', 1, 'a1', a1)
  redis.call('EXPIRE', d, ttl)
  redis.call('HDEL', okkey(p, ep, h), ev)
end
`

// findScript answers, for event ARGV[2] and each endpoint ARGV[5…], the
// result of its delivery: the summary's, "delivered" for a record in an
// hour's hash (hours ARGV[3]…ARGV[4]), "" for none.
//
// ARGV[1] log prefix
var findScript = redis.NewScript(okLua + `
local p, ev, lo, hi = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV do
  local ep = ARGV[i]
  local r = redis.call('HGET', p .. 'd:' .. ev .. '.' .. ep, 'result')
  if not r then
    if okfind(p, ev, ep, lo, hi) then r = 'delivered' else r = '' end
  end
  out[#out+1] = r
end
return out
`)

// getScript reads the delivery of event ARGV[2] to endpoint ARGV[3]: its
// summary (HGETALL), its history list, and its record in an hour's hash
// (hours ARGV[4]…ARGV[5]) when it has no summary, else false.
//
// ARGV[1] log prefix
var getScript = redis.NewScript(okLua + `
local p, ev, ep = ARGV[1], ARGV[2], ARGV[3]
local f = redis.call('HGETALL', p .. 'd:' .. ev .. '.' .. ep)
local h = redis.call('LRANGE', p .. 'h:' .. ev .. '.' .. ep, 0, -1)
local r = false
if #f == 0 then r = okfind(p, ev, ep, tonumber(ARGV[4]), tonumber(ARGV[5])) or false end
return {f, h, r}
`)

// summaryScript gives the delivery of event ARGV[2] to endpoint ARGV[3] a
// summary of its own when its record is in an hour's hash (hours
// ARGV[5]…ARGV[6]), with TTL ARGV[4] seconds, so that what is written of
// it next has a summary to update. It answers 1 when the delivery is
// recorded (in either form), else 0.
//
// ARGV[1] log prefix
var summaryScript = redis.NewScript(okLua + `
local p, ev, ep = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'd:' .. ev .. '.' .. ep) == 1 then return 1 end
local r, h = okfind(p, ev, ep, tonumber(ARGV[5]), tonumber(ARGV[6]))
if not r then return 0 end
oksummary(p, ev, ep, ARGV[4], r, h)
return 1
`)

// hours is the range of hours whose hashes may hold a delivery recorded
// since from (an hour's margin each side for the deliverers' clocks).
func (l *Log) hours(from time.Time) (lo, hi int64) {
	now := time.Now()
	if from.IsZero() || from.Before(now.Add(-l.ttl)) {
		from = now.Add(-l.ttl)
	}
	if from.After(now) {
		from = now
	}
	return from.UnixMilli()/hourMs - 1, now.UnixMilli()/hourMs + 1
}

// results returns the result of ev's delivery to each of eps ("" for none),
// from its summary or an hour's hash; from bounds the hours searched (the
// zero time: the whole TTL).
func (l *Log) results(ctx context.Context, ev string, eps []string, from time.Time) ([]string, error) {
	lo, hi := l.hours(from)
	args := make([]any, 0, 4+len(eps))
	args = append(args, l.p, ev, lo, hi)
	for _, ep := range eps {
		args = append(args, ep)
	}
	out, err := findScript.Run(ctx, l.rdb, nil, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	return out, nil
}

// ensureSummary gives ev's delivery to ep a summary of its own if its
// record is in an hour's hash, and reports whether it is recorded at all.
func (l *Log) ensureSummary(ctx context.Context, ev, ep string) (bool, error) {
	lo, hi := l.hours(time.Time{})
	n, err := summaryScript.Run(ctx, l.rdb, nil, l.p, ev, ep, int64(l.ttl/time.Second), lo, hi).Int()
	if err != nil {
		return false, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	return n == 1, nil
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
	lo, hi := l.hours(time.Time{})
	return l.getIn(ctx, ev, ep, lo, hi)
}

// getIn is get, a delivery without a summary looked for in the hours lo…hi
// beside that of its index score.
func (l *Log) getIn(ctx context.Context, ev, ep string, lo, hi int64) (Delivery, bool, error) {
	res, err := getScript.Run(ctx, l.rdb, nil, l.p, ev, ep, lo, hi).Slice()
	if err != nil || len(res) != 3 {
		return Delivery{}, false, fmt.Errorf("hooks: reading delivery log: %w", cmp.Or(err, errors.New("unexpected reply")))
	}
	f := map[string]string{}
	if kv, _ := res[0].([]any); len(kv) > 0 {
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			f[k], _ = kv[i+1].(string)
		}
	} else if rec, ok := res[2].(string); ok {
		// Delivered at its first attempt, no summary of its own: the
		// fields recordScript would have written.
		ty, rest, _ := strings.Cut(rec, " ")
		at, a1, _ := strings.Cut(rest, " ")
		f = map[string]string{"type": ty, "result": ResultDelivered, "created": at, "attempts": "1", "a1": a1}
	} else {
		return Delivery{}, false, nil
	}
	var hist []string
	if hl, _ := res[1].([]any); len(hl) > 0 {
		for _, v := range hl {
			s, _ := v.(string)
			hist = append(hist, s)
		}
	}
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	d := Delivery{Event: ev, Endpoint: ep, Type: webhook.EventType(f["type"]), Result: f["result"], Reason: f["reason"],
		Attempts: int(atoi(f["attempts"])), CreatedAt: time.UnixMilli(atoi(f["created"])).UTC(),
		LastStatus: int(atoi(f["status"])), LastError: f["error"], History: []Attempt{}}
	if ms := atoi(f["last"]); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		d.LastAttemptAt = &t
	}
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
// set, written before there was hook:dl:eps), those with a delivery of ev
// recorded (a summary, or a record in an hour's hash).
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
	res, err := l.results(ctx, ev, eps, time.Time{})
	if err != nil {
		return nil, err
	}
	out := eps[:0]
	for i, ep := range eps {
		if i < len(res) && res[i] != "" {
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
	evs, err := l.rdb.ZRevRangeByScoreWithScores(ctx, l.epKey(ep), &redis.ZRangeBy{Min: min, Max: "+inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("hooks: reading delivery log: %w", err)
	}
	out := []Delivery{}
	for _, z := range evs {
		ev, _ := z.Member.(string)
		// A delivery without a summary is in the hash of its score's hour
		// (the drain writes both from one time): the index outlives what
		// expired, and searching the whole TTL for each such entry would
		// cost a hundred lookups apiece.
		h := int64(z.Score) / hourMs
		d, ok, err := l.getIn(ctx, ev, ep, h-1, h+1)
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
		ok, err := l.ensureSummary(ctx, ev, ep)
		if err != nil {
			return n, err
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
