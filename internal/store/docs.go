package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the Redis side of the fleet's document fetch (issue 16): the
// labels whose document URL is still to be fetched with GET
// /labels/{id1,id2,…}, kept in Redis so that any worker fetches them, up to
// a whole batch per call, and none is lost with the worker that created it.
//
//	docs:pending  ZSET  idempotency key, scored by when it may be fetched
//	              (Unix ms, Redis's clock): the label's completion, or
//	              after a fetch without URL, the retry's due time
//	docs:lease    ZSET  keys claimed by a worker's fetch, scored by the
//	              lease's end: an expired lease goes back to pending
//	docs:tries    HASH  key → fetches that answered without a URL
//	docs:turn     STRING the token of the worker whose turn the next
//	              batch is, while it waits for its budget slot
//
// The label id is not stored here: the record has it (li), and a key whose
// record has expired has nothing left to fetch for. completeScript adds the
// key to pending in the same step that records the label, setURLsScript
// removes it from everything here in the step that stores the URL, so a
// label is pending exactly while it is completed without a URL, whatever
// happens to the workers.
//
// Why a turn: a fetch takes its budget slot before claiming (so no ids are
// held out of newer batches while the caller waits, and a worker killed
// while waiting holds none); without a turn every worker that sees a batch
// due would take a slot for it, and all but one would find nothing to claim.

func (st *Store) docsPendingKey() string { return st.ns + "docs:pending" }
func (st *Store) docsLeaseKey() string   { return st.ns + "docs:lease" }
func (st *Store) docsTriesKey() string   { return st.ns + "docs:tries" }
func (st *Store) docsTurnKey() string    { return st.ns + "docs:turn" }

// docsLua is prepended to the document scripts: nowms() is Redis's clock
// in ms, requeue(pending, lease, now) returns the keys of expired leases to
// pending, due at once, and bulk(cmd, key, args, step) runs cmd on key with
// all of args, in commands of at most 1000 of them (a multiple of step),
// within what Lua's unpack takes.
const docsLua = `
local function bulk(cmd, key, args, step)
  local per = 1000 - 1000 % step
  for i = 1, #args, per do
    redis.call(cmd, key, unpack(args, i, math.min(i + per - 1, #args)))
  end
end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function requeue(pending, lease, now)
  local gone = redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, 1000)
  for _, k in ipairs(gone) do
    redis.call('ZREM', lease, k)
    redis.call('ZADD', pending, 'NX', now, k)
  end
end
`

// docTurnScript gives the caller the turn for the next document batch if
// one is due — size keys fetchable now, or the oldest fetchable for at least
// the window — and no other worker has the turn.
//
// KEYS[1] pending  KEYS[2] lease  KEYS[3] turn
// ARGV[1] token  ARGV[2] window ms  ARGV[3] batch size  ARGV[4] turn TTL ms
// ARGV[5] the least ms between two new keys (0: no such bound)
// Returns {1, 0} with the turn; {0, ms} without: ms until a batch may be
// due (-1 when nothing is pending) — the oldest's window, or sooner the
// time the missing keys take to come at one per ARGV[5] ms.
var docTurnScript = redis.NewScript(docsLua + `
local now = nowms()
requeue(KEYS[1], KEYS[2], now)
local held = redis.call('PTTL', KEYS[3])
if held > 0 then return {0, held} end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {0, -1} end
local due = tonumber(first[2]) + tonumber(ARGV[2])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', now)
if due > now and ready < tonumber(ARGV[3]) then
  local wait = due - now
  local every = tonumber(ARGV[5])
  if every > 0 then wait = math.min(wait, math.ceil((tonumber(ARGV[3]) - ready) * every)) end
  return {0, wait}
end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
return {1, 0}
`)

// docClaimScript claims up to size fetchable keys, oldest first, for a
// lease, and ends the caller's turn. A key whose record is gone (expired,
// discarded) or already has its URL is dropped. The batch leaves pending,
// and enters the lease, in one command each: three commands per key took
// a millisecond per batch of 100, during which Redis answered nobody.
//
// KEYS[1] pending  KEYS[2] lease  KEYS[3] turn  KEYS[4] tries
// ARGV[1] token  ARGV[2] batch size  ARGV[3] lease ms  ARGV[4] record key prefix
// Returns {key1, id1, key2, id2, …}.
var docClaimScript = redis.NewScript(docsLua + `
local now = nowms()
requeue(KEYS[1], KEYS[2], now)
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local out = {}
local ks = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #ks == 0 then return out end
bulk('ZREM', KEYS[1], ks, 1)
local deadline = now + tonumber(ARGV[3])
local leased, dropped = {}, {}
for _, k in ipairs(ks) do
  local f = redis.call('HMGET', ARGV[4] .. k, 'li', 'url')
  if f[1] and not f[2] then
    leased[#leased + 1] = deadline
    leased[#leased + 1] = k
    out[#out + 1] = k
    out[#out + 1] = f[1]
  else
    dropped[#dropped + 1] = k
  end
end
bulk('ZADD', KEYS[2], leased, 2)
bulk('HDEL', KEYS[4], dropped, 1)
return out
`)

