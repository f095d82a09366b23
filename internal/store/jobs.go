package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
)

// This file is the worker's side of a job's record: the handler in package
// worker decides what happens, and these methods write it down.

// Job is a label job: what Enqueue writes (Key, Hash, Payload) and what the
// worker runs (Key, Queue, Payload).
type Job struct {
	Key   string
	Queue string
	// Payload is the request as canonical JSON, validated at enqueue: the
	// body the worker sends as it is.
	Payload []byte
	// Hash is the canonical request hash; computed on demand, since a job
	// whose record exists (nearly always) does not need it.
	Hash string
}

func (j *Job) hash() string {
	if j.Hash == "" {
		// The payload is canonical JSON already: hash it as Canonical would.
		var req flexapi.LabelRequest
		if json.Unmarshal(j.Payload, &req) == nil {
			if _, h, err := Canonical(&req); err == nil {
				j.Hash = h
			}
		}
	}
	return j.Hash
}

// DecodeJob reads a task's payload. A payload that is not a JSON object is a
// bug or tampering; the worker dead-letters it as invalid.
func DecodeJob(key, queueName string, payload []byte) (*Job, error) {
	p := bytes.TrimSpace(payload)
	if len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' || !json.Valid(p) {
		return nil, fmt.Errorf("queue: job %q: payload is not a JSON object", key)
	}
	return &Job{Key: key, Queue: queueName, Payload: payload}, nil
}

// SetURLs stores several labels' document URLs in one round trip, up to
// setURLsChunk of them per script call; each label's document fetch
// (ClaimDocuments) ends with it.
func (st *Store) SetURLs(ctx context.Context, urls map[string]string) error {
	if len(urls) == 0 {
		return nil
	}
	keys := make([]string, 0, len(urls))
	for key := range urls {
		keys = append(keys, key)
	}
	now := time.Now()
	chunks := (len(keys) + setURLsChunk - 1) / setURLsChunk
	_, err := runPipelined(ctx, st.rdb, setURLsScript, chunks, func(c int) ([]string, []any) {
		part := keys[c*setURLsChunk : min((c+1)*setURLsChunk, len(keys))]
		ks := make([]string, 0, 5+len(part))
		ks = append(ks, st.hookOnKey(), st.awaitKey(), st.docsPendingKey(), st.docsLeaseKey(), st.docsTriesKey())
		args := make([]any, 0, 5+3*len(part))
		args = append(args, st.eventArgs(now)...)
		for _, k := range part {
			ks = append(ks, st.recordKey(k))
			args = append(args, k, urls[k], newEventID())
		}
		return ks, args
	}, st.acker())
	if err != nil {
		return fmt.Errorf("queue: storing document URLs: %w", err)
	}
	return nil
}

// Fail records a failed call that will be retried and is no attempt of the
// job's own (a rate-limited one): the last error only, no history entry.
func (st *Store) Fail(ctx context.Context, j *Job, msg string) error {
	return st.fail(ctx, j, time.Now(), msg, "")
}

// FailAttempt records a failed attempt that will be retried, and adds it
// (time, f.Attempts as its number, HTTP status, message) to the job's
// failure history, which its dead letter carries if it dies.
func (st *Store) FailAttempt(ctx context.Context, j *Job, f Failure) error {
	now := time.Now().UTC().Truncate(time.Millisecond) // as ff stores it
	entry, err := json.Marshal(newAttempt(now, f.Attempts, f.HTTPStatus, f.Message))
	if err != nil {
		return err
	}
	return st.fail(ctx, j, now, f.Message, string(entry))
}

func (st *Store) fail(ctx context.Context, j *Job, now time.Time, msg, entry string) error {
	err := failScript.Run(ctx, st.rdb, []string{st.recordKey(j.Key), st.failuresKey(j.Key)},
		msg, now.UnixMilli(), entry, HistoryLimit, int64(failuresTTL/time.Second)).Err()
	if err != nil {
		return fmt.Errorf("queue: recording failure of %q: %w", j.Key, err)
	}
	return nil
}

