package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the Redis side of the fleet's Flex Forward budget: one script
// that, in a single round trip, reads the fleet pause, gives interactive jobs
// precedence, takes a slot from the rate limiter and counts the job's
// attempt. The policy around it (lanes, sleeping, gating) is the worker's.

// SlotRequest asks TakeSlot for one API call.
type SlotRequest struct {
	Lane Lane
	// Idle asks for a slot that no label needs: it is granted only while
	// no interactive or bulk caller is waiting (tracking polls use it), so
	// work below the labels never delays one — nor, on the store of an
	// account other than the namespace's own, while the account has jobs
	// held for the release scheduler (release.go), which takes their slots
	// from the same GCRA without marking them as waiting. Lane and Job
	// are then ignored.
	Idle bool
	// Interval is the budget's spacing of calls (1 / calls per second);
	// zero takes no slot (count the attempt only).
	Interval time.Duration
	// Job, when set, has its attempt counted with the slot; a job already
	// completed or dead gets no slot.
	Job *Job
}

// Slot is what TakeSlot answers.
type Slot struct {
	// Granted: the caller may make one API call now.
	Granted bool
	// Wait, when not granted, is how long until trying again makes sense,
	// and Blocked says why: "pause" (a 429's fleet pause), "interactive"
	// (a bulk caller holding back for an interactive one), "labels" (an
	// idle caller holding back for a label caller) or "budget".
	Wait    time.Duration
	Blocked string
	// State is the job's state: StateActive when granted, StateCompleted or
	// StateDead for a job that must not call the API again (no slot is
	// taken for it).
	State State
	// Attempt is the job's attempt number, counted with the grant.
	Attempt int
	// At is when the slot was granted, by Redis's clock.
	At time.Time
}

// Blocked reasons of a Slot.
const (
	BlockedPause       = "pause"
	BlockedInteractive = "interactive"
	BlockedLabels      = "labels"
	BlockedBudget      = "budget"
)

