package store

import "github.com/redis/go-redis/v9"

// Record fields (hash fl:<ns>:k:<key>):
//
//	h   canonical request hash        q   asynq queue
//	st  queued | completed | dead     t   enqueued at, Unix ms
//	a   API calls made                e   last error
//	ff  first failure, Unix ms        li, ls, lo, lt  label id, status,
//	                                  courier order and tracking numbers
//
// Values stay short (< 64 bytes where possible) so Redis keeps the hash in
// its compact listpack encoding: a retained label costs a few hundred bytes.
//
//	url document URL                  rs  dead-letter reason
//	dm  dead-letter index member      sb, sa  the new key `dlq export
//	                                  --new-keys` gave it, and when (ms)
//	hw  label.completed was sent without the document URL: its arrival
//	    sends label.document (events.go)
//
// A job's failure history (list fl:<ns>:f:<key>, one FailedAttempt JSON per
// entry, the last HistoryLimit) exists only while a job that has failed is
// alive: failScript and redriveScript write it, deadLetterScript moves it
// into the dead letter, completeScript drops it. It exists only where ff
// does, so a job that never failed costs the success path nothing.
// accountLua is prepended to the scripts that make or unmake asynq's task
// of a job: a record of another account than the namespace's own
// (fl:<ns>@<account>:k:<key>) names its task "<account>/<key>" in the
// accounts' shared queues, and its job is made runnable by holding it for
// the release scheduler (release.go) instead of pushing it pending.
//
// acct(rec) is the fleet prefix "fl:<ns>" and the account (nil for the
// namespace's own); tid(rec, key) the task id; runnable(rec, q, id) pushes
// the task pending or holds it.
const accountLua = `
local function acct(rec)
  return string.match(rec, '^([^:]*:[^:@]*)@([^:]*):k:')
end
local function tid(rec, key)
  local _, a = acct(rec)
  if a then return a .. '/' .. key end
  return key
end
local function runnable(rec, q, id)
  local f, a = acct(rec)
  if not a then
    redis.call('LPUSH', 'asynq:{' .. q .. '}:pending', id)
    return
  end
  local lane = 'held:i'
  if string.sub(q, -5) == '-bulk' then lane = 'held:b' end
  redis.call('RPUSH', f .. '@' .. a .. ':' .. lane, id)
  local t = redis.call('TIME')
  redis.call('ZADD', f .. ':acct:ready', 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), a)
end
`

// accountScript is a script that uses accountLua.
func accountScript(body string) *redis.Script { return redis.NewScript(accountLua + body) }

const (
	stQueued    = "queued"
	stCompleted = "completed"
	stDead      = "dead"
)

// enqueueScript claims a key and creates asynq's task in one atomic step.
//
// KEYS[1] record  KEYS[2] asynq task key  KEYS[3] asynq pending list (unused:
// runnable names it, or the held list)  KEYS[4] dlq hash  KEYS[5] dlq index  KEYS[6] asynq:queues
// ARGV[1] hash  ARGV[2] queue  ARGV[3] now ms  ARGV[4] asynq msg
// ARGV[5] key  ARGV[6] now ns  ARGV[7] dlq reason index prefix
//
// Returns {outcome, record state, queue}.
var enqueueScript = accountScript(`
local id = tid(KEYS[1], ARGV[5])
local st = redis.call('HGET', KEYS[1], 'st')
if st then
  local f = redis.call('HMGET', KEYS[1], 'h', 'q', 'rs', 'dm')
  if f[1] == ARGV[1] then
    if st == 'dead' then return {'dead', st, f[2]} end
    if st == 'queued' and f[2] == ARGV[2] then
      local tk = 'asynq:{' .. f[2] .. '}:t:' .. id
      if redis.call('EXISTS', tk) == 0 then
        -- the task was lost (e.g. an asynchronous failover): recreate it
        redis.call('HSET', tk, 'msg', ARGV[4], 'state', 'pending', 'pending_since', ARGV[6])
        runnable(KEYS[1], f[2], id)
        redis.call('SADD', KEYS[6], f[2])
        return {'enqueued', st, f[2]}
      end
    end
    return {'duplicate', st, f[2]}
  end
  if st ~= 'dead' or f[3] ~= 'invalid' then return {'conflict', st, f[2]} end
  -- a corrected request replaces a dead letter of reason invalid
  redis.call('HDEL', KEYS[4], ARGV[5])
  if f[4] then
    redis.call('ZREM', KEYS[5], f[4])
    redis.call('ZREM', ARGV[7] .. f[3], f[4])
  end
  redis.call('DEL', 'asynq:{' .. f[2] .. '}:t:' .. id)
  redis.call('ZREM', 'asynq:{' .. f[2] .. '}:archived', id)
  redis.call('DEL', KEYS[1])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'msg', ARGV[4], 'state', 'pending', 'pending_since', ARGV[6])
  runnable(KEYS[1], ARGV[2], id)
end
redis.call('SADD', KEYS[6], ARGV[2])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'q', ARGV[2], 'st', 'queued', 't', ARGV[3])
return {'enqueued', 'queued', ARGV[2]}
`)