// Complete records the created label; the record is kept for the retention.
// A label without its document URL is pending for the fleet's document
// fetch (ClaimDocuments) from the same step on.
// With webhooks on, the label then waits for its document URL (SetURLs)
// for Options.DocumentWait before label.completed is sent
// (SweepDocumentWaits sends it without the URL). A key Options.Tracking
// follows has its first tracking check scheduled in the same step.
func (st *Store) Complete(ctx context.Context, j *Job, l *flexapi.Label) error {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	secs := int64(st.opts.Retention / time.Second)
	now := time.Now()
	until := now.Add(st.opts.DocumentWait).UnixMilli()
	firstCheck := ""
	if st.opts.Tracking.follows(j.Key) {
		firstCheck = strconv.FormatInt(st.opts.Tracking.firstCheck(now).UnixMilli(), 10)
	}
	err := st.run(ctx, completeScript, []string{st.recordKey(j.Key), st.failuresKey(j.Key), st.hookOnKey(), st.awaitKey(),
		st.trackingFollowedKey(), st.trackingDueKey(), st.trackingTagsKey(), st.docsPendingKey()},
		secs, l.ID, l.Status, deref(l.CourierOrderNumber), deref(l.CourierTrackingNumber), j.Key, until, firstCheck, now.UnixMilli(),
		awaitMember(st.opts.Account, j.Key)).Err()
	if err != nil {
		return fmt.Errorf("queue: completing %q: %w", j.Key, err)
	}
	return nil
}

// Failure describes a failed attempt: why a job is being dead-lettered, or
// (Reason empty) why it will be retried.
type Failure struct {
	Reason     Reason
	HTTPStatus int
	Message    string
	Details    []flexapi.Detail
	Attempts   int
}

// DeadLetter moves the job to the dead-letter queue with its request, the
// failure and the job's failure history (this attempt last), atomically with
// its record.
func (st *Store) DeadLetter(ctx context.Context, j *Job, f Failure) error {
	if !f.Reason.Valid() {
		return fmt.Errorf("queue: dead-letter %q: unknown reason %q", j.Key, f.Reason)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Only this job's own run writes its record and history, so reading
	// them first is safe.
	pipe := st.rdb.Pipeline()
	rec := pipe.HMGet(ctx, st.recordKey(j.Key), "ff", "sb", "sa")
	past := pipe.LRange(ctx, st.failuresKey(j.Key), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("queue: dead-lettering %q: reading its failures: %w", j.Key, err)
	}
	vals := rec.Val()
	field := func(i int) string {
		if i < len(vals) {
			s, _ := vals[i].(string)
			return s
		}
		return ""
	}
	first := now
	if ms, err := strconv.ParseInt(field(0), 10, 64); err == nil {
		first = time.UnixMilli(ms).UTC()
	}
	history := make([]FailedAttempt, 0, len(past.Val())+1)
	for _, s := range past.Val() {
		var a FailedAttempt
		if json.Unmarshal([]byte(s), &a) == nil {
			history = append(history, a)
		}
	}
	history = append(history, newAttempt(now, f.Attempts, f.HTTPStatus, f.Message))
	if n := len(history); n > HistoryLimit {
		history = history[n-HistoryLimit:]
	}
	d := DeadLetter{
		IdempotencyKey: j.Key,
		DeadLetterInfo: DeadLetterInfo{
			Reason: f.Reason, HTTPStatus: f.HTTPStatus, Message: f.Message, Details: f.Details,
			Attempts: f.Attempts, FirstFailedAt: first, FailedAt: now,
		},
		Queue:        j.Queue,
		Request:      j.Payload,
		History:      history,
		SupersededBy: field(1),
	}
	if ms, err := strconv.ParseInt(field(2), 10, 64); err == nil && d.SupersededBy != "" {
		at := time.UnixMilli(ms).UTC()
		d.SupersededAt = &at
	}
	entry, err := json.Marshal(d)
	if err != nil {
		return err
	}
	// label.dead's data shows the DeadLetterInfo alone, as status does.
	info, err := json.Marshal(d.DeadLetterInfo)
	if err != nil {
		return err
	}
	args := append([]any{j.Key, string(f.Reason), entry, indexMember(now, j.Key), st.dlqReasonPrefix(), f.Message, j.hash(), j.Queue, now.UnixMilli(), info},
		st.eventArgs(now)...)
	err = st.run(ctx, deadLetterScript,
		[]string{st.recordKey(j.Key), st.dlqKey(), st.dlqIndexKey(), st.failuresKey(j.Key), st.hookOnKey()}, args...).Err()
	if err != nil {
		return fmt.Errorf("queue: dead-lettering %q: %w", j.Key, err)
	}
	return nil
}
