package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/webhook"
)

// This file is the store's side of webhooks (issue 15, events): the scripts
// that record an outcome (scripts.go) also record its event, in the same
// step, when webhooks are on. An event is a hash (fl:<ns>:hook:ev:<id>,
// fields below) and its id pushed on the pending list
// (fl:<ns>:hook:pending, HookPendingKey); the delivery side (package
// internal/hooks) leases ids off that list in batches, fans each event out
// to its endpoints and reads it with Event (or Events, for a batch).
//
// Event fields: ty type, k idempotency key, sq per-key sequence, ca created
// at (Unix ms), d the snapshot of the key's status as of the event (see
// snapshotLua).
//
// Webhooks are on while the key fl:<ns>:hook:on exists (the endpoints' side
// sets it when an endpoint is created and deletes it with the last one);
// without it every script pays one EXISTS and writes nothing more.

// EventTaskType is the asynq task type an event was recorded as before
// events went on the pending list (HookPendingKey); internal/hooks still
// serves such tasks, so events recorded before an upgrade are delivered.
const EventTaskType = "webhook:event"

// HookPendingKey is the list of recorded, undelivered event ids of
// namespace: the outcome scripts push on the left, deliverers lease from
// the right.
func HookPendingKey(namespace string) string { return "fl:" + namespace + ":hook:pending" }

// EventRetention is how long an event is kept: past the 3-day default of
// delivery retries, with a day's margin for redelivery by an operator.
const EventRetention = 4 * 24 * time.Hour

// sequenceTTL is how long a key's event sequence counter outlives the key's
// last event. It is kept apart from the record, which a discard deletes, so
// that a key's sequence keeps growing across redrives, discards and a new
// job under the same key; a key silent for longer starts again at 1.
const sequenceTTL = 30 * 24 * time.Hour

// DefaultDocumentWait is the default of Options.DocumentWait, and so of the
// worker's and of FLEXLABEL_WEBHOOK_DOCUMENT_WAIT.
const DefaultDocumentWait = 60 * time.Second

// ErrEventNotFound is Event's answer for an event that expired
// (EventRetention) or never was. It matches ErrNotFound under errors.Is too.
var ErrEventNotFound error = eventNotFound{}

type eventNotFound struct{}

func (eventNotFound) Error() string        { return "queue: event not found (expired, or never recorded)" }
func (eventNotFound) Is(target error) bool { return target == ErrNotFound }

// Every account's events are the fleet's: hook:on, the pending list, the
// event hashes and the waiting set are under the namespace's own prefix
// (st.fleet) whatever the store's account, so that the one drain delivers
// them and the one sweeper sweeps them. For the default account st.fleet
// is st.ns: its keys are the ones a single-account setup always had.
func (st *Store) hookOnKey() string         { return st.fleet + "hook:on" }
func (st *Store) awaitKey() string          { return st.fleet + "hook:await" }
func (st *Store) eventKey(id string) string { return st.fleet + "hook:ev:" + id }

// The per-key sequence counters are named by the scripts themselves
// (eventLua), from the fleet prefix P: P+"hook:seq:"+key for the default
// account, P+"hook:seq@"+account+":"+key for another, so that the same key
// under two accounts counts apart and no default key (which may hold "/"
// or "@") names another account's counter.

// awaitMember is key's member of the waiting set (awaitKey): the key
// itself for the default account, and for another 0xff, the account, "/"
// and the key. No key starts with 0xff (keys are UTF-8) and no account
// name holds "/", so a member names one account's key (parseAwaitMember)
// and never a default key. eventLua's amember builds the same.
func awaitMember(account, key string) string {
	if account == DefaultAccount {
		return key
	}
	return "\xff" + account + "/" + key
}

// parseAwaitMember is the account and key of a waiting-set member.
func parseAwaitMember(m string) (account, key string) {
	if rest, ok := strings.CutPrefix(m, "\xff"); ok {
		if a, k, ok := strings.Cut(rest, "/"); ok {
			return a, k
		}
	}
	return DefaultAccount, m
}

