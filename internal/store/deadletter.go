package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Reason is why a job was dead-lettered. The dead-letter queue owns the
// set: flexapi's permanent refusals (its Classify names them in its own
// strings) plus retries_exhausted, which only the worker decides. A Reason
// names a Redis index (dlq:r:<reason>), so only the values below exist.
type Reason string

// Dead-letter reasons: flexapi's permanent reasons plus retries_exhausted.
const (
	ReasonAuth             Reason = flexapi.ReasonAuth
	ReasonInvalid          Reason = flexapi.ReasonInvalid
	ReasonNotFound         Reason = flexapi.ReasonNotFound
	ReasonCourierRejected  Reason = flexapi.ReasonCourierRejected
	ReasonRejected         Reason = flexapi.ReasonRejected
	ReasonRetriesExhausted Reason = "retries_exhausted"
)

// Reasons lists every dead-letter reason, in the order front ends show them.
var Reasons = []Reason{ReasonAuth, ReasonInvalid, ReasonNotFound, ReasonCourierRejected, ReasonRejected, ReasonRetriesExhausted}

// Valid reports whether r is one of Reasons (the empty Reason is not).
func (r Reason) Valid() bool { return slices.Contains(Reasons, r) }

// String returns the reason as stored and shown.
func (r Reason) String() string { return string(r) }

// ErrBadReason is the answer to a reason that is none of Reasons.
var ErrBadReason = errors.New("queue: unknown dead-letter reason")

// ParseReason is the one check of a reason a person or a program typed: it
// returns s as a Reason, or an error wrapping ErrBadReason. The empty string
// parses as the empty Reason, which the operations read as "every reason".
// Front ends call it once while parsing their input, and render
// ErrBadReason in their own words.
func ParseReason(s string) (Reason, error) {
	r := Reason(s)
	if r == "" || r.Valid() {
		return r, nil
	}
	return "", fmt.Errorf("%w %q (want one of %v)", ErrBadReason, s, Reasons)
}

// checkReason guards the operations that take a Reason made by a
// conversion instead of ParseReason: "" is every reason.
func checkReason(r Reason) error {
	_, err := ParseReason(string(r))
	return err
}

// DeadLetter is one entry of the dead-letter queue: the original request and
// why it can never succeed as it is.
type DeadLetter struct {
	IdempotencyKey string `json:"idempotencyKey"`
	DeadLetterInfo
	Queue   string          `json:"queue"`
	Request json.RawMessage `json:"request"`
	// History is the job's failed attempts, oldest first, the last
	// HistoryLimit of them across redrives; never nil once read (a dead
	// letter written before history was kept has an empty one).
	History []FailedAttempt `json:"history"`
	// SupersededBy is the new key `dlq export --new-keys` gave this
	// request, set when it was first exported so; SupersededAt is when.
	// Whether that key was enqueued is its own status.
	SupersededBy string     `json:"supersededBy,omitempty"`
	SupersededAt *time.Time `json:"supersededAt,omitempty"`
}

// FailedAttempt is one failed API call of a job.
type FailedAttempt struct {
	At         time.Time `json:"at"`
	Attempt    int       `json:"attempt"`    // the job's attempt number (API calls made so far)
	HTTPStatus int       `json:"httpStatus"` // 0 when no answer came (timeout, dropped connection)
	Message    string    `json:"message"`    // at most MaxHistoryMessage bytes
}

// HistoryLimit is how many failed attempts a job's history keeps: the
// latest ones. MaxHistoryMessage bounds each one's message, so a dead
// letter's history stays under a few kilobytes.
const (
	HistoryLimit      = 20
	MaxHistoryMessage = 300
)

func newAttempt(at time.Time, attempt, status int, msg string) FailedAttempt {
	if len(msg) > MaxHistoryMessage {
		const more = "…"
		cut := MaxHistoryMessage - len(more)
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + more
	}
	return FailedAttempt{At: at.UTC(), Attempt: attempt, HTTPStatus: status, Message: msg}
}

func decodeDeadLetter(s string) (*DeadLetter, error) {
	var d DeadLetter
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, err
	}
	if d.History == nil {
		d.History = []FailedAttempt{}
	}
	return &d, nil
}

// ListEntry is one line of `flexlabel dlq list`.
type ListEntry struct {
	IdempotencyKey string    `json:"idempotencyKey"`
	Reason         Reason    `json:"reason"`
	HTTPStatus     int       `json:"httpStatus"`
	Message        string    `json:"message"`
	Attempts       int       `json:"attempts"`
	FailedAt       time.Time `json:"failedAt"`
}

