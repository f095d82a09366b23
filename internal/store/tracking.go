package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// This file holds what status reads of a followed shipment: the tracking
// state the worker's tracking poller writes after each GET /tracking/{id}.
//
// Layout (completeScript starts a follow-up, the poller owns the rest):
//
//	fl:<ns>:trk:<key>   string, the Tracking JSON below; written by each
//	                    poll, its TTL the record's (see below)
//	fl:<ns>:trk:due     ZSET, member the idempotency key, score the next
//	                    check (Unix ms): the poll schedule. A poller's claim
//	                    moves the score to now + lease, and its write must
//	                    find that score still there (the claim's token)
//	fl:<ns>:trk:f       HASH, idempotency key -> "<created ms> <label id>"
//	                    of every followed shipment: what a poll needs, kept
//	                    apart from the record, so the follow-up does not
//	                    depend on the record outliving the retention
//	fl:<ns>:trk:tags    HASH, tag -> followed shipments with that tag as
//	                    last polled ("none": not polled yet); the metrics'
//	                    gauge reads it, kept by the same scripts
//
// A key is in trk:due exactly while it is in trk:f (both written and
// removed together). While a shipment is followed, each poll extends its
// record's TTL to at least the retention past the next check, so status
// and GET /v1/labels/{key} keep showing it; once it is no longer followed
// the record and trk:<key> expire a retention after the last poll.

// Tracking is a followed shipment as last polled: the `tracking` object of
// `flexlabel status --json` and GET /v1/labels/{key}.
type Tracking struct {
	Tag            string `json:"tag"`
	Subtag         string `json:"subtag"`
	SubtagMessage  string `json:"subtagMessage"`
	TrackingNumber string `json:"trackingNumber"`
	// Checkpoints are newest first, as the API gives them.
	Checkpoints []flexapi.Checkpoint `json:"checkpoints"`
	CheckedAt   time.Time            `json:"checkedAt"`
	// NextCheckAt is when the next poll is due; nil once the shipment is
	// no longer followed (Delivered, Cancelled, or past the age limit).
	NextCheckAt *time.Time `json:"nextCheckAt"`
}

// trackingKey is the string holding a key's Tracking JSON.
func (st *Store) trackingKey(key string) string { return st.ns + "trk:" + key }

// trackingDueKey is the poll schedule.
func (st *Store) trackingDueKey() string { return st.ns + "trk:due" }

// trackingFollowedKey holds the followed shipments' label ids and creation times.
func (st *Store) trackingFollowedKey() string { return st.ns + "trk:f" }

// trackingTagsKey holds the count of followed shipments by tag.
func (st *Store) trackingTagsKey() string { return st.ns + "trk:tags" }

// TagNotPolled is the tag a followed shipment is counted under before its
// first poll (TrackingCounts).
const TagNotPolled = "none"

// TrackingOptions say which completed labels Complete schedules for
// tracking; the zero value follows none.
type TrackingOptions struct {
	On bool
	// KeyPrefix: only keys with this prefix are followed ("": all).
	KeyPrefix string
	// FirstCheckMin and FirstCheckMax bound the first poll after the label
	// is created, drawn uniformly between them (the jitter that spreads a
	// bulk run's labels over the range).
	FirstCheckMin, FirstCheckMax time.Duration
}

// follows reports whether a completed key is to be followed.
func (o TrackingOptions) follows(key string) bool { return o.On && strings.HasPrefix(key, o.KeyPrefix) }

// firstCheck draws the first poll time of a label created at now.
func (o TrackingOptions) firstCheck(now time.Time) time.Time {
	return now.Add(jitter(o.FirstCheckMin, o.FirstCheckMax))
}

// jitter is a duration drawn uniformly in [lo, hi].
func jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

func parseTracking(raw string) *Tracking {
	if raw == "" {
		return nil
	}
	var t Tracking
	if json.Unmarshal([]byte(raw), &t) != nil {
		return nil
	}
	if t.Checkpoints == nil {
		t.Checkpoints = []flexapi.Checkpoint{}
	}
	return &t
}

// Tracking returns a key's tracking as last polled, or nil while it has not
// been polled.
func (st *Store) Tracking(ctx context.Context, key string) (*Tracking, error) {
	raw, err := st.rdb.Get(ctx, st.trackingKey(key)).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: tracking of %q: %w", key, err)
	}
	return parseTracking(raw), nil
}

