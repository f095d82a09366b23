package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/webhook"
)

// This file is the drain: the first attempt of every event's deliveries,
// without an asynq task per event or per delivery. The outcome scripts
// push each event id on the pending list (store.HookPendingKey); every
// Deliverer runs its own drain loop, so all the worker processes of a
// namespace share the work:
//
//   - a leaser moves a batch of ids from the pending list to a lease
//     batch — a list of its own (P hook:lease:<n>) and one member of the
//     inflight set (P hook:inflight, a zset scored by the lease's deadline
//     in ms), whatever its size — in one script, taking first any batch
//     whose lease expired — a deliverer killed with a batch leased loses
//     nothing, another takes it LeaseFor later;
//   - Concurrency senders take one event each: load it, match its
//     endpoints, and POST it to each (the shared HTTP client);
//   - a recorder writes the results of the events finished within a
//     millisecond or so of each other — the delivery log's records,
//     attempts, indexes; a delivery delivered at its first attempt as a
//     field of its endpoint's hash of the hour, without a key of its own —
//     and removes the batches whose events are all recorded from the
//     inflight set, in one script: a batch leaves the set only with all its
//     deliveries recorded (at least once); one left with events not
//     recorded keeps only those, and expires;
//   - a delivery whose attempt is to be retried is recorded, then handed to
//     a webhook:deliver asynq task due after the backoff (or Retry-After),
//     which owns its further attempts, and only then is its event done.
//
// While held, leases are renewed every LeaseFor/3; a shutdown hands back
// each held batch with only its events not recorded, expired at once. An
// event leased again after its lease expired (its deliverer died, or could not record it) is
// "recovered": before sending to an endpoint the drain reads that
// delivery's result, so what was delivered or failed is not sent again and
// a delivery left retrying gets its retry task.

// DefaultLeaseFor is how long a leased event stays with its deliverer
// without a renewal before another may take it.
const DefaultLeaseFor = 30 * time.Second

// PendingKey is the list of namespace's recorded, undelivered event ids
// (written by the outcome scripts, see store.HookPendingKey).
func PendingKey(namespace string) string { return store.HookPendingKey(namespace) }

// InflightKey is the zset of namespace's leased event ids, scored by the
// lease's deadline (Unix ms).
func InflightKey(namespace string) string { return "fl:" + namespace + ":hook:inflight" }

// LeaseKey is the list of the event ids of namespace's lease batch (a
// member of the inflight set).
func LeaseKey(namespace, batch string) string { return leasePrefix(namespace) + batch }

func leasePrefix(namespace string) string { return "fl:" + namespace + ":hook:lease:" }

// leaseSeqKey numbers the lease batches of namespace.
func leaseSeqKey(namespace string) string { return "fl:" + namespace + ":hook:leaseseq" }

// leaseScript leases a batch until ARGV[2] (ms): the first batch whose
// lease expired by ARGV[1] (ms), under a new number (its list renamed, so
// a late release of the old number by its former holder changes
// nothing), or else up to ARGV[3] ids from the right of the pending list,
// as a new batch: its list (ARGV[4] .. number) and one member of the
// inflight set, whatever its size. It answers the batch's number, 1 if it
// is an expired batch's (its events recovered) else 0, then the ids; or
// nothing.
//
// KEYS[1] pending list  KEYS[2] inflight zset  KEYS[3] batch counter
var leaseScript = redis.NewScript(`
local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #exp == 1 then
  local old = ARGV[4] .. exp[1]
  redis.call('ZREM', KEYS[2], exp[1])
  local ids = redis.call('LRANGE', old, 0, -1)
  if #ids > 0 then
    local b = tostring(redis.call('INCR', KEYS[3]))
    redis.call('RENAME', old, ARGV[4] .. b)
    redis.call('ZADD', KEYS[2], ARGV[2], b)
    return {b, '1', unpack(ids)}
  end
end
local got = redis.call('RPOP', KEYS[1], ARGV[3])
if not got then return {} end
local b = tostring(redis.call('INCR', KEYS[3]))
redis.call('RPUSH', ARGV[4] .. b, unpack(got))
redis.call('ZADD', KEYS[2], ARGV[2], b)
return {b, '0', unpack(got)}
`)

