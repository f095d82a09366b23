package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// State is where a job is.
type State string

const (
	StatePending   State = "pending"
	StateScheduled State = "scheduled"
	StateActive    State = "active"
	StateRetry     State = "retry"
	StateCompleted State = "completed"
	StateDead      State = "dead"
	StateUnknown   State = "unknown"
)

// Terminal reports whether the job is finished (completed or dead).
func (s State) Terminal() bool { return s == StateCompleted || s == StateDead }

// Label is the created label as status reports it.
type Label struct {
	ID                    string  `json:"id"`
	Status                string  `json:"status"`
	CourierOrderNumber    *string `json:"courierOrderNumber"`
	CourierTrackingNumber *string `json:"courierTrackingNumber"`
	URL                   string  `json:"url,omitempty"`
}

// DeadLetterInfo is why a job is dead.
type DeadLetterInfo struct {
	Reason        Reason           `json:"reason"`
	HTTPStatus    int              `json:"httpStatus"`
	Message       string           `json:"message"`
	Details       []flexapi.Detail `json:"details,omitempty"`
	Attempts      int              `json:"attempts"`
	FirstFailedAt time.Time        `json:"firstFailedAt"`
	FailedAt      time.Time        `json:"failedAt"`
}

// JobStatus is the answer of Status for one key; its JSON is the contract of
// `flexlabel status --json` and GET /v1/labels/{key}.
type JobStatus struct {
	IdempotencyKey string `json:"idempotencyKey"`
	// Account is the Flex Forward account the key is under (keys are per
	// account, as the API's are); DefaultAccount in a single-account setup.
	Account    string          `json:"account"`
	State      State           `json:"state"`
	Attempts   int             `json:"attempts"`
	LastError  *string         `json:"lastError"`
	Label      *Label          `json:"label"`
	DeadLetter *DeadLetterInfo `json:"deadLetter"`
	EnqueuedAt *time.Time      `json:"enqueuedAt,omitempty"`
	// Tracking is the shipment's tracking as last polled; nil while the
	// label is not yet polled (or not followed).
	Tracking *Tracking `json:"tracking"`
}

// Status reports each key's state in one pipelined round trip, in order.
// Unknown keys have state unknown.
func (st *Store) Status(ctx context.Context, keys ...string) ([]JobStatus, error) {
	out := make([]JobStatus, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds, err := runPipelined(ctx, st.rdb, statusScript, len(keys), func(i int) ([]string, []any) {
		return []string{st.recordKey(keys[i]), st.dlqKey(), st.trackingKey(keys[i])}, []any{keys[i]}
	}, nil)
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("queue: status: %w", err)
	}
	for i, k := range keys {
		v, err := cmds[i].Result()
		if err == redis.Nil {
			out[i] = JobStatus{IdempotencyKey: k, Account: st.opts.Account, State: StateUnknown}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue: status %q: %w", k, err)
		}
		out[i] = parseStatus(k, v)
		out[i].Account = st.opts.Account
	}
	return out, nil
}

func parseStatus(key string, v any) JobStatus {
	f, _ := v.([]any)
	get := func(i int) string {
		if i < len(f) {
			s, _ := f[i].(string)
			return s
		}
		return ""
	}
	js := JobStatus{IdempotencyKey: key}
	js.Attempts, _ = strconv.Atoi(get(2))
	if e := get(3); e != "" {
		js.LastError = &e
	}
	if ms, err := strconv.ParseInt(get(7), 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		js.EnqueuedAt = &t
	}
	js.Tracking = parseTracking(get(13))
	switch get(0) {
	case stCompleted:
		js.State = StateCompleted
		l := Label{ID: get(4), Status: get(10), URL: get(5)}
		if s := get(11); s != "" {
			l.CourierOrderNumber = &s
		}
		if s := get(12); s != "" {
			l.CourierTrackingNumber = &s
		}
		js.Label = &l
	case stDead:
		js.State = StateDead
		var dl DeadLetter
		if json.Unmarshal([]byte(get(9)), &dl) == nil {
			info := dl.DeadLetterInfo
			js.DeadLetter = &info
		} else {
			js.DeadLetter = &DeadLetterInfo{Reason: Reason(get(6))}
		}
	default:
		switch get(8) {
		case "pending", "aggregating":
			js.State = StatePending
		case "active":
			js.State = StateActive
		case "scheduled":
			js.State = StateScheduled
		case "retry":
			js.State = StateRetry
		case "archived":
			js.State = StateDead // archived by asynq without our record: should not happen
		case "completed":
			js.State = StateCompleted
		default:
			// The record exists but asynq's task does not: the task was lost
			// (say, by an asynchronous Redis failover). Enqueueing the same
			// request again recreates it.
			js.State = StateUnknown
			msg := "job record exists but its task is missing; enqueue the same request again to repair"
			js.LastError = &msg
		}
	}
	return js
}

// States returns just the state of each key, cheaply, for waiting on many keys.
func (st *Store) States(ctx context.Context, keys []string) ([]State, error) {
	pipe := st.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGet(ctx, st.recordKey(k), "st")
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("queue: states: %w", err)
	}
	out := make([]State, len(keys))
	for i, c := range cmds {
		switch c.Val() {
		case stCompleted:
			out[i] = StateCompleted
		case stDead:
			out[i] = StateDead
		case stQueued:
			out[i] = StatePending
		default:
			out[i] = StateUnknown
		}
	}
	return out, nil
}

// URLs returns the document URL stored for each key, in order, or "" where
// none is known yet: the worker fetches URLs in batches after it records a
// label, so a completed label may lack one for a few seconds.
func (st *Store) URLs(ctx context.Context, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := st.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGet(ctx, st.recordKey(k), "url")
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("queue: document URLs: %w", err)
	}
	out := make([]string, len(keys))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// History returns the failure history of a live job (one that has failed
// and is pending or retrying), oldest first; empty for a job that never
// failed, has completed, or is dead (a dead letter carries its own).
func (st *Store) History(ctx context.Context, key string) ([]FailedAttempt, error) {
	raw, err := st.rdb.LRange(ctx, st.failuresKey(key), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: failure history of %q: %w", key, err)
	}
	out := make([]FailedAttempt, 0, len(raw))
	for _, s := range raw {
		var a FailedAttempt
		if json.Unmarshal([]byte(s), &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}