// statusScript reads a record, asynq's state of a queued task, and the dead
// letter of a dead one, in one round trip.
//
// KEYS[1] record  KEYS[2] dlq hash  KEYS[3] tracking  ARGV[1] key
// Returns {st, q, a, e, li, url, rs, t, asynqState, deadLetterJSON, ls, lo, lt, trackingJSON} or nil.
var statusScript = accountScript(`
local f = redis.call('HMGET', KEYS[1], 'st', 'q', 'a', 'e', 'li', 'url', 'rs', 't')
if not f[1] then return nil end
local l = redis.call('HMGET', KEYS[1], 'ls', 'lo', 'lt')
local ts = false
local dl = false
if f[1] == 'queued' then
  ts = redis.call('HGET', 'asynq:{' .. f[2] .. '}:t:' .. tid(KEYS[1], ARGV[1]), 'state')
elseif f[1] == 'dead' then
  dl = redis.call('HGET', KEYS[2], ARGV[1])
end
f[9] = ts
f[10] = dl
f[11] = l[1]
f[12] = l[2]
f[13] = l[3]
f[14] = redis.call('GET', KEYS[3])
return f
`)

// completeScript records a created label and starts the retention clock.
// A null courier number is stored as an absent field. With webhooks on, a
// label completed now (not again) waits for its document URL in the waiting
// set until ARGV[7]: setURLsScript or, past it, sweepScript sends
// label.completed.
//
// With ARGV[8] set, a label not followed yet is followed from now on
// (tracking.go): its first check is due at ARGV[8].
//
// A label without its document URL becomes pending in docs:pending (docs.go)
// in the same step, scored by now on Redis's clock, so the fleet's fetch
// has it whatever happens to this worker.
//
// It reads the record once (HMGET) and writes it with one HSET and, only
// for fields present that a completed record does not keep, one HDEL: a
// label's first completion costs six commands with webhooks and tracking
// off, where one command per check and per field took ten.
//
// KEYS[1] record  KEYS[2] failure history  KEYS[3] hook:on  KEYS[4] waiting set
// KEYS[5] trk:f  KEYS[6] trk:due  KEYS[7] trk:tags  KEYS[8] documents pending
// ARGV[1] retention seconds  ARGV[2] id  ARGV[3] status
// ARGV[4] courier order number or ”  ARGV[5] tracking number or ”
// ARGV[6] key  ARGV[7] end of the wait, Unix ms
// ARGV[8] first tracking check, Unix ms, or ” (not followed)  ARGV[9] now ms
// ARGV[10] the key's member of the waiting set (awaitMember)
var completeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'st', 'url', 'ff', 'e', 'rs', 'dm')
if f[1] ~= 'completed' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[10])
end
if ARGV[8] ~= '' and redis.call('HSETNX', KEYS[5], ARGV[6], ARGV[9] .. ' ' .. ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[6])
  redis.call('HINCRBY', KEYS[7], 'none', 1)