// TrackingCounts returns how many shipments are followed, by tag as last
// polled (TagNotPolled before the first poll): one HGETALL, for the
// metrics' gauge.
func (st *Store) TrackingCounts(ctx context.Context) (map[string]int64, error) {
	raw, err := st.rdb.HGetAll(ctx, st.trackingTagsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: counting followed shipments: %w", err)
	}
	out := make(map[string]int64, len(raw))
	for tag, v := range raw {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			out[tag] = n
		}
	}
	return out, nil
}

// NextTrackingDue returns when the earliest followed shipment's check is
// due, and false when none is followed: one cheap read, so that a poller
// takes a budget slot only when there is something to poll.
func (st *Store) NextTrackingDue(ctx context.Context) (time.Time, bool, error) {
	z, err := st.rdb.ZRangeWithScores(ctx, st.trackingDueKey(), 0, 0).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("queue: reading the tracking schedule: %w", err)
	}
	if len(z) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(int64(z[0].Score)), true, nil
}

// DueTrackingChecks counts the checks due by now (O(log n)): a poller
// takes a budget slot only while more are due than its pool has in flight,
// so that pollers do not take slots for a check another one claims.
func (st *Store) DueTrackingChecks(ctx context.Context, now time.Time) (int64, error) {
	n, err := st.rdb.ZCount(ctx, st.trackingDueKey(), "-inf", strconv.FormatInt(now.UnixMilli(), 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("queue: counting due tracking checks: %w", err)
	}
	return n, nil
}

// TrackingClaim is a followed shipment claimed by one poller: until the
// claim's lease ends, no other poller gets it, and FinishTracking writes
// the poll's outcome only while the claim is still held.
type TrackingClaim struct {
	Key       string
	LabelID   string
	CreatedAt time.Time
	// DueAt is when the check was due (now - DueAt is its lateness).
	DueAt time.Time
	// Tracking is the shipment as last polled; nil before the first poll.
	Tracking *Tracking
	token    int64 // the lease's score in trk:due
}

// trackingClaimScript claims the earliest due shipment: its score moves to
// now + lease, so that a poller killed mid-poll loses nothing (the key comes
// due again when the lease ends). A due key no longer followed (trk:f has
// no entry: a layout written by hand) is dropped and the next one tried.
//
// KEYS[1] trk:due  KEYS[2] trk:f
// ARGV[1] now ms  ARGV[2] lease ms  ARGV[3] prefix of trk:<key>
// Returns {key, due score, "<created ms> <label id>", tracking JSON or nil, token} or nil.
var trackingClaimScript = redis.NewScript(`
for i = 1, 10 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
  if #due == 0 then return false end
  local key = due[1]
  local meta = redis.call('HGET', KEYS[2], key)
  if meta then
    local tok = tonumber(ARGV[1]) + tonumber(ARGV[2])
    redis.call('ZADD', KEYS[1], tok, key)
    return {key, due[2], meta, redis.call('GET', ARGV[3] .. key), tok}
  end
  redis.call('ZREM', KEYS[1], key)
end
return false
`)

// ClaimTracking claims the earliest shipment due by now for lease; nil when
// none is due.
func (st *Store) ClaimTracking(ctx context.Context, now time.Time, lease time.Duration) (*TrackingClaim, error) {
	v, err := trackingClaimScript.Run(ctx, st.rdb, []string{st.trackingDueKey(), st.trackingFollowedKey()},
		now.UnixMilli(), max(lease.Milliseconds(), 1), st.ns+"trk:").Slice()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: claiming a tracking check: %w", err)
	}
	if len(v) != 5 {
		return nil, fmt.Errorf("queue: claiming a tracking check: unexpected reply %v", v)
	}
	key, _ := v[0].(string)
	score, _ := v[1].(string)
	meta, _ := v[2].(string)
	raw, _ := v[3].(string)
	tok, _ := v[4].(int64)
	due, _ := strconv.ParseFloat(score, 64)
	ms, id, _ := strings.Cut(meta, " ")
	created, _ := strconv.ParseInt(ms, 10, 64)
	return &TrackingClaim{Key: key, LabelID: id, CreatedAt: time.UnixMilli(created), DueAt: time.UnixMilli(int64(due)),
		Tracking: parseTracking(raw), token: tok}, nil
}