// takeSlotScript is a GCRA limiter with a burst of one — the next slot is
// one interval after the last grant, by Redis's clock, so no sliding second
// holds more than rate+1 calls across any number of processes — folded
// together with the fleet pause, interactive precedence and the attempt
// count, so that a job's way to its API call is one round trip. (It is
// redis_rate's GCRA for burst 1, written out to share the round trip.)
// A caller late for its slot (woken a few ms after it, or after a round
// trip) keeps the schedule: the next slot is one interval after the slot,
// not after the late grant, so lateness does not add up to budget lost.
// Grants still fall in [slot, slot + interval), so no sliding second holds
// more than rate+1. After an idle interval the schedule starts afresh.
//
// A bulk caller marks the bulk-waiting key on every try and never clears it
// (several bulk callers wait at once; the mark lapses two intervals after
// the last one tried), so an idle caller sees a bulk run as waiting from
// one slot to the next.
//
// An idle caller also holds back while its account has jobs held (KEYS[5]
// and KEYS[6], the account's held lists, given for an idle request on an
// account's store): the release scheduler takes the account's slots for
// them from this same next-slot key but sets no waiting mark, so without
// the check a tracking poll due at the same moment took the slot a held
// label was about to be released with, and delayed it by an interval.
//
// KEYS[1] next-slot key  KEYS[2] pause  KEYS[3] interactive-waiting  KEYS[4] bulk-waiting
// KEYS[5] record (optional; for 't', the account's held:i list, and KEYS[6] its held:b)
// ARGV[1] interval µs (0: no slot)  ARGV[2] 'i' interactive, 'b' bulk or 't' idle
// ARGV[3] interactive-waiting TTL ms  ARGV[4] hash or ”  ARGV[5] queue  ARGV[6] now ms
// ARGV[7] another account's calls per window (its budget rounded up), 0 for
// none  ARGV[8] the window µs
//
// Another account's calls are also kept to ARGV[7] in any window of ARGV[8]
// (that many intervals) by Redis's clock: a list holds the times of its
// last ARGV[7] calls, and a call that would make ARGV[7]+1 inside a window
// waits until the oldest of them leaves it. The release scheduler spaces an
// account's calls, but a released job can reach the handler late (a stalled
// worker, a busy machine) and land next to the ones after it, which an API
// counting calls per second answers with a 429 that pauses the account for
// a second. A count per second of Redis's clock (the first version of this
// check) still met 429s whenever a call counted at the end of one second
// reached the API in the next (measured: 16 to 20 a run with 200 accounts
// and 4 workers on a loaded machine); with the window, ARGV[7]+1 calls
// reach an API counting per second in the same second only if their
// lateness varies by more than the window's slack over a second (53 ms at
// 9.5 a second), and at the budget's pace the window never delays a call.
//
// A record marked rel (a job the account scheduler released with its slot,
// release.go) has its attempt counted and the mark cleared, with no slot
// taken.
//
// Returns {code, n, µs}: {'ok', attempt, grant time µs}; {'completed'|'dead', 0, 0};
// {'missing', 0, 0} (no record and no hash: retry with the hash);
// {'pause'|'interactive'|'labels'|'budget', wait µs, 0}.
var takeSlotScript = redis.NewScript(`
-- window(t): with ARGV[7] (another account's calls per window of ARGV[8]
-- µs) positive, the key listing its last calls' times and the time now
-- (µs), or false and the wait until the window has room; nil without a
-- limit. counted(wk, now) records a call.
local function window(t)
  local wl = tonumber(ARGV[7] or '0')
  if wl <= 0 then return nil end
  local wk = KEYS[1] .. ':w'
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local oldest = redis.call('LINDEX', wk, wl - 1)
  if oldest then
    local w = tonumber(oldest) + tonumber(ARGV[8]) - now
    if w > 0 then return false, w end
  end
  return wk, now
end
local function counted(wk, now)
  if wk then
    local wl = tonumber(ARGV[7])
    redis.call('LPUSH', wk, string.format('%.0f', now))
    redis.call('LTRIM', wk, 0, wl - 1)
    redis.call('PEXPIRE', wk, math.floor(tonumber(ARGV[8]) / 1000) + 1)
  end
end
local rec = KEYS[5]
if ARGV[2] == 't' then rec = nil end
local st
if rec then
  local f = redis.call('HMGET', rec, 'st', 'rel')
  st = f[1]
  if st == 'completed' or st == 'dead' then return {st, 0, 0} end
  if not st and ARGV[4] == '' then return {'missing', 0, 0} end
  if f[2] then
    -- released by the account scheduler (release.go), which took the
    -- slot: count the attempt only, within the second's calls
    local t = redis.call('TIME')
    local wk, wt = window(t)
    if wk == false then return {'budget', wt, 0} end
    redis.call('HDEL', rec, 'rel')
    counted(wk, wt)
    return {'ok', redis.call('HINCRBY', rec, 'a', 1), tonumber(t[1]) * 1000000 + tonumber(t[2])}
  end
end
local now = 0
local iv = tonumber(ARGV[1])
if iv > 0 then
  local p = redis.call('PTTL', KEYS[2])
  if p > 0 then return {'pause', p * 1000, 0} end
  if ARGV[2] == 'i' then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  elseif ARGV[2] == 't' then
    if redis.call('EXISTS', KEYS[3], KEYS[4]) > 0 then return {'labels', iv, 0} end
    if KEYS[6] and redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then return {'labels', iv, 0} end
  else
    redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
    if redis.call('EXISTS', KEYS[3]) == 1 then return {'interactive', iv, 0} end
  end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
  if nxt > now then return {'budget', nxt - now, 0} end
  local wk, wt = window(t)
  if wk == false then return {'budget', wt, 0} end
  local base = now
  if nxt > now - iv then base = nxt end
  redis.call('SET', KEYS[1], string.format('%.0f', base + iv), 'PX', math.floor(2 * iv / 1000) + 1)
  counted(wk, wt)
  if ARGV[2] == 'i' then redis.call('DEL', KEYS[3]) end
end
local attempt = 0
if rec then
  if not st then
    redis.call('HSET', rec, 'h', ARGV[4], 'q', ARGV[5], 'st', 'queued', 't', ARGV[6])
  end
  attempt = redis.call('HINCRBY', rec, 'a', 1)
end
return {'ok', attempt, now}
`)

