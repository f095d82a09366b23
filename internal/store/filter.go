package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// filtered reports whether o filters on anything the dead-letter indexes do
// not order by: the key (prefix) or the queue.
func (o ListOptions) filtered() bool { return o.KeyPrefix != "" || o.Queue != "" }

// bounds returns the ZRANGEBYLEX range of the index members o selects:
// members are "<failure ms, 13 digits>|<key>", so a time bound is a range
// bound, and a cursor (the last member seen) an exclusive minimum.
func (o ListOptions) bounds() (min, max string, err error) {
	min, max = "-", "+"
	if !o.Since.IsZero() {
		min = fmt.Sprintf("[%013d", max0(o.Since.UnixMilli()))
	}
	if !o.Until.IsZero() {
		// Every member of the millisecond Until sorts after the bare
		// digits, so "(digits" stops before them: Until is exclusive.
		max = fmt.Sprintf("(%013d", max0(o.Until.UnixMilli()))
	}
	if o.Cursor != "" {
		c, err := decodeCursor(o.Cursor)
		if err != nil {
			return "", "", err
		}
		if min == "-" || c >= min[1:] {
			min = "(" + c
		}
	}
	return min, max, nil
}

func max0(ms int64) int64 { return max(ms, 0) }

// scanBatch is how many index members a filtered scan reads per round trip.
const scanBatch = 500

// scan walks the dead letters o selects, oldest failure first, and calls fn
// with each one's key and, when entries is set, its dead letter, until fn
// returns false. It returns the index member of the last dead letter it
// handed to fn or skipped, and whether fn stopped it (false: the end was
// reached).
//
// What it costs in Redis: the reason and time bounds are a range of one
// sorted-set index, so an unfiltered walk reads only what it hands out (one
// ZRANGEBYLEX and, with entries, one HMGET per batch). A KeyPrefix filter
// reads the index members of the whole range (the keys are in the members,
// so no entry is read to skip one), and a Queue filter also reads the entry
// of each member in range (HMGET, with the request): both are linear in the
// dead letters of the reason and time range, not in the matches, so narrow
// a filter on a large queue with a reason or a time range.
func (st *Store) scan(ctx context.Context, o ListOptions, batch int, entries bool, fn func(key string, d *DeadLetter) bool) (string, bool, error) {
	if err := checkReason(o.Reason); err != nil {
		return "", false, err
	}
	min, max, err := o.bounds()
	if err != nil {
		return "", false, err
	}
	if o.filtered() {
		batch = scanBatch
	}
	entries = entries || o.Queue != ""
	idx := st.dlqIndexKey()
	if o.Reason != "" {
		idx = st.dlqReasonKey(string(o.Reason))
	}
	last := ""
	for {
		members, err := st.rdb.ZRangeByLex(ctx, idx, &redis.ZRangeBy{Min: min, Max: max, Count: int64(batch)}).Result()
		if err != nil {
			return "", false, fmt.Errorf("queue: listing dead letters: %w", err)
		}
		var keep []string // members that pass the key filter
		for _, m := range members {
			if strings.HasPrefix(memberKey(m), o.KeyPrefix) {
				keep = append(keep, m)
			}
		}
		var vals []any
		if entries && len(keep) > 0 {
			keys := make([]string, len(keep))
			for i, m := range keep {
				keys[i] = memberKey(m)
			}
			if vals, err = st.rdb.HMGet(ctx, st.dlqKey(), keys...).Result(); err != nil {
				return "", false, fmt.Errorf("queue: reading dead letters: %w", err)
			}
		}
		k := 0 // next of keep
		for _, m := range members {
			last = m
			if k == len(keep) || keep[k] != m {
				continue
			}
			k++
			var d *DeadLetter
			if entries {
				s, ok := vals[k-1].(string)
				if !ok {
					continue // redriven or discarded between the two reads
				}
				if d, err = decodeDeadLetter(s); err != nil {
					return "", false, fmt.Errorf("queue: corrupt dead letter: %w", err)
				}
				if o.Queue != "" && d.Queue != o.Queue {
					continue
				}
			}
			if !fn(memberKey(m), d) {
				return last, true, nil
			}
		}
		if len(members) < batch {
			return last, false, nil
		}
		min = "(" + members[len(members)-1]
	}
}