// Entry returns the list line of a dead letter.
func (d *DeadLetter) Entry() ListEntry {
	return ListEntry{IdempotencyKey: d.IdempotencyKey, Reason: d.Reason, HTTPStatus: d.HTTPStatus, Message: d.Message, Attempts: d.Attempts, FailedAt: d.FailedAt}
}

// exportInfo is what an export line carries in DeadLetterField.
type exportInfo struct {
	DeadLetterInfo
	SupersededBy string `json:"supersededBy,omitempty"`
	// Supersedes is the key the request was dead under, on a line given a
	// new key.
	Supersedes string `json:"supersedes,omitempty"`
}

// ExportLine is the request as `enqueue` accepts it, with the failure carried
// alongside in DeadLetterField (which enqueue strips).
func (d *DeadLetter) ExportLine() ([]byte, error) {
	return exportLine(d.IdempotencyKey, d.Request, exportInfo{DeadLetterInfo: d.DeadLetterInfo, SupersededBy: d.SupersededBy})
}

func exportLine(key string, request json.RawMessage, ei exportInfo) ([]byte, error) {
	info, err := json.Marshal(ei)
	if err != nil {
		return nil, err
	}
	req := bytes.TrimSpace(request)
	if len(req) < 2 || req[0] != '{' || req[len(req)-1] != '}' {
		return nil, fmt.Errorf("queue: dead letter %q has no request object", key)
	}
	var b bytes.Buffer
	b.Write(req[:len(req)-1])
	if len(bytes.TrimSpace(req[1:len(req)-1])) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"` + DeadLetterField + `":`)
	b.Write(info)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func indexMember(failedAt time.Time, key string) string {
	return fmt.Sprintf("%013d|%s", failedAt.UnixMilli(), key)
}

// ListOptions select a page of dead letters, oldest failure first. Reason,
// KeyPrefix, Queue, Since and Until are its filter (CountMatching and
// KeysMatching take the same, ignoring Limit and Cursor); the zero value of
// each matches everything.
type ListOptions struct {
	Reason Reason // empty: every reason
	Limit  int    // default 100
	Cursor string // from the previous page; empty for the first

	// KeyPrefix keeps the keys that start with it (a whole key is a
	// prefix of itself).
	KeyPrefix string
	// Queue keeps the dead letters of one asynq queue (Store.Name of a
	// lane).
	Queue string
	// Since and Until bound the last failure time (FailedAt): Since
	// inclusive, Until exclusive, to the millisecond.
	Since, Until time.Time
}

// List returns a page of dead letters and the cursor of the next page (empty
// at the end). Unfiltered, or filtered by reason and time only, it costs one
// range query and one HMGET whatever the queue's size; see scan for what a
// KeyPrefix or Queue filter costs. A reason that is not one of Reasons is
// ErrBadReason; a cursor it did not hand out, ErrBadCursor.
func (st *Store) List(ctx context.Context, o ListOptions) ([]DeadLetter, string, error) {
	if o.Limit <= 0 {
		o.Limit = 100
	}
	var out []DeadLetter
	last, more, err := st.scan(ctx, o, o.Limit, true, func(_ string, d *DeadLetter) bool {
		out = append(out, *d)
		return len(out) < o.Limit
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	return out, next, nil
}

// ErrBadCursor is List's answer to a cursor it did not issue.
var ErrBadCursor = errors.New("queue: bad cursor")

// decodeCursor returns the index member a cursor of List names. A cursor
// that decodes to anything else would list from a made-up position, most
// often past the end: a silent empty page.
func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	m := string(b)
	const digits = 13 // indexMember's failure time
	if err != nil || len(m) < digits+2 || m[digits] != '|' || strings.Trim(m[:digits], "0123456789") != "" {
		return "", fmt.Errorf("%w %q", ErrBadCursor, cursor)
	}
	return m, nil
}

func memberKey(m string) string {
	if i := bytes.IndexByte([]byte(m), '|'); i >= 0 {
		return m[i+1:]
	}
	return m
}

// Count returns how many dead letters there are, of one reason or all
// (reason ""); ErrBadReason for a reason that is none of Reasons.
func (st *Store) Count(ctx context.Context, reason Reason) (int64, error) {
	return st.CountMatching(ctx, ListOptions{Reason: reason})
}

// CountByReason returns the number of dead letters of each reason.
func (st *Store) CountByReason(ctx context.Context) (map[Reason]int64, error) {
	pipe := st.rdb.Pipeline()
	cmds := make(map[Reason]*redis.IntCmd, len(Reasons))
	for _, r := range Reasons {
		cmds[r] = pipe.ZCard(ctx, st.dlqReasonKey(string(r)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("queue: counting dead letters: %w", err)
	}
	out := make(map[Reason]int64, len(cmds))
	for r, c := range cmds {
		out[r] = c.Val()
	}
	return out, nil
}

// ErrNotFound is the answer of Get and NewKeyLine for a key that is not in
// the dead-letter queue (never was, or was redriven or discarded).
var ErrNotFound = errors.New("queue: not in the dead-letter queue")

// Get returns one dead letter, or an error wrapping ErrNotFound when the key
// is not dead.
func (st *Store) Get(ctx context.Context, key string) (*DeadLetter, error) {
	s, err := st.rdb.HGet(ctx, st.dlqKey(), key).Result()
	if err == redis.Nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: reading dead letter %q: %w", key, err)
	}
	d, err := decodeDeadLetter(s)
	if err != nil {
		return nil, fmt.Errorf("queue: corrupt dead letter %q: %w", key, err)
	}
	return d, nil
}

// Each calls fn for every dead letter (of one reason, or all), oldest first,
// a page at a time. It sees a consistent-enough snapshot: entries added

// OpCode is what a redrive or discard did to one key; callers switch on it.
type OpCode int

const (
	// OpRedriven: the job is back on its queue under the same key.
	OpRedriven OpCode = iota + 1
	// OpDiscarded: the dead letter is gone for good; its key is free.
	OpDiscarded
	// OpNotDead: the key is not in the dead-letter queue (never was, or
	// was redriven or discarded before).
	OpNotDead
	// OpChanged: the dead letter changed while being redriven (it died
	// again, say); nothing was done, and trying again may succeed.
	OpChanged
)

// Done reports whether the operation did what it was asked.
func (c OpCode) Done() bool { return c == OpRedriven || c == OpDiscarded }

// String is why the operation was not done, as OpResult.Error says it; ""
// for a done one.
func (c OpCode) String() string {
	switch c {
	case OpRedriven, OpDiscarded:
		return ""
	case OpNotDead:
		return "not in the dead-letter queue"
	case OpChanged:
		return "changed while redriving; try again"
	}
	return "unknown result " + strconv.Itoa(int(c))
}

// Discard drops the dead letter of k for good and frees the key.
func (st *Store) Discard(ctx context.Context, k string) (OpCode, error) {
	n, err := st.run(ctx, discardScript, []string{st.recordKey(k), st.dlqKey(), st.dlqIndexKey(), st.hookOnKey()},
		append([]any{k, st.dlqReasonPrefix()}, st.eventArgs(time.Now())...)...).Int()
	if err != nil {
		return 0, fmt.Errorf("queue: discard %q: %w", k, err)
	}
	if n == 1 {
		return OpDiscarded, nil
	}
	return OpNotDead, nil
}

// Redrive puts the dead letter of k back on its queue under the same key,
// with its attempt count, first failure time and failure history.
func (st *Store) Redrive(ctx context.Context, k string) (OpCode, error) {
	d, err := st.Get(ctx, k)
	if errors.Is(err, ErrNotFound) {
		return OpNotDead, nil
	}
	if err != nil {
		return 0, err
	}
	now := time.Now()
	msg := st.message(k, d.Queue, d.Request)
	first := d.FirstFailedAt
	if first.IsZero() {
		first = d.FailedAt
	}
	args := []any{k, indexMember(d.FailedAt, k), st.dlqReasonPrefix(), msg, now.UnixNano(), now.UnixMilli(),
		first.UnixMilli(), int64(failuresTTL / time.Second)}
	args = append(args, st.eventArgs(now)...)
	for _, a := range d.History {
		b, err := json.Marshal(a)
		if err != nil {
			return 0, err
		}
		args = append(args, b)
	}
	n, err := st.run(ctx, redriveScript,
		[]string{st.recordKey(k), st.dlqKey(), st.dlqIndexKey(), asynqAllQueues, st.failuresKey(k), st.hookOnKey()},
		args...).Int()
	if err != nil {
		return 0, fmt.Errorf("queue: redrive %q: %w", k, err)
	}
	switch n {
	case 1:
		return OpRedriven, nil
	case 0:
		return OpNotDead, nil // redriven or discarded since Get
	}
	return OpChanged, nil
}

// Keys returns the keys of every dead letter of a reason (or all), as a
// snapshot to redrive or discard: acting on a snapshot ends even when the
// jobs fail again at once. Then RedriveEach or DiscardEach act on them.
// ErrBadReason for a reason that is none of Reasons.
func (st *Store) Keys(ctx context.Context, reason Reason) ([]string, error) {
	return st.KeysMatching(ctx, ListOptions{Reason: reason})
}

// ErrNewKeyReason is returned by NewKeyLine for a dead letter whose reason is
// not courier_rejected.
var ErrNewKeyReason = errors.New("queue: only courier_rejected dead letters get a new key: " +
	"the API keeps their failed label under the old key; any other reason is redriven or fixed under the same key " +
	"(a new key for a job whose label may exist, e.g. retries_exhausted, could make a second label)")

// NewKey is a dead letter's request exported under a new key.
type NewKey struct {
	OldKey, NewKey string
	// Line is the request under NewKey as `enqueue` accepts it, with the
	// old failure (and "supersedes": OldKey) in DeadLetterField.
	Line []byte
	// Enqueued: NewKey already has a job (the line was enqueued before), so
	// enqueueing the line again would only repeat it.
	Enqueued bool
}

// maxNewKeyTries bounds the search for a free new key.
const maxNewKeyTries = 1000

// NewKeyLine gives a courier_rejected dead letter's request a new key so it
// can be sent again: the old key is spent, since the API replays its failed
// label forever. The new key is derived from the old one (deriveKey: key-r1,
// or the next n whose key-rn has no record here) and recorded in the dead
// letter as SupersededBy, at once, so that exporting again hands out the
// same key, never a second one. It returns ErrNotFound when key is not dead
// (any more), and ErrNewKeyReason for another reason.
func (st *Store) NewKeyLine(ctx context.Context, key string) (*NewKey, error) {
	for range 5 { // a dead letter that keeps changing under us: give up
		raw, err := st.rdb.HGet(ctx, st.dlqKey(), key).Result()
		if err == redis.Nil {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		if err != nil {
			return nil, fmt.Errorf("queue: reading dead letter %q: %w", key, err)
		}
		d, err := decodeDeadLetter(raw)
		if err != nil {
			return nil, fmt.Errorf("queue: corrupt dead letter %q: %w", key, err)
		}
		if d.Reason != ReasonCourierRejected {
			return nil, fmt.Errorf("%w (%q is %s)", ErrNewKeyReason, key, d.Reason)
		}
		if d.SupersededBy != "" {
			n, err := st.rdb.Exists(ctx, st.recordKey(d.SupersededBy)).Result()
			if err != nil {
				return nil, fmt.Errorf("queue: looking up %q: %w", d.SupersededBy, err)
			}
			return newKeyLine(d, n == 1)
		}
		changed := false
		for n := 1; n <= maxNewKeyTries && !changed; n++ {
			nk := deriveKey(key, n)
			now := time.Now().UTC().Truncate(time.Millisecond)
			next := *d
			next.SupersededBy, next.SupersededAt = nk, &now
			b, err := json.Marshal(&next)
			if err != nil {
				return nil, err
			}
			res, err := st.run(ctx, supersedeScript, []string{st.recordKey(nk), st.dlqKey(), st.recordKey(key)},
				key, raw, b, nk, now.UnixMilli()).Text()
			if err != nil {
				return nil, fmt.Errorf("queue: giving %q a new key: %w", key, err)
			}
			switch res {
			case "ok":
				return newKeyLine(&next, false)
			case "changed":
				changed = true
			}
		}
		if !changed {
			return nil, fmt.Errorf("queue: giving %q a new key: %s-r1 to -r%d are all taken", key, key, maxNewKeyTries)
		}
	}
	return nil, fmt.Errorf("queue: giving %q a new key: its dead letter kept changing; try again", key)
}

func newKeyLine(d *DeadLetter, enqueued bool) (*NewKey, error) {
	var req flexapi.LabelRequest
	if err := json.Unmarshal(d.Request, &req); err != nil {
		return nil, fmt.Errorf("queue: dead letter %q holds no label request: %w", d.IdempotencyKey, err)
	}
	req.IdempotencyKey = d.SupersededBy
	body, err := json.Marshal(&req)
	if err != nil {
		return nil, err
	}
	line, err := exportLine(d.SupersededBy, body, exportInfo{DeadLetterInfo: d.DeadLetterInfo, Supersedes: d.IdempotencyKey})
	if err != nil {
		return nil, err
	}
	return &NewKey{OldKey: d.IdempotencyKey, NewKey: d.SupersededBy, Line: line, Enqueued: enqueued}, nil
}

// deriveKey returns the n-th new key of key: key + "-r" + n. A key too long
// for that (MaxKeyLen characters in all) is cut short
// and marked with a hash of the whole key ("~" and 12 hex digits) before
// the suffix. Two different keys do not derive the same new key (for cut
// keys, barring a collision of the 48-bit hash).
func deriveKey(key string, n int) string {
	suffix := "-r" + strconv.Itoa(n)
	if utf8.RuneCountInString(key)+len(suffix) <= MaxKeyLen {
		return key + suffix
	}
	sum := sha256.Sum256([]byte(key))
	mark := "~" + hex.EncodeToString(sum[:6])
	keep := MaxKeyLen - len(suffix) - len(mark)
	return string([]rune(key)[:keep]) + mark + suffix
}
