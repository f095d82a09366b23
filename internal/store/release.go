package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the fleet's release scheduler for several Flex Forward
// accounts (issue 17; the design is docs/ACCOUNTS.md). A job of an account
// waits held, in its account's list, instead of on asynq's pending list;
// releasing it takes the account's budget slot and moves it to asynq's
// pending list in the same step, so the job a worker dequeues already has
// its slot and no worker slot ever waits for an account's budget. Each
// account gets exactly its budget (the same GCRA as TakeSlot, per account),
// interactive jobs go first within an account, and an account paused by a
// 429 is skipped alone.
//
// Enqueue and redrive hold another account's jobs (scripts.go, runnable);
// the namespace's own account's jobs go pending as they always have, and
// take their slot in the handler.
//
// Keys, for the fleet namespace ns and an account A ("default" is the
// namespace's own, with today's keys):
//
//	fl:<ns>:acct:ready      ZSET account → its next slot (µs, Redis clock): accounts with held jobs
//	fl:<ns>:acct:iv         HASH account → its budget interval (µs)
//	fl:<ns>@A:held:i|b      LIST held task ids, interactive and bulk (fl:<ns>:held:… for default)
//	fl:<ns>@A:budget|pause  the account's GCRA next slot and 429 pause, as the budget's keys
//	fl:<ns>@A:iwait|bwait   set while a retry of the account waits for a slot in a handler
//	                        (the budget's waiting marks, slot.go)
//
// A held task's id is its key for the default account and "A/<key>" for
// another (account names have no "/"): the accounts' tasks share the
// queues <ns>@ and <ns>@-bulk, so that a worker listens to four queues
// whatever the number of accounts.

// DefaultAccount is the account of the namespace's own keys.
const DefaultAccount = "default"

// releaseScript releases, for each account whose next slot is due (at most
// ARGV[3] of them), one held job — interactive first — onto its asynq
// pending list, and schedules the account's next slot one interval on
// (keeping the schedule, as takeSlotScript does). An account with nothing
// held leaves the ready set; one paused, or with a retry waiting for its
// slot, or without an interval (not configured), is looked at again later.
//
// With ARGV[4] (the most released jobs waiting for a worker) positive, it
// releases only while the accounts' two pending lists hold fewer: a
// released job is then called within a few tens of milliseconds, so its
// account's calls arrive spaced as they were released. Without the cap,
// a fleet falling behind (a worker stalled, the machine busy) piled up
// released jobs and then drained them in bursts, which an API counting
// calls per second answers with 429s (measured: hundreds a run with 200
// accounts, and their pauses cost each account 15 % of its budget). The
// accounts served are the most overdue first; one delayed more than an
// interval loses that slot (the schedule restarts), never bursts.
//
// KEYS[1] ready  KEYS[2] intervals
// ARGV[1] "fl:<ns>"  ARGV[2] "<ns>" (asynq queue base)  ARGV[3] max accounts
// ARGV[4] max released jobs pending (0: no cap); while they are full it
// answers 10 ms, so the fleet's release loops do not spin on a full buffer
// Returns {released, µs until the next due account or -1}.
var releaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
if cap > 0 then
  local pend = redis.call('LLEN', 'asynq:{' .. ARGV[2] .. '@}:pending') + redis.call('LLEN', 'asynq:{' .. ARGV[2] .. '@-bulk}:pending')
  if pend >= cap then return {0, 10000} end
  limit = math.min(limit, cap - pend)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local released = 0