// TrackingUpdate is the outcome of a claimed check.
type TrackingUpdate struct {
	// Tracking is written as the key's tracking unless nil (nothing known
	// yet: a first poll that failed). Its NextCheckAt should be Next.
	Tracking *Tracking
	// Next is the next check; nil stops the follow-up.
	Next *time.Time
}

// trackingWriteScript writes a claimed check's outcome — the tracking, the
// next due time or the end of the follow-up, the counts by tag, and with
// webhooks on a tracking.updated event — in one step, if the claim is
// still held (the key's score is the claim's token). While followed, the
// record's TTL is extended to the retention past the next check; the
// tracking's TTL is the record's.
//
// KEYS[1] trk:due  KEYS[2] trk:f  KEYS[3] trk:tags  KEYS[4] trk:<key>
// KEYS[5] record  KEYS[6] hook:on
// ARGV[1] key  ARGV[2] claim token  ARGV[3] tracking JSON or ”
// ARGV[4] next check ms or ” (stop)  ARGV[5] counted tag before
// ARGV[6] counted tag after  ARGV[7] '1': send tracking.updated
// ARGV[8] retention seconds  ARGV[9] now ms  ARGV[10…17] eventArgs
// Returns 1 when written, 0 when the claim was lost.
var trackingWriteScript = eventScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
local function count(tag, d)
  if redis.call('HINCRBY', KEYS[3], tag, d) <= 0 then redis.call('HDEL', KEYS[3], tag) end
end
local ttl = tonumber(ARGV[8])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  count(ARGV[5], -1)
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  if ARGV[5] ~= ARGV[6] then
    count(ARGV[5], -1)
    count(ARGV[6], 1)
  end
  ttl = ttl + math.max(0, math.ceil((tonumber(ARGV[4]) - tonumber(ARGV[9])) / 1000))
end
local rt = redis.call('TTL', KEYS[5])
if rt >= 0 and rt < ttl then redis.call('EXPIRE', KEYS[5], ttl) end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', math.max(ttl, rt))
  if ARGV[7] == '1' and rt ~= -2 and redis.call('EXISTS', KEYS[6]) == 1 then
    emit(10, 'tracking.updated', KEYS[5], ARGV[1], snapshot(KEYS[5]))
  end
end
return 1
`)

// FinishTracking writes the outcome of a claimed check (see
// TrackingUpdate), and with webhooks on sends tracking.updated when the tag
// changed or a checkpoint came (TrackingChanged). It returns false, writing
// nothing, when the claim's lease had ended and another poller claimed the
// key meanwhile.
func (st *Store) FinishTracking(ctx context.Context, c *TrackingClaim, u TrackingUpdate) (bool, error) {
	now := time.Now()
	raw, next, changed := "", "", "0"
	before, after := TagNotPolled, TagNotPolled
	if c.Tracking != nil {
		before, after = c.Tracking.Tag, c.Tracking.Tag
	}
	if u.Tracking != nil {
		b, err := json.Marshal(u.Tracking)
		if err != nil {
			return false, err
		}
		raw, after = string(b), u.Tracking.Tag
		if TrackingChanged(c.Tracking, u.Tracking) {
			changed = "1"
		}
	}
	if u.Next != nil {
		next = strconv.FormatInt(u.Next.UnixMilli(), 10)
	}
	args := append([]any{c.Key, c.token, raw, next, before, after, changed, int64(st.opts.Retention / time.Second), now.UnixMilli()},
		st.eventArgs(now)...)
	n, err := st.run(ctx, trackingWriteScript, []string{st.trackingDueKey(), st.trackingFollowedKey(), st.trackingTagsKey(),
		st.trackingKey(c.Key), st.recordKey(c.Key), st.hookOnKey()}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("queue: recording the tracking check of %q: %w", c.Key, err)
	}
	return n == 1, nil
}

// TrackingChanged reports whether a poll brought news worth a
// tracking.updated event: the first tracking of a shipment, a change of
// tag, or a checkpoint that was not there before (the newest differs, or
// there are more).
func TrackingChanged(old, cur *Tracking) bool {
	if cur == nil {
		return false
	}
	if old == nil || old.Tag != cur.Tag || len(old.Checkpoints) != len(cur.Checkpoints) {
		return true
	}
	if len(cur.Checkpoints) == 0 {
		return false
	}
	a, b := old.Checkpoints[0], cur.Checkpoints[0]
	return a.CheckpointTime != b.CheckpointTime || a.Tag != b.Tag || a.Subtag != b.Subtag || a.Message != b.Message
}