end
if not f[2] then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[8], 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[6])
end
if f[3] then redis.call('DEL', KEYS[2]) end
local set, del = {'st', 'completed', 'li', ARGV[2], 'ls', ARGV[3]}, {}
if ARGV[4] ~= '' then set[#set + 1] = 'lo'; set[#set + 1] = ARGV[4] else del[#del + 1] = 'lo' end
if ARGV[5] ~= '' then set[#set + 1] = 'lt'; set[#set + 1] = ARGV[5] else del[#del + 1] = 'lt' end
for i, name in ipairs({'ff', 'e', 'rs', 'dm'}) do
  if f[2 + i] then del[#del + 1] = name end
end
redis.call('HSET', KEYS[1], unpack(set))
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)

// failScript records a failed attempt that will be retried, and adds it to
// the failure history unless ARGV[3] is empty (a rate-limited call).
//
// KEYS[1] record  KEYS[2] failure history
// ARGV[1] error  ARGV[2] now ms  ARGV[3] FailedAttempt JSON or ”
// ARGV[4] history limit  ARGV[5] history TTL seconds
var failScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[1])
redis.call('HSETNX', KEYS[1], 'ff', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1
`)

// deadLetterScript moves a job to the dead-letter queue. The entry carries
// the failure history (read by the caller), so the history list goes. With
// webhooks on, a job dying now (not again) sends label.dead, whose data
// carries ARGV[10] as its deadLetter.
//
// KEYS[1] record  KEYS[2] dlq hash  KEYS[3] dlq index  KEYS[4] failure history
// KEYS[5] hook:on
// ARGV[1] key  ARGV[2] reason  ARGV[3] entry JSON  ARGV[4] index member
// ARGV[5] reason index prefix  ARGV[6] error  ARGV[7] hash  ARGV[8] queue  ARGV[9] now ms
// ARGV[10] DeadLetterInfo JSON  ARGV[11…15] eventArgs
var deadLetterScript = eventScript(`
local on = redis.call('EXISTS', KEYS[5]) == 1
local old = redis.call('HMGET', KEYS[1], 'dm', 'rs', 'st')
if old[1] then
  redis.call('ZREM', KEYS[3], old[1])
  if old[2] then redis.call('ZREM', ARGV[5] .. old[2], old[1]) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'h', ARGV[7], 'q', ARGV[8], 't', ARGV[9])
end
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[1], 'st', 'dead', 'rs', ARGV[2], 'dm', ARGV[4], 'e', ARGV[6])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
redis.call('ZADD', ARGV[5] .. ARGV[2], 0, ARGV[4])
redis.call('DEL', KEYS[4])
if on and old[3] ~= 'dead' then emit(11, 'label.dead', KEYS[1], ARGV[1], snapshot(KEYS[1], false, ARGV[10])) end
return 1
`)

// redriveScript puts a dead letter back on its queue under the same key,
// atomically: the archived asynq copy is removed and a fresh task created.
// It checks the dead letter is still the one the caller read (index member).
// The job keeps its attempt count (a), and gets its first failure time (ff)
// and failure history back from the dead letter, so that dying again adds
// to them. With webhooks on it sends label.redriven.
//
// KEYS[1] record  KEYS[2] dlq hash  KEYS[3] dlq index  KEYS[4] asynq:queues
// KEYS[5] failure history  KEYS[6] hook:on
// ARGV[1] key  ARGV[2] expected member  ARGV[3] reason index prefix
// ARGV[4] asynq msg  ARGV[5] now ns  ARGV[6] now ms  ARGV[7] first failure ms
// ARGV[8] history TTL seconds  ARGV[9…13] eventArgs
// ARGV[14…] the history, FailedAttempt JSON each
// Returns 1 when redriven, 0 when the key is not dead, 2 when its dead
// letter is another one than the caller read (it died again meanwhile).
var redriveScript = eventScript(accountLua + `
local f = redis.call('HMGET', KEYS[1], 'st', 'q', 'rs', 'dm')
if f[1] ~= 'dead' then return 0 end
if f[4] ~= ARGV[2] then return 2 end
local q = f[2]
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], f[4])
redis.call('ZREM', ARGV[3] .. f[3], f[4])
local id = tid(KEYS[1], ARGV[1])
local tk = 'asynq:{' .. q .. '}:t:' .. id
redis.call('ZREM', 'asynq:{' .. q .. '}:archived', id)
redis.call('DEL', tk)
redis.call('HSET', tk, 'msg', ARGV[4], 'state', 'pending', 'pending_since', ARGV[5])
runnable(KEYS[1], q, id)
redis.call('SADD', KEYS[4], q)
redis.call('HDEL', KEYS[1], 'rs', 'dm', 'e')
redis.call('HSET', KEYS[1], 'st', 'queued', 't', ARGV[6], 'ff', ARGV[7])
redis.call('DEL', KEYS[5])
if #ARGV >= 14 then
  redis.call('RPUSH', KEYS[5], unpack(ARGV, 14))
  redis.call('EXPIRE', KEYS[5], ARGV[8])
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  emit(9, 'label.redriven', KEYS[1], ARGV[1], snapshot(KEYS[1], 'pending', false))
end
return 1
`)

// discardScript drops a dead letter for good and frees its key. With
// webhooks on it first sends label.discarded, whose data is the key as it
// was (dead, with its deadLetter): once discarded, the key is unknown. The
// snapshot's dead letter drops the request and history, which the event
// does not show, so that an event stays small.
//
// KEYS[1] record  KEYS[2] dlq hash  KEYS[3] dlq index  KEYS[4] hook:on
// ARGV[1] key  ARGV[2] reason index prefix  ARGV[3…7] eventArgs
var discardScript = eventScript(accountLua + `
local f = redis.call('HMGET', KEYS[1], 'st', 'q', 'rs', 'dm')
if f[1] ~= 'dead' then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then
  local dl = redis.call('HGET', KEYS[2], ARGV[1])
  if dl then
    local ok, d = pcall(cjson.decode, dl)
    if ok and type(d) == 'table' then
      d.request = nil
      d.history = nil
      dl = cjson.encode(d)
    else
      dl = false
    end
  end
  emit(3, 'label.discarded', KEYS[1], ARGV[1], snapshot(KEYS[1], false, dl))