// eventIDEncoding writes 16 random bytes as 26 lower-case characters.
var eventIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newEventID returns "evt_" and 26 random characters (128 bits).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return "evt_" + eventIDEncoding.EncodeToString(b[:])
}

// eventArgs are the five ARGV a script that may record an event takes, at
// the position its emit calls name: the fleet's key prefix, event TTL and sequence TTL
// (seconds), a fresh event id, and now in ms. They are built for every
// call, hooks on or not: the script alone knows, and asking first would
// cost a round trip.
func (st *Store) eventArgs(now time.Time) []any {
	return []any{st.fleet, int64(EventRetention / time.Second), int64(sequenceTTL / time.Second),
		newEventID(), now.UnixMilli()}
}

// eventLua is prepended to every script that records events.
//
// emit(b, ty, rec, key, snap) records event type ty of key (whose record
// is rec) with snapshot snap, taking its arguments from ARGV[b…b+4]
// (eventArgs; emitID(b, id, …) the same with an event id of its own, for a
// script recording several): it counts the key's sequence, writes the
// event hash and pushes its id on the pending list (HookPendingKey) — one
// command, where an asynq task per event took three and cost a dequeue
// round trip each on the delivery side. The account is the record's
// (evacct: nil for the namespace's own); another account's event has it in
// the field ac, and its own sequence counter.
//
// amember(rec, key) is key's member of the waiting set (awaitMember).
//
// snapshot(rec, ts, dl) is what statusScript would answer for the record
// now — with ts as asynq's task state and dl as the dead letter — as JSON,
// the key's tracking (fl:<ns>:trk:<key>, named from the record's key: no
// namespace has a colon) included.
//
// Why a snapshot taken by the script and not JSON built by the caller: the
// script sees the record exactly as the outcome left it, in the same atomic
// step, so the event's data is the key's status at that instant even when
// the key changes right after (dead, then redriven at once: the dead event
// still says dead), and fields the caller does not hold (the attempt count,
// when it was enqueued) are right. Event turns it into the JobStatus JSON
// with the same parseStatus as GET /v1/labels/{key}, so the two cannot
// drift apart.
const eventLua = `
local function evacct(rec)
  return string.match(rec, '^[^:]*:[^:@]*@([^:]*):k:')
end
local function amember(rec, key)
  local a = evacct(rec)
  if a then return '\255' .. a .. '/' .. key end
  return key
end
local function emitID(b, id, ty, rec, key, snap)
  local p = ARGV[b]
  local a = evacct(rec)
  local sk = p .. 'hook:seq:' .. key
  if a then sk = p .. 'hook:seq@' .. a .. ':' .. key end
  local seq = redis.call('INCR', sk)
  redis.call('EXPIRE', sk, ARGV[b+2])
  local ek = p .. 'hook:ev:' .. id
  if a then
    redis.call('HSET', ek, 'ty', ty, 'k', key, 'sq', seq, 'ca', ARGV[b+4], 'd', snap, 'ac', a)
  else
    redis.call('HSET', ek, 'ty', ty, 'k', key, 'sq', seq, 'ca', ARGV[b+4], 'd', snap)
  end
  redis.call('EXPIRE', ek, ARGV[b+1])
  redis.call('LPUSH', p .. 'hook:pending', id)
end
local function emit(b, ty, rec, key, snap) emitID(b, ARGV[b+3], ty, rec, key, snap) end
local function snapshot(rec, ts, dl)
  local f = redis.call('HMGET', rec, 'st', 'q', 'a', 'e', 'li', 'url', 'rs', 't', 'ls', 'lo', 'lt')
  local p, k = string.match(rec, '^([^:]*:[^:]*:)k:(.*)$')
  local trk = redis.call('GET', p .. 'trk:' .. k)
  return cjson.encode({f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], ts or false, dl or false, f[9], f[10], f[11], trk})
end
`

// eventScript is a script that records events: eventLua, then body.
func eventScript(body string) *redis.Script { return redis.NewScript(eventLua + body) }

// EventSubject is what an event is about: the account (DefaultAccount for
// the namespace's own) and the idempotency key within it.
type EventSubject struct {
	Account, Key string
}