// settleScript ends this deliverer's hold of batch ARGV[2], unless it is
// no longer in the inflight set (it expired and another deliverer took
// it): with no ids given the batch is done and removed; else its list
// becomes ARGV[4..] — its events not recorded — and, when ARGV[3] is not
// empty, its deadline ARGV[3] (0 at a shutdown: at once).
//
// KEYS[1] inflight zset  ARGV[1] lease prefix
var settleScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local k = ARGV[1] .. ARGV[2]
redis.call('DEL', k)
if #ARGV < 4 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 1
end
redis.call('RPUSH', k, unpack(ARGV, 4))
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
return 1
`)

// leasedScript counts the events of the batches in the inflight set.
var leasedScript = redis.NewScript(`
local n = 0
for _, b in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + redis.call('LLEN', ARGV[1] .. b)
end
return n
`)

// Leased is the number of namespace's events leased by a deliverer.
func Leased(ctx context.Context, rdb redis.UniversalClient, namespace string) (int64, error) {
	n, err := leasedScript.Run(ctx, rdb, []string{InflightKey(namespace)}, leasePrefix(namespace)).Int64()
	if err != nil {
		return 0, fmt.Errorf("hooks: counting leased events: %w", err)
	}
	return n, nil
}

// recordScript writes a batch of drain results to the delivery log and
// removes the lease batches it completes from the inflight set, with as few commands as
// the log allows — it is most of a delivery's cost in Redis, and a key
// created with a TTL costs more than its fields:
//
//   - a delivery delivered at its first attempt (the common case) is one
//     field of the endpoint's hash of the hour, P hook:dl:ok:<ep>:<hour>
//     (Log.okKey), written with one HSET and one EXPIRE per endpoint and
//     hour for the whole batch: no key of its own;
//   - any other first attempt (retrying or failed, or made for an event
//     recovered from an expired lease) is one HSET of the delivery's whole
//     summary (the attempt itself in field a1) and its EXPIRE;
//   - the endpoints' indexes take one ZADD per endpoint for the whole batch;
//   - a lease batch all of whose events are recorded is one ZREM and one
//     DEL, nothing per event.
//
// KEYS[1] inflight zset
// ARGV[1] log prefix (P hook:dl:)  ARGV[2] TTL seconds  ARGV[3] index
// bound  ARGV[4] n  ARGV[5] g  ARGV[6] lease prefix, then n records of 7 fields — kind, event,
// endpoint, type, result, at (ms), then the attempt's JSON for kind "f" (a
// first attempt, the drain's) or the reason for kind "s" (a result without
// an attempt) — then g groups of delivered deliveries, each an endpoint,
// an hour (Unix ms / 3600000), k, and k triples of event, at (ms) and the
// record (okRecord); then the lease batches done.
var recordScript = redis.NewScript(`
local p, ttl, n, g = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
local idx, ok = {}, {}
local function index(ep)
  local z = idx[ep]
  if not z then
    z = {}
    idx[ep] = z
  end
  return z