// CountMatching counts the dead letters o selects (its Limit and Cursor are
// ignored). Filtered by reason and time only it is one ZLEXCOUNT; with a
// KeyPrefix or Queue it walks the range as List does (see scan).
func (st *Store) CountMatching(ctx context.Context, o ListOptions) (int64, error) {
	o.Cursor = ""
	if !o.filtered() {
		if err := checkReason(o.Reason); err != nil {
			return 0, err
		}
		min, max, _ := o.bounds()
		idx := st.dlqIndexKey()
		if o.Reason != "" {
			idx = st.dlqReasonKey(string(o.Reason))
		}
		n, err := st.rdb.ZLexCount(ctx, idx, min, max).Result()
		if err != nil {
			return 0, fmt.Errorf("queue: counting dead letters: %w", err)
		}
		return n, nil
	}
	var n int64
	_, _, err := st.scan(ctx, o, scanBatch, false, func(string, *DeadLetter) bool {
		n++
		return true
	})
	return n, err
}

// KeysMatching returns the keys of the dead letters o selects (Limit and
// Cursor ignored), oldest failure first, as a snapshot to redrive or discard,
// as Keys does for a reason. It costs what CountMatching costs, plus the
// keys it returns.
func (st *Store) KeysMatching(ctx context.Context, o ListOptions) ([]string, error) {
	o.Cursor = ""
	var keys []string
	_, _, err := st.scan(ctx, o, 1000, false, func(k string, _ *DeadLetter) bool {
		keys = append(keys, k)
		return true
	})
	return keys, err
}

// Counts is how many label jobs are where, for a dashboard: asynq's lists of
// both lanes' queues and the dead-letter indexes, read in one round trip.
type Counts struct {
	Pending   int64 `json:"pending"`
	Active    int64 `json:"active"`
	Scheduled int64 `json:"scheduled"`
	Retrying  int64 `json:"retrying"`
	// Completed is asynq's count of successful runs since the queues
	// were created (its processed minus failed totals): labels made,
	// since a run that dead-letters counts as failed.
	Completed    int64            `json:"completed"`
	Dead         int64            `json:"dead"`
	DeadByReason map[Reason]int64 `json:"deadByReason"`
}

// Counts reads Counts in one pipelined round trip of O(1) commands.
func (st *Store) Counts(ctx context.Context) (Counts, error) {
	pipe := st.rdb.Pipeline()
	type lane struct{ pending, active, scheduled, retry, processed, failed any }
	var lanes []lane
	for _, l := range []Lane{Interactive, Bulk} {
		k := func(what string) string { return asynqQueueKey(st.Name(l), what) }
		lanes = append(lanes, lane{
			pipe.LLen(ctx, k("pending")), pipe.LLen(ctx, k("active")),
			pipe.ZCard(ctx, k("scheduled")), pipe.ZCard(ctx, k("retry")),
			pipe.Get(ctx, k("processed")), pipe.Get(ctx, k("failed")),
		})
	}
	dead := pipe.ZCard(ctx, st.dlqIndexKey())
	reasons := make(map[Reason]*redis.IntCmd, len(Reasons))
	for _, r := range Reasons {
		reasons[r] = pipe.ZCard(ctx, st.dlqReasonKey(string(r)))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return Counts{}, fmt.Errorf("queue: counting jobs: %w", err)
	}
	n := func(c any) int64 {
		switch c := c.(type) {
		case *redis.IntCmd:
			return c.Val()
		case *redis.StringCmd:
			v, _ := c.Int64() // absent until asynq processed a task
			return v
		}
		return 0
	}
	c := Counts{Dead: dead.Val(), DeadByReason: make(map[Reason]int64, len(Reasons))}
	for _, l := range lanes {
		c.Pending += n(l.pending)
		c.Active += n(l.active)
		c.Scheduled += n(l.scheduled)
		c.Retrying += n(l.retry)
		c.Completed += n(l.processed) - n(l.failed)
	}
	for r, cmd := range reasons {
		c.DeadByReason[r] = cmd.Val()
	}
	return c, nil
}