// TakeSlot tries once to take a slot of the fleet's budget, counting the
// job's attempt with it; it does not wait. A job without a record (lost, or a
// task made outside Enqueue) gets its record recreated from the payload.
func (st *Store) TakeSlot(ctx context.Context, r SlotRequest) (Slot, error) {
	s, err := st.takeSlot(ctx, r, "")
	if err == nil && s.Blocked == "missing" {
		h := r.Job.hash()
		if h == "" {
			// Not a label request at all (a hand-made task): the record
			// still comes back, and the API's 400 will dead-letter the job.
			h = "unhashable"
		}
		s, err = st.takeSlot(ctx, r, h)
	}
	if err == nil && s.Blocked == "missing" {
		err = fmt.Errorf("queue: taking a budget slot for %q: its record could not be recreated", r.Job.Key)
	}
	return s, err
}

func (st *Store) takeSlot(ctx context.Context, r SlotRequest, hash string) (Slot, error) {
	keys := append(make([]string, 0, 6), st.budgetKeys[:]...)
	lane, qn := "b", ""
	switch {
	case r.Idle:
		lane = "t"
	case r.Lane == Interactive:
		lane = "i"
	}
	switch {
	case r.Idle:
		if st.opts.Account != DefaultAccount {
			keys = append(keys, st.ns+"held:i", st.ns+"held:b")
		}
	case r.Job != nil:
		keys = append(keys, st.recordKey(r.Job.Key))
		qn = r.Job.Queue
	}
	iv := r.Interval.Microseconds()
	if r.Interval > 0 {
		iv = max(iv, 1)
	}
	iwaitTTL := (2*r.Interval + 50*time.Millisecond).Milliseconds()
	wl, wus := 0, int64(0)
	if st.opts.Account != DefaultAccount && r.Interval > 0 {
		wl = int(math.Ceil(float64(time.Second) / float64(r.Interval)))
		wus = int64(wl) * iv
	}
	v, err := takeSlotScript.Run(ctx, st.rdb, keys, iv, lane, iwaitTTL, hash, qn, time.Now().UnixMilli(), wl, wus).Slice()
	if err != nil {
		return Slot{}, fmt.Errorf("queue: taking a budget slot: %w", err)
	}
	if len(v) != 3 {
		return Slot{}, fmt.Errorf("queue: taking a budget slot: unexpected reply %v", v)
	}
	code, _ := v[0].(string)
	n, _ := v[1].(int64)
	us, _ := v[2].(int64)
	switch code {
	case "ok":
		s := Slot{Granted: true, State: StateActive, Attempt: int(n)}
		if us > 0 {
			s.At = time.UnixMicro(us)
		}
		return s, nil
	case stCompleted:
		return Slot{State: StateCompleted}, nil
	case stDead:
		return Slot{State: StateDead}, nil
	case "missing":
		return Slot{Blocked: code}, nil
	case BlockedPause, BlockedInteractive, BlockedLabels, BlockedBudget:
		return Slot{Blocked: code, Wait: time.Duration(n) * time.Microsecond, State: StateActive}, nil
	}
	return Slot{}, fmt.Errorf("queue: taking a budget slot: unexpected reply %q", code)
}

// Pause stops every worker's calls for d (a 429's Retry-After). A pause
// already longer is kept.
func (st *Store) Pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		d = time.Second
	}
	if err := pauseScript.Run(ctx, st.rdb, []string{st.budgetKeys[1]}, d.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("queue: setting the fleet pause: %w", err)
	}
	return nil
}

// pauseScript sets the fleet pause unless a longer one is set.
//
// KEYS[1] pause  ARGV[1] ms
var pauseScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
`)