end
redis.call('HDEL', KEYS[2], ARGV[1])
if f[4] then
  redis.call('ZREM', KEYS[3], f[4])
  redis.call('ZREM', ARGV[2] .. f[3], f[4])
end
local id = tid(KEYS[1], ARGV[1])
redis.call('ZREM', 'asynq:{' .. f[2] .. '}:archived', id)
redis.call('DEL', 'asynq:{' .. f[2] .. '}:t:' .. id)
redis.call('DEL', KEYS[1])
return 1
`)

// supersedeScript records the new key `dlq export --new-keys` gives a dead
// letter's request, if that key is still free and the dead letter is still
// the one the caller read: in the dead letter, and in the old key's record
// (sb, sa), where it survives a redrive, so a later dead letter of the old
// key names the same new key and no second one is ever handed out.
//
// KEYS[1] the new key's record  KEYS[2] dlq hash  KEYS[3] the old key's record
// ARGV[1] old key  ARGV[2] dead letter as read  ARGV[3] dead letter with the new key
// ARGV[4] new key  ARGV[5] now ms
// Returns 'ok', 'taken' (the new key has a record) or 'changed'.
var supersedeScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 'changed' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'taken' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], 'sb', ARGV[4], 'sa', ARGV[5])
return 'ok'
`)

// setURLsScript stores the document URLs of a batch of labels, each if its
// record still exists, in one call: a batch's per-call cost (the script's
// own, the round trip's share) was a tenth of a label's Redis time when
// each URL had its own call. With webhooks on, the URL of a label waiting
// for it sends label.completed; the URL of one whose label.completed went
// without it (hw) sends label.document.
//
// Each key's document fetch (docs.go) ends here, in the same step: it
// leaves pending, its lease and its tries.
//
// KEYS[1] hook:on  KEYS[2] waiting set  KEYS[3] documents pending
// KEYS[4] documents leased  KEYS[5] document tries  KEYS[5+i] key i's record
// ARGV[1…5] eventArgs (ARGV[4], the event id, unused)
// ARGV[3+3i] key i  ARGV[4+3i] its URL  ARGV[5+3i] its event's id
// Returns how many records were found.
var setURLsScript = eventScript(`
local n = #KEYS - 5
local ks = {}
for i = 1, n do ks[i] = ARGV[3 + 3 * i] end
redis.call('ZREM', KEYS[3], unpack(ks))
redis.call('ZREM', KEYS[4], unpack(ks))
redis.call('HDEL', KEYS[5], unpack(ks))
local on = redis.call('EXISTS', KEYS[1]) == 1
local found = 0
for i = 1, n do
  local rec, key = KEYS[5 + i], ks[i]
  if redis.call('EXISTS', rec) == 1 then
    found = found + 1
    redis.call('HSET', rec, 'url', ARGV[4 + 3 * i])
    if on then
      local id = ARGV[5 + 3 * i]
      if redis.call('ZREM', KEYS[2], amember(rec, key)) == 1 then
        emitID(1, id, 'label.completed', rec, key, snapshot(rec))
      elseif redis.call('HDEL', rec, 'hw') == 1 then
        emitID(1, id, 'label.document', rec, key, snapshot(rec))
      end
    end
  end
end
return found
`)

// setURLsChunk bounds the keys of one setURLsScript call, so that one
// call's arguments stay well within Lua's stack (unpack) and one script
// does not hold Redis for long.
const setURLsChunk = 200

var allScripts = []*redis.Script{enqueueScript, statusScript, takeSlotScript, pauseScript, completeScript, failScript, deadLetterScript, redriveScript, discardScript, supersedeScript, setURLsScript, sweepScript, trackingClaimScript, trackingWriteScript,
	docTurnScript, docClaimScript, docRetryScript, docReleaseScript}