// docRetryScript puts a claimed key whose fetch gave no URL back to
// pending, due after a backoff, or gives it up after max tries. counted
// 0 (the call failed as a whole, say a 502 or a timeout) retries without
// counting a try. A key no longer leased (stored meanwhile, or its lease
// expired and another worker has it) is left alone.
//
// KEYS[1] pending  KEYS[2] lease  KEYS[3] tries
// ARGV[1] key  ARGV[2] counted 1|0  ARGV[3] backoff base ms  ARGV[4] backoff cap ms
// ARGV[5] max tries
// Returns 0 left alone, 1 retried, 2 given up.
var docRetryScript = redis.NewScript(docsLua + `
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
local n = 1
if ARGV[2] == '1' then
  n = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
  if n >= tonumber(ARGV[5]) then
    redis.call('HDEL', KEYS[3], ARGV[1])
    return 2
  end
end
local d = math.min(tonumber(ARGV[3]) * 2 ^ (n - 1), tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], nowms() + math.floor(d), ARGV[1])
return 1
`)

// docReleaseScript ends the caller's turn if it still has it (it could not
// take its slot): the next due batch is anyone's.
//
// KEYS[1] turn  ARGV[1] token
var docReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// DocumentTurn asks for the turn of the next document batch: granted when
// a batch is due (size keys fetchable, or the oldest fetchable for window)
// and no other worker has the turn. Without it, wait says how long until a
// batch may be due, or is negative when nothing is pending: the oldest's
// window, or sooner, when every > 0 (the least time between two new keys,
// a label's budget interval: every key is a label created with a call),
// the time the batch's missing keys take to come. The turn lasts ttl, or
// until ClaimDocuments or ReleaseDocumentTurn with the same token.
func (st *Store) DocumentTurn(ctx context.Context, token string, window time.Duration, size int, every, ttl time.Duration) (granted bool, wait time.Duration, err error) {
	v, err := docTurnScript.Run(ctx, st.rdb, []string{st.docsPendingKey(), st.docsLeaseKey(), st.docsTurnKey()},
		token, window.Milliseconds(), size, ttl.Milliseconds(), float64(every)/float64(time.Millisecond)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("queue: asking for the document batch's turn: %w", err)
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("queue: asking for the document batch's turn: unexpected reply %v", v)
	}
	return v[0] == 1, time.Duration(v[1]) * time.Millisecond, nil
}

// ReleaseDocumentTurn gives up the turn token has, if it still has it.
func (st *Store) ReleaseDocumentTurn(ctx context.Context, token string) error {
	if err := docReleaseScript.Run(ctx, st.rdb, []string{st.docsTurnKey()}, token).Err(); err != nil {
		return fmt.Errorf("queue: giving up the document batch's turn: %w", err)
	}
	return nil
}

// PendingDocument is a label whose document URL is to be fetched.
type PendingDocument struct{ Key, LabelID string }

// ClaimDocuments ends token's turn and claims up to size labels whose
// document is fetchable now, oldest first, for lease: until SetURLs
// or RetryDocuments for them, or the lease's end, when they are anyone's
// again.
func (st *Store) ClaimDocuments(ctx context.Context, token string, size int, lease time.Duration) ([]PendingDocument, error) {
	v, err := docClaimScript.Run(ctx, st.rdb,
		[]string{st.docsPendingKey(), st.docsLeaseKey(), st.docsTurnKey(), st.docsTriesKey()},
		token, size, lease.Milliseconds(), st.ns+"k:").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("queue: claiming document ids: %w", err)
	}
	out := make([]PendingDocument, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, PendingDocument{Key: v[i], LabelID: v[i+1]})
	}
	return out, nil
}

// DocumentRetry is how RetryDocuments backs off: a key answered without a
// URL is fetched again after Base, doubling up to Cap, and given up at the
// MaxTries-th fetch without one.
type DocumentRetry struct {
	Base, Cap time.Duration
	MaxTries  int
}

// RetryDocuments returns claimed keys to pending, due after the backoff:
// counted, the API answered without their URL (a try, given up at
// MaxTries: those keys are returned); not counted, the call failed as a
// whole. Keys no longer leased to anyone are left alone.
func (st *Store) RetryDocuments(ctx context.Context, keys []string, counted bool, r DocumentRetry) (givenUp []string, err error) {
	if len(keys) == 0 {
		return nil, nil
	}
	c := "0"
	if counted {
		c = "1"
	}
	cmds, err := runPipelined(ctx, st.rdb, docRetryScript, len(keys), func(i int) ([]string, []any) {
		return []string{st.docsPendingKey(), st.docsLeaseKey(), st.docsTriesKey()},
			[]any{keys[i], c, r.Base.Milliseconds(), r.Cap.Milliseconds(), r.MaxTries}
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("queue: returning document ids to pending: %w", err)
	}
	for i, cmd := range cmds {
		if n, _ := cmd.Int(); n == 2 {
			givenUp = append(givenUp, keys[i])
		}
	}
	return givenUp, nil
}

// PendingDocuments counts the labels whose document URL is still to be
// fetched: pending, and claimed by a fetch in flight.
func (st *Store) PendingDocuments(ctx context.Context) (int64, error) {
	pipe := st.rdb.Pipeline()
	p := pipe.ZCard(ctx, st.docsPendingKey())
	l := pipe.ZCard(ctx, st.docsLeaseKey())
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, fmt.Errorf("queue: counting pending document ids: %w", err)
	}
	return p.Val() + l.Val(), nil
}
