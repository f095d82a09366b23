package queue

import (
	"context"

	"github.com/flexlabel/flexlabel/internal/store"
)

// DeadLetters is the dead-letter queue of a Queue's namespace: the
// operations an operator runs (list, show, count, redrive, discard, export
// under a new key). Queue.DeadLetters returns it.
type DeadLetters struct{ st *store.Store }

// ReasonNames is Reasons as strings, for messages and shell completion.
func ReasonNames() []string {
	out := make([]string, len(Reasons))
	for i, r := range Reasons {
		out[i] = string(r)
	}
	return out
}

// ErrBadReason is the answer to a reason that is none of Reasons.
var ErrBadReason = store.ErrBadReason

// ParseReason is the one check of a reason a person or a program typed: it
// returns s as a Reason, or an error wrapping ErrBadReason. The empty string
// parses as the empty Reason, which the operations read as "every reason".
// Front ends call it once while parsing their input, and render
// ErrBadReason in their own words.
func ParseReason(s string) (Reason, error) { return store.ParseReason(s) }

// Each calls fn for every dead letter (of one reason, or all), oldest first,
// a page at a time. It sees a consistent-enough snapshot: entries added
// during the walk may or may not be seen.
func (d *DeadLetters) Each(ctx context.Context, reason Reason, fn func(*DeadLetter) error) error {
	cursor := ""
	for {
		page, next, err := d.List(ctx, ListOptions{Reason: reason, Limit: 500, Cursor: cursor})
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// OpResult says what a redrive or discard did to one key. Its JSON (key,
// done, error) is the contract of `dlq redrive|discard --json` and of the
// HTTP API; Code is the same answer for a program.
type OpResult struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Done           bool   `json:"done"`
	Error          string `json:"error,omitempty"`
	Code           OpCode `json:"-"`
}

func opResult(key string, c OpCode) OpResult {
	return OpResult{IdempotencyKey: key, Done: c.Done(), Error: c.String(), Code: c}
}

// Redrive puts dead letters back on their queue under the same key, so
// exactly-once still holds: the API replays a key it already answered. The
// job keeps its attempt count, first failure time and failure history, so
// if it dies again its dead letter tells the whole story. On a Redis error
// it returns the results of the keys before it.
func (d *DeadLetters) Redrive(ctx context.Context, keys ...string) ([]OpResult, error) {
	return collect(ctx, keys, d.RedriveEach)
}

// Discard drops dead letters for good; their keys become free again. On a
// Redis error it returns the results of the keys before it.
func (d *DeadLetters) Discard(ctx context.Context, keys ...string) ([]OpResult, error) {
	return collect(ctx, keys, d.DiscardEach)
}

func collect(ctx context.Context, keys []string, each func(context.Context, []string, func(OpResult) error) error) ([]OpResult, error) {
	out := make([]OpResult, 0, len(keys))
	err := each(ctx, keys, func(r OpResult) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// RedriveEach redrives keys one at a time, as Redrive, and hands each result
// to fn as it comes, so a caller acting on a whole reason (Keys) reports as
// it goes and holds no list of results. It stops at the first error of Redis
// or of fn.
func (d *DeadLetters) RedriveEach(ctx context.Context, keys []string, fn func(OpResult) error) error {
	return each(ctx, keys, d.st.Redrive, fn)
}

// DiscardEach discards keys one at a time, as Discard, and hands each result
// to fn as it comes. It stops at the first error of Redis or of fn.
func (d *DeadLetters) DiscardEach(ctx context.Context, keys []string, fn func(OpResult) error) error {
	return each(ctx, keys, d.st.Discard, fn)
}

// each runs op on keys one at a time and hands each result to fn, stopping at
// the first error of Redis or of fn.
func each(ctx context.Context, keys []string, op func(context.Context, string) (OpCode, error), fn func(OpResult) error) error {
	for _, k := range keys {
		c, err := op(ctx, k)
		if err != nil {
			return err
		}
		if err := fn(opResult(k, c)); err != nil {
			return err
		}
	}
	return nil
}

// List returns a page of dead letters and the cursor of the next page (empty
// at the end). Unfiltered, or filtered by reason and time only, it costs one
// range query and one HMGET whatever the queue's size. A KeyPrefix filter
// reads the index (not the entries) of the whole reason and time range to
// find its matches, and a Queue filter reads the entries of that range as
// well: both cost in proportion to the dead letters of the reason and time
// range, so give a large queue's filters a reason or a time range. A reason
// that is not one of Reasons is ErrBadReason; a cursor it did not hand out,
// ErrBadCursor.
func (d *DeadLetters) List(ctx context.Context, o ListOptions) ([]DeadLetter, string, error) {
	return d.st.List(ctx, o)
}

// Count returns how many dead letters there are, of one reason or all
// (reason ""); ErrBadReason for a reason that is none of Reasons.
func (d *DeadLetters) Count(ctx context.Context, reason Reason) (int64, error) {
	return d.st.Count(ctx, reason)
}

// CountByReason returns the number of dead letters of each reason.
func (d *DeadLetters) CountByReason(ctx context.Context) (map[Reason]int64, error) {
	return d.st.CountByReason(ctx)
}

// Get returns one dead letter, or an error wrapping ErrNotFound when the key
// is not dead.
func (d *DeadLetters) Get(ctx context.Context, key string) (*DeadLetter, error) {
	return d.st.Get(ctx, key)
}

// Keys returns the keys of every dead letter of a reason (or all), as a
// snapshot to redrive or discard: acting on a snapshot ends even when the
// jobs fail again at once. Then RedriveEach or DiscardEach act on them.
// ErrBadReason for a reason that is none of Reasons.
func (d *DeadLetters) Keys(ctx context.Context, reason Reason) ([]string, error) {
	return d.st.Keys(ctx, reason)
}

// NewKeyLine gives a courier_rejected dead letter's request a new key so it
// can be sent again: the old key is spent, since the API replays its failed
// label forever. The new key is derived from the old one (key-r1, or the
// next n whose key-rn has no record here) and recorded in the dead letter as
// SupersededBy, at once, so that exporting again hands out the same key,
// never a second one. It returns ErrNotFound when key is not dead (any
// more), and ErrNewKeyReason for another reason.
func (d *DeadLetters) NewKeyLine(ctx context.Context, key string) (*NewKey, error) {
	return d.st.NewKeyLine(ctx, key)
}

// CountMatching counts the dead letters o's filter selects (Reason,
// KeyPrefix, Queue, Since, Until; Limit and Cursor are ignored). By reason
// and time only it is one ZLEXCOUNT; with a KeyPrefix or Queue it reads
// what List reads for such a filter, the whole range.
func (d *DeadLetters) CountMatching(ctx context.Context, o ListOptions) (int64, error) {
	return d.st.CountMatching(ctx, o)
}

// KeysMatching returns the keys of the dead letters o's filter selects,
// oldest failure first, as a snapshot to redrive or discard (as Keys does
// for a reason); it costs what CountMatching costs. ErrBadReason for a
// reason that is none of Reasons.
func (d *DeadLetters) KeysMatching(ctx context.Context, o ListOptions) ([]string, error) {
	return d.st.KeysMatching(ctx, o)
}

// EachMatching calls fn for every dead letter o's filter selects, oldest
// first, a page at a time, as Each does for a reason.
func (d *DeadLetters) EachMatching(ctx context.Context, o ListOptions, fn func(*DeadLetter) error) error {
	o.Limit, o.Cursor = 500, ""
	for {
		page, next, err := d.List(ctx, o)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		o.Cursor = next
	}
}