// EventAbout returns the event id as the envelope a receiver gets, and the
// account and key it is about; ErrEventNotFound (which matches
// ErrNotFound) once it has expired. Every account's events are the
// fleet's: any account's store reads them all.
func (st *Store) EventAbout(ctx context.Context, id string) (webhook.Event, EventSubject, error) {
	f, err := st.rdb.HMGet(ctx, st.eventKey(id), "ty", "k", "sq", "ca", "d", "ac").Result()
	if err != nil {
		return webhook.Event{}, EventSubject{}, fmt.Errorf("queue: reading event %q: %w", id, err)
	}
	get := func(i int) string { s, _ := f[i].(string); return s }
	if get(0) == "" {
		return webhook.Event{}, EventSubject{}, fmt.Errorf("%w: %q", ErrEventNotFound, id)
	}
	sub := EventSubject{Account: get(5), Key: get(1)}
	if sub.Account == "" {
		sub.Account = DefaultAccount
	}
	seq, err1 := strconv.ParseInt(get(2), 10, 64)
	ms, err2 := strconv.ParseInt(get(3), 10, 64)
	var snap []any
	err3 := json.Unmarshal([]byte(get(4)), &snap)
	if err1 != nil || err2 != nil || err3 != nil {
		return webhook.Event{}, EventSubject{}, fmt.Errorf("queue: corrupt event %q", id)
	}
	js := parseStatus(sub.Key, snap)
	js.Account = sub.Account
	data, err := json.Marshal(js)
	if err != nil {
		return webhook.Event{}, EventSubject{}, err
	}
	return webhook.Event{
		ID: id, Type: webhook.EventType(get(0)), CreatedAt: time.UnixMilli(ms).UTC(),
		APIVersion: webhook.APIVersion, Sequence: seq, Data: data,
	}, sub, nil
}

// Event is EventAbout with the idempotency key alone.
func (st *Store) Event(ctx context.Context, id string) (webhook.Event, string, error) {
	ev, sub, err := st.EventAbout(ctx, id)
	return ev, sub.Key, err
}

// sweepScript sends label.completed without a document URL for a key whose
// wait (Options.DocumentWait) has run out, and marks the record (hw) so
// that the URL, when it comes, sends label.document. It removes the key
// from the waiting set whatever it finds, so one sweeper alone acts on it.
//
// KEYS[1] record  KEYS[2] hook:on  KEYS[3] waiting set
// ARGV[1] key  ARGV[2] now ms  ARGV[3…7] eventArgs  ARGV[8] the key's
// member of the waiting set (awaitMember)
// Returns 1 when it recorded the event.
var sweepScript = eventScript(`
local s = redis.call('ZSCORE', KEYS[3], ARGV[8])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[8])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'st') ~= 'completed' then return 0 end
redis.call('HSET', KEYS[1], 'hw', '1')
emit(3, 'label.completed', KEYS[1], ARGV[1], snapshot(KEYS[1]))
return 1
`)

// SweepDocumentWaits sends label.completed for up to limit labels of any
// account whose document URL did not arrive within Options.DocumentWait
// of their completion, and returns how many it sent. Any number of workers
// may sweep at once: each label's event is sent by one of them.
func (st *Store) SweepDocumentWaits(ctx context.Context, now time.Time, limit int) (int, error) {
	keys, err := st.rdb.ZRangeByScore(ctx, st.awaitKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("queue: reading labels waiting for their document: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	cmds, err := runPipelined(ctx, st.rdb, sweepScript, len(keys), func(i int) ([]string, []any) {
		a, k := parseAwaitMember(keys[i])
		return []string{accountPrefix(st.opts.Namespace, a) + "k:" + k, st.hookOnKey(), st.awaitKey()},
			append(append([]any{k, now.UnixMilli()}, st.eventArgs(now)...), keys[i])
	}, st.acker())
	if err != nil {
		return 0, fmt.Errorf("queue: sending label.completed without document: %w", err)
	}
	sent := 0
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			sent++
		}
	}
	return sent, nil
}