end
local i = 7
for _ = 1, n do
  local ev, ep, res, at = ARGV[i+1], ARGV[i+2], ARGV[i+4], ARGV[i+5]
  local d = p .. 'd:' .. ev .. '.' .. ep
  if ARGV[i] == 'f' then
    -- The fewest fields (an attempt's cost in Redis grows with them):
    -- the last attempt's time, status and error are a1's until a retry
    -- writes them (Log.get), and first is only where a retry's window
    -- counts from it.
    if res == 'retrying' then
      redis.call('HSET', d, 'type', ARGV[i+3], 'result', res, 'created', at, 'first', at, 'attempts', 1, 'a1', ARGV[i+6])
    else
      redis.call('HSET', d, 'type', ARGV[i+3], 'result', res, 'created', at, 'attempts', 1, 'a1', ARGV[i+6])
    end
    if res == 'delivered' then ok[ep] = true end
  else
    redis.call('HSET', d, 'type', ARGV[i+3], 'result', res, 'reason', ARGV[i+6])
    redis.call('HSETNX', d, 'created', at)
  end
  redis.call('EXPIRE', d, ttl)
  local z = index(ep)
  z[#z+1] = at
  z[#z+1] = ev
  i = i + 7
end
for _ = 1, g do
  local ep, k = ARGV[i], tonumber(ARGV[i+2])
  local key = p .. 'ok:' .. ep .. ':' .. ARGV[i+1]
  local h, z = {}, index(ep)
  for j = i + 3, i + 3*k, 3 do
    h[#h+1] = ARGV[j]
    h[#h+1] = ARGV[j+2]
    z[#z+1] = ARGV[j+1]
    z[#z+1] = ARGV[j]
  end
  redis.call('HSET', key, unpack(h))
  redis.call('EXPIRE', key, ttl)
  ok[ep] = true
  i = i + 3 + 3*k
end
for ep, z in pairs(idx) do
  local k = p .. 'ep:' .. ep
  redis.call('ZADD', k, 'NX', unpack(z))
  redis.call('ZREMRANGEBYRANK', k, 0, -tonumber(ARGV[3]) - 1)
  redis.call('EXPIRE', k, ttl)
  redis.call('SADD', p .. 'eps', ep)
end
if n + g > 0 then redis.call('EXPIRE', p .. 'eps', ttl) end
for ep in pairs(ok) do redis.call('DEL', p .. 'streak:' .. ep) end
if #ARGV >= i then
  redis.call('ZREM', KEYS[1], unpack(ARGV, i))
  for j = i, #ARGV do redis.call('DEL', ARGV[6] .. ARGV[j]) end
end
return 1
`)

// item is one leased event: the i-th of lease l.
type item struct {
	id        string
	recovered bool // its lease had expired: check the log before sending
	l         *lease
	i         int
}

// lease is one batch this deliverer holds: the recorder alone changes it
// once leased, and stop reads it after the recorder is done.
type lease struct {
	batch string
	ids   []string
	done  []bool   // ids[i] recorded, or in keep
	left  int      // ids not done
	keep  []string // not recorded: left in the batch for its lease to expire
}

// outcome is what the drain did with one delivery of an event.
type outcome struct {
	ep     string
	kind   byte // 'a' an attempt, 's' a result without one, 'r' only a retry task owed
	result string
	reason string // for 's'
	at     time.Time
	a      Attempt
	v      verdict
}

// drained is one event's outcomes; keep: leave it leased (it could not be
// handled now; its lease expires and it is recovered).
type drained struct {
	id        string
	l         *lease
	i         int
	typ       webhook.EventType
	outs      []outcome
	keep      bool
	recovered bool // its lease had expired: the log may hold its deliveries already
}

// drain is a Deliverer's drain loop (see the top of this file).
type drain struct {
	d        *Deliverer
	pending  string
	inflight string
	leasePfx string
	leaseSeq string
	batch    int

	work    chan item
	results chan drained

	mu   sync.Mutex
	held map[string]*lease // leased and not yet settled, by batch

	stopLease chan struct{} // closed: lease nothing more, senders take nothing more
	stopRenew chan struct{} // closed once the senders and the recorder are done
	renewDone chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc // the hard stop: in-flight sends are abandoned
	leaserWG  sync.WaitGroup
	sendersWG sync.WaitGroup
	recDone   chan struct{}
	started   bool
	stopOnce  sync.Once
}

func newDrain(d *Deliverer) *drain {
	// A lease of a few rounds of the slots: enough to make a lease's round
	// trip negligible, few enough that other deliverers get their share.
	batch := min(max(8*d.cfg.Concurrency, 16), 256)
	ns := d.cfg.Namespace
	return &drain{d: d, pending: PendingKey(ns), inflight: InflightKey(ns), leasePfx: leasePrefix(ns), leaseSeq: leaseSeqKey(ns),
		batch: batch, work: make(chan item, batch), results: make(chan drained, 4*batch),
		held: map[string]*lease{}, stopLease: make(chan struct{}), recDone: make(chan struct{}),
		stopRenew: make(chan struct{}), renewDone: make(chan struct{})}
}

func (dr *drain) start() {
	dr.started = true
	dr.ctx, dr.cancel = context.WithCancel(context.Background())
	dr.leaserWG.Add(1)
	go dr.lease()
	go dr.renew()
	for range dr.d.cfg.Concurrency {
		dr.sendersWG.Add(1)
		go dr.send()
	}
	go dr.record()
}

// stop ends the drain: no more leases, the senders finish their events
// within timeout (then their sends are abandoned), the results are
// recorded, and every lease still held is expired at once, so the next
// lease of any deliverer recovers those events.
func (dr *drain) stop(timeout time.Duration) {
	if dr.started {
		dr.stopOnce.Do(func() { dr.stopNow(timeout) })
	}
}

func (dr *drain) stopNow(timeout time.Duration) {
	close(dr.stopLease)
	dr.leaserWG.Wait()
	done := make(chan struct{})
	go func() { dr.sendersWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		dr.cancel()
		<-done
	}
	close(dr.results)
	<-dr.recDone
	// Renewed until now, so a shutdown longer than a lease sends nothing twice.
	close(dr.stopRenew)
	<-dr.renewDone
	dr.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range dr.held {
		// Only the events not recorded, deadline 0: the next lease of any
		// deliverer recovers them.
		var left []string
		for i, id := range l.ids {
			if !l.done[i] {
				left = append(left, id)
			}
		}
		left = append(left, l.keep...)
		if err := dr.settle(ctx, l, "0", left); err != nil {
			dr.d.log.Warn("webhook: releasing leased events at shutdown; they are taken again when their lease expires",
				slog.Int("events", len(left)), slog.String("error", err.Error()))
		}
	}
}

// settle ends the hold of l: done when left is empty, else its batch is
// left (with deadline until, or its own when empty) for another lease.
func (dr *drain) settle(ctx context.Context, l *lease, until string, left []string) error {
	args := make([]any, 0, 3+len(left))
	args = append(args, dr.leasePfx, l.batch, until)
	for _, id := range left {
		args = append(args, id)
	}
	return settleScript.Run(ctx, dr.d.cfg.Redis, []string{dr.inflight}, args...).Err()
}

func (dr *drain) stopped() bool {
	select {
	case <-dr.stopLease:
		return true
	default:
		return false
	}
}

// lease keeps the senders fed: a batch at a time, a poll interval apart
// while there is nothing to lease.
func (dr *drain) lease() {
	defer dr.leaserWG.Done()
	defer close(dr.work)
	failing := false
	for !dr.stopped() {
		now := time.Now()
		res, err := leaseScript.Run(dr.ctx, dr.d.cfg.Redis, []string{dr.pending, dr.inflight, dr.leaseSeq},
			now.UnixMilli(), now.Add(dr.d.cfg.LeaseFor).UnixMilli(), dr.batch, dr.leasePfx).StringSlice()
		if err != nil {
			if !failing && dr.ctx.Err() == nil {
				dr.d.log.Warn("webhook: leasing events; retrying", slog.String("error", err.Error()))
			}
			failing = true
			dr.sleep(dr.d.cfg.TaskCheckInterval)
			continue
		}
		failing = false
		if len(res) <= 2 {
			dr.sleep(dr.d.cfg.TaskCheckInterval)
			continue
		}
		ids := res[2:]
		l := &lease{batch: res[0], ids: ids, done: make([]bool, len(ids)), left: len(ids)}
		recovered := res[1] == "1"
		dr.mu.Lock()
		dr.held[l.batch] = l
		dr.mu.Unlock()
		for i, id := range ids {
			select {
			case dr.work <- item{id: id, recovered: recovered, l: l, i: i}:
			case <-dr.stopLease:
				return // the rest stay held, and are released by stop
			}
		}
	}
}

func (dr *drain) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-dr.stopLease:
	}
}

// renew extends every held batch's lease each LeaseFor/3.
func (dr *drain) renew() {
	defer close(dr.renewDone)
	tick := time.NewTicker(dr.d.cfg.LeaseFor / 3)
	defer tick.Stop()
	for {
		select {
		case <-dr.stopRenew:
			return
		case <-tick.C:
		}
		until := float64(time.Now().Add(dr.d.cfg.LeaseFor).UnixMilli())
		dr.mu.Lock()
		zs := make([]redis.Z, 0, len(dr.held))
		for b := range dr.held {
			zs = append(zs, redis.Z{Score: until, Member: b})
		}
		dr.mu.Unlock()
		if len(zs) == 0 {
			continue
		}
		// XX: a batch settled meanwhile is not leased again.
		if err := dr.d.cfg.Redis.ZAddArgs(dr.ctx, dr.inflight, redis.ZAddArgs{XX: true, Members: zs}).Err(); err != nil && dr.ctx.Err() == nil {
			dr.d.log.Warn("webhook: renewing leases; another deliverer may send these events too",
				slog.Int("batches", len(zs)), slog.String("error", err.Error()))
		}
	}
}

// send is one sender: an event at a time until the leaser stops.
func (dr *drain) send() {
	defer dr.sendersWG.Done()
	// A context of its own: every request's deadline registers with its
	// parent, and ten senders registering with one would queue on its lock.
	ctx, cancel := context.WithCancel(dr.ctx)
	defer cancel()
	for it := range dr.work {
		if dr.stopped() {
			continue // left held: released by stop
		}
		r := dr.d.drainEvent(ctx, it)
		r.l, r.i = it.l, it.i
		dr.results <- r
	}
}

// drainEvent fans event it out to its endpoints and makes the first
// attempt of each delivery.
func (d *Deliverer) drainEvent(ctx context.Context, it item) drained {
	out := drained{id: it.id, recovered: it.recovered}
	ev, sub, err := d.cfg.Events.EventAbout(ctx, it.id)
	if errors.Is(err, store.ErrNotFound) {
		d.log.Warn("webhook event expired before its delivery; nothing to deliver", slog.String("event", it.id))
		return out
	}
	if err != nil {
		d.log.Warn("webhook: loading an event; it is delivered once its lease expires", slog.String("event", it.id), slog.String("error", err.Error()))
		out.keep = true
		return out
	}
	out.typ = ev.Type
	targets, err := d.cfg.Endpoints.Matching(ctx, ev.Type, sub.Account, sub.Key)
	if err != nil {
		d.log.Warn("webhook: matching an event's endpoints; it is delivered once its lease expires", slog.String("event", it.id), slog.String("error", err.Error()))
		out.keep = true
		return out
	}
	var body []byte
	for _, tg := range targets {
		now := time.Now()
		if it.recovered {
			// Recorded, if at all, since the event was created.
			rs, err := d.dlog.results(ctx, ev.ID, []string{tg.ID}, ev.CreatedAt)
			if err != nil || len(rs) != 1 {
				out.keep = true
				return out
			}
			switch rs[0] {
			case ResultDelivered, ResultFailed, ResultSkipped:
				continue // done before the lease expired
			case ResultRetrying:
				out.outs = append(out.outs, outcome{ep: tg.ID, kind: 'r', result: ResultRetrying})
				continue
			}
		}
		switch {
		case !tg.Enabled:
			out.outs = append(out.outs, outcome{ep: tg.ID, kind: 's', result: ResultSkipped, reason: reasonDisabled, at: now})
			continue
		case !signable(tg.Secrets):
			// Never sent unsigned: a receiver could not authenticate it.
			out.outs = append(out.outs, outcome{ep: tg.ID, kind: 's', result: ResultFailed, reason: reasonNoSecret, at: now})
			continue
		}
		if body == nil {
			// The same bytes on every attempt (see deliver).
			if body, err = encodeEvent(ev); err != nil {
				out.outs = append(out.outs, outcome{ep: tg.ID, kind: 's', result: ResultFailed, reason: "event not encodable", at: now})
				continue
			}
		}
		s := d.send(ctx, tg, ev, body, now)
		if ctx.Err() != nil {
			out.keep = true // the hard stop: not an answer of the receiver
			return out
		}
		v := classify(s.Status, s.netErr, s.header, time.Now())
		s.Result = v.result
		if v.result != ResultDelivered {
			s.Error = v.why
		}
		out.outs = append(out.outs, outcome{ep: tg.ID, kind: 'a', result: v.result, at: now, a: s.Attempt, v: v})
	}
	return out
}

const reasonNoSecret = "endpoint has no signing secret: not sent unsigned"

// record writes results as they come, in one script call those that
// arrive within recordGather of the first (and any that waited meanwhile).
func (dr *drain) record() {
	defer close(dr.recDone)
	const maxFlush = 512
	batch := make([]drained, 0, maxFlush)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for r := range dr.results {
		batch = append(batch[:0], r)
		gather.Reset(recordGather)
	more:
		for len(batch) < maxFlush {
			select {
			case r, ok := <-dr.results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			case <-gather.C:
				break more
			}
		}
		gather.Stop()
		dr.flush(batch)
	}
}

// recordGather is how long the recorder waits, from the first result of a
// batch, for more to write in the same script call: each call costs Redis
// a dozen commands whatever its size, so a batch of a few results pays
// several times per delivery what one of dozens does, for a log written at
// most this much later.
const recordGather = time.Millisecond

// flush records batch: the log and the removal of the lease batches it
// completes in one script, then the retry tasks owed, the settling of the
// lease batches they complete, the endpoints' failure streaks and the
// metrics.
func (dr *drain) flush(batch []drained) {
	d := dr.d
	ctx := context.Background()
	l := d.dlog
	args := make([]any, 6, 7+4*len(batch))
	args[0], args[1], args[2], args[5] = l.p, int64(l.ttl/time.Second), l.perIndex, dr.leasePfx
	n := 0
	acked := make([]bool, len(batch)) // done once the script has run
	var oks []okGroup
	for ri, r := range batch {
		retry := false
		for oi, o := range r.outs {
			switch {
			case o.kind == 'r':
				retry = true
				continue
			case o.kind == 'a' && o.result == ResultDelivered && !r.recovered:
				// Nothing of this delivery is in the log yet (a first
				// lease): its record is a field of the hour's hash.
				hour := o.at.UnixMilli() / hourMs
				gi := slices.IndexFunc(oks, func(g okGroup) bool { return g.ep == o.ep && g.hour == hour })
				if gi < 0 {
					gi = len(oks)
					oks = append(oks, okGroup{ep: o.ep, hour: hour})
				}
				oks[gi].outs = append(oks[gi].outs, [2]int{ri, oi})
				continue
			case o.kind == 'a':
				args = append(args, "f", r.id, o.ep, string(r.typ), o.result, o.at.UnixMilli(), appendAttempt(nil, o.a))
				retry = retry || o.result == ResultRetrying
			default:
				args = append(args, "s", r.id, o.ep, string(r.typ), o.result, o.at.UnixMilli(), o.reason)
			}
			n++
		}
		acked[ri] = !r.keep && !retry
	}
	args[3], args[4] = n, len(oks)
	for _, g := range oks {
		args = append(args, g.ep, g.hour, len(g.outs))
		for _, x := range g.outs {
			r, o := &batch[x[0]], &batch[x[0]].outs[x[1]]
			args = append(args, r.id, o.at.UnixMilli(), appendOKRecord(nil, r.typ, o.a))
		}
	}
	// The lease batches whose last events this script records, none of
	// them kept: removed by it.
	nacked := map[*lease]int{}
	for ri, r := range batch {
		if acked[ri] {
			nacked[r.l]++
		}
	}
	var gone []*lease
	for ls, k := range nacked {
		if ls.left == k && len(ls.keep) == 0 {
			gone = append(gone, ls)
			args = append(args, ls.batch)
		}
	}
	stopping := dr.ctx.Err() != nil
	if err := recordScript.Run(ctx, d.cfg.Redis, []string{dr.inflight}, args...).Err(); err != nil {
		// Nothing recorded, nothing removed: the events are sent again
		// once their leases expire.
		d.log.Warn("webhook: recording deliveries; they are sent again when their lease expires",
			slog.Int("events", len(batch)), slog.String("error", err.Error()))
		for _, r := range batch {
			dr.finish(r, false, stopping)
		}
		dr.settleDone(ctx, batch)
		return
	}
	dr.mu.Lock()
	for _, ls := range gone {
		delete(dr.held, ls.batch)
	}
	dr.mu.Unlock()
	for ri, r := range batch {
		if acked[ri] {
			dr.finish(r, true, stopping)
			continue
		}
		if r.keep {
			dr.finish(r, false, stopping)
			continue
		}
		owed := true
		for _, o := range r.outs {
			if o.result != ResultRetrying {
				continue
			}
			after := o.v.retryAfter
			if after <= 0 {
				after = d.retryDelay(0, nil, nil)
			}
			if err := l.enqueueRetry(ctx, r.id, o.ep, after); err != nil {
				d.log.Warn("webhook: scheduling a retry; the event is taken again when its lease expires",
					slog.String("event", r.id), slog.String("endpoint", o.ep), slog.String("error", err.Error()))
				owed = false
			}
		}
		dr.finish(r, owed, stopping)
	}
	for _, r := range batch {
		if r.keep {
			continue
		}
		for _, o := range r.outs {
			if o.kind == 'a' || o.kind == 's' {
				d.obs.WebhookDelivery(o.result, time.Duration(o.a.LatencyMs)*time.Millisecond)
			}
			if o.kind == 'a' && o.result != ResultDelivered {
				d.checkDisable(ctx, o.ep, o.v, o.a.At)
			}
		}
	}
	dr.settleDone(ctx, batch)
}

// finish marks r's event done in its lease: recorded (ok), or not, and
// then kept in the batch for its lease to expire — except at the hard
// stop, when it stays open, so that stop hands it back at once.
func (dr *drain) finish(r drained, ok, stopping bool) {
	ls := r.l
	if ls.done[r.i] || !ok && stopping {
		return
	}
	ls.done[r.i] = true
	ls.left--
	if !ok {
		ls.keep = append(ls.keep, r.id)
	}
}

// settleDone settles the leases of batch left with nothing open that the
// record script did not remove: their kept events stay in the batch,
// which is no longer renewed, so it expires and they are recovered.
func (dr *drain) settleDone(ctx context.Context, batch []drained) {
	for _, r := range batch {
		ls := r.l
		dr.mu.Lock()
		_, held := dr.held[ls.batch]
		if held && ls.left == 0 {
			delete(dr.held, ls.batch)
		}
		dr.mu.Unlock()
		if !held || ls.left > 0 {
			continue
		}
		if err := dr.settle(ctx, ls, "", ls.keep); err != nil {
			// Not renewed any more either way: the batch expires, and its
			// events are recovered from the log.
			dr.d.log.Warn("webhook: settling a lease; its events are checked again when it expires",
				slog.Int("events", len(ls.ids)), slog.String("error", err.Error()))
		}
	}
}

// okGroup is the deliveries of a batch delivered at their first attempt
// to one endpoint in one hour (outs: indexes into the batch and its outs).
type okGroup struct {
	ep   string
	hour int64
	outs [][2]int
}

// enqueueRetry schedules the further attempts of ev to ep after a failed
// first one: the deliver task "<ev>.<ep>", due after; an existing task of
// that id is success (a recovered event whose retry was scheduled).
func (l *Log) enqueueRetry(ctx context.Context, ev, ep string, after time.Duration) error {
	payload, err := json.Marshal(deliverPayload{Event: ev, Endpoint: ep})
	if err != nil {
		return err
	}
	_, err = l.client.EnqueueContext(ctx, asynq.NewTask(TaskDeliver, payload),
		asynq.Queue(l.queue), asynq.TaskID(ev+"."+ep), asynq.MaxRetry(l.maxRetry), asynq.Timeout(l.timeout),
		asynq.ProcessIn(after))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("hooks: scheduling retry: %w", err)
	}
	return nil
}

// appendAttempt appends a as the JSON json.Marshal would give (the same
// fields; strings escaped by encoding/json), without its reflection: one
// is written per delivery.
func appendAttempt(b []byte, a Attempt) []byte {
	b = append(b, `{"at":"`...)
	b = a.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if a.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
	}
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, a.Error)
	}
	b = append(b, `,"latencyMs":`...)
	b = strconv.AppendInt(b, a.LatencyMs, 10)
	if a.Response != "" {
		b = append(b, `,"response":`...)
		b = appendJSONString(b, a.Response)
	}
	if a.ResponseTruncated {
		b = append(b, `,"responseTruncated":true`...)
	}
	b = append(b, `,"result":`...)
	b = appendJSONString(b, a.Result)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: plain when it needs no
// escaping, else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, _ := json.Marshal(s)
			return append(b, js...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