for _, a in ipairs(due) do
  local p, q, id0 = ARGV[1] .. ':', ARGV[2], ''
  if a ~= 'default' then
    p, q, id0 = ARGV[1] .. '@' .. a .. ':', ARGV[2] .. '@', a .. '/'
  end
  local iv = tonumber(redis.call('HGET', KEYS[2], a) or '0')
  local pt = redis.call('PTTL', p .. 'pause')
  if iv <= 0 then
    redis.call('ZADD', KEYS[1], now + 1000000, a)
  elseif pt > 0 then
    redis.call('ZADD', KEYS[1], now + pt * 1000, a)
  elseif redis.call('EXISTS', p .. 'iwait', p .. 'bwait') > 0 then
    redis.call('ZADD', KEYS[1], now + iv, a)
  else
    local nxt = tonumber(redis.call('GET', p .. 'budget') or '0')
    if nxt > now then
      redis.call('ZADD', KEYS[1], nxt, a)
    else
      local qn = q
      local id = redis.call('LPOP', p .. 'held:i')
      if not id then
        id = redis.call('LPOP', p .. 'held:b')
        qn = q .. '-bulk'
      end
      if not id then
        redis.call('ZREM', KEYS[1], a)
      else
        local base = now
        if nxt > now - iv then base = nxt end
        redis.call('SET', p .. 'budget', string.format('%.0f', base + iv), 'PX', math.floor(2 * iv / 1000) + 1)
        redis.call('LPUSH', 'asynq:{' .. qn .. '}:pending', id)
        local rec = p .. 'k:' .. string.sub(id, #id0 + 1)
        if redis.call('EXISTS', rec) == 1 then redis.call('HSET', rec, 'rel', '1') end
        redis.call('ZADD', KEYS[1], base + iv, a)
        released = released + 1
      end
    end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {released, -1} end
return {released, math.max(0, tonumber(first[2]) - now)}
`)

// holdScript holds a task id for its account and makes the account ready
// (now, unless it is already waiting for a later slot).
//
// KEYS[1] ready  KEYS[2] held list  ARGV[1] account  ARGV[2] id
var holdScript = redis.NewScript(`
redis.call('RPUSH', KEYS[2], ARGV[2])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
return 1
`)

// accountPrefix is the key prefix of account a's keys in the fleet
// namespace ns ("fl:<ns>:" for the default account).
func accountPrefix(ns, a string) string {
	if a == DefaultAccount {
		return "fl:" + ns + ":"
	}
	return "fl:" + ns + "@" + a + ":"
}

// HeldTaskID is the asynq task id of account a's job key: the key itself
// for the default account, "a/key" for another.
func HeldTaskID(a, key string) string {
	if a == DefaultAccount {
		return key
	}
	return a + "/" + key
}

// AccountQueue is the asynq queue account a's jobs of lane l run on: the
// namespace's own for the default account, <ns>@ and <ns>@-bulk for every
// other.
func (st *Store) AccountQueue(a string, l Lane) string {
	q := st.opts.Namespace
	if a != DefaultAccount {
		q += "@"
	}
	if l == Bulk {
		q += "-bulk"
	}
	return q
}

// SetAccountIntervals records each account's budget interval (1 / its
// calls per second) for the release scheduler; an account left out keeps
// its jobs held until it has one.
func (st *Store) SetAccountIntervals(ctx context.Context, ivs map[string]time.Duration) error {
	if len(ivs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(ivs))
	for a, iv := range ivs {
		if iv <= 0 {
			return fmt.Errorf("queue: account %q: the budget interval must be positive, got %s", a, iv)
		}
		args = append(args, a, max(iv.Microseconds(), 1))
	}
	if err := st.rdb.HSet(ctx, st.fleet+"acct:iv", args...).Err(); err != nil {
		return fmt.Errorf("queue: recording the accounts' budgets: %w", err)
	}
	return nil
}

// AccountConfigured reports whether the fleet's workers run account a,
// as their accounts' budgets in Redis say (SetAccountIntervals): another
// account when it has a budget there; the namespace's own unless the
// fleet runs accounts (a budget is there) and not it.
func (st *Store) AccountConfigured(ctx context.Context, a string) (bool, error) {
	pipe := st.rdb.Pipeline()
	has := pipe.HExists(ctx, st.fleet+"acct:iv", a)
	n := pipe.HLen(ctx, st.fleet+"acct:iv")
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("queue: reading the fleet's accounts: %w", err)
	}
	if a == DefaultAccount && n.Val() == 0 {
		return true, nil
	}
	return has.Val(), nil
}

// FleetAccounts returns the accounts the fleet's workers run, as they
// record them (SetAccountIntervals), sorted; none in a single-account
// setup.
func (st *Store) FleetAccounts(ctx context.Context) ([]string, error) {
	names, err := st.rdb.HKeys(ctx, st.fleet+"acct:iv").Result()
	if err != nil {
		return nil, fmt.Errorf("queue: reading the fleet's accounts: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// HeldJobs counts the jobs account a has held, waiting for its budget.
func (st *Store) HeldJobs(ctx context.Context, a string) (int64, error) {
	p := accountPrefix(st.opts.Namespace, a)
	pipe := st.rdb.Pipeline()
	i := pipe.LLen(ctx, p+"held:i")
	b := pipe.LLen(ctx, p+"held:b")
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("queue: counting account %s's held jobs: %w", a, err)
	}
	return i.Val() + b.Val(), nil
}

// DropAccountIntervals forgets the budget of accounts no longer
// configured: their held jobs stay held (Release skips an account without
// an interval) until they are configured again.
func (st *Store) DropAccountIntervals(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := st.rdb.HDel(ctx, st.fleet+"acct:iv", names...).Err(); err != nil {
		return fmt.Errorf("queue: forgetting the removed accounts' budgets: %w", err)
	}
	return nil
}

// Hold holds the task id of account a on lane l for release.
func (st *Store) Hold(ctx context.Context, a string, l Lane, id string) error {
	if strings.Contains(a, "/") || a == "" {
		return fmt.Errorf("queue: %q cannot name an account", a)
	}
	lane := "held:i"
	if l == Bulk {
		lane = "held:b"
	}
	if err := holdScript.Run(ctx, st.rdb, []string{st.fleet + "acct:ready", accountPrefix(st.opts.Namespace, a) + lane}, a, id).Err(); err != nil {
		return fmt.Errorf("queue: holding %q for account %s: %w", id, a, err)
	}
	return nil
}

// Release releases one held job of each account whose slot is due, up to
// maxAccounts of them and, with maxPending positive, only while fewer than
// maxPending released jobs wait for a worker; it returns how many it
// released and how long until the next account is due (-1: none is ready).
func (st *Store) Release(ctx context.Context, maxAccounts, maxPending int) (int, time.Duration, error) {
	v, err := releaseScript.Run(ctx, st.rdb, []string{st.fleet + "acct:ready", st.fleet + "acct:iv"},
		strings.TrimSuffix(st.fleet, ":"), st.opts.Namespace, maxAccounts, max(maxPending, 0)).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("queue: releasing held jobs: %w", err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("queue: releasing held jobs: unexpected reply %v", v)
	}
	next := time.Duration(-1)
	if v[1] >= 0 {
		next = time.Duration(v[1]) * time.Microsecond
	}
	return int(v[0]), next, nil
}

// PauseAccount stops account a's releases for d (a 429's Retry-After).
func (st *Store) PauseAccount(ctx context.Context, a string, d time.Duration) error {
	if d <= 0 {
		d = time.Second
	}
	if err := pauseScript.Run(ctx, st.rdb, []string{accountPrefix(st.opts.Namespace, a) + "pause"}, d.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("queue: pausing account %s: %w", a, err)
	}
	return nil
}
