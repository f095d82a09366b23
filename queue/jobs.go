package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
)

// This file is the worker's side of a job's record: the handler in package
// worker decides what happens, and these methods write it down.

// Job is a label job as the worker runs it.
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

// Begin counts an API attempt for the job without taking a budget slot, and
// returns its recorded state: a job already completed or dead (a crash after
// the outcome was recorded) must not call the API again. The worker counts
// attempts with TakeSlot instead.
func (q *Queue) Begin(ctx context.Context, j *Job) (state State, attempt int, err error) {
	s, err := q.TakeSlot(ctx, SlotRequest{Job: j})
	if err != nil {
		return "", 0, fmt.Errorf("queue: begin %q: %w", j.Key, err)
	}
	return s.State, s.Attempt, nil
}

// SetURLs stores several labels' document URLs in one round trip.
func (q *Queue) SetURLs(ctx context.Context, urls map[string]string) error {
	if len(urls) == 0 {
		return nil
	}
	pipe := q.rdb.Pipeline()
	for key, url := range urls {
		setURLScript.EvalSha(ctx, pipe, []string{q.recordKey(key)}, url)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// NOSCRIPT or a failure: store them one by one (the script is
		// loaded on the way); the writes are idempotent.
		for key, url := range urls {
			if err := q.SetURL(ctx, key, url); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fail records a failed attempt that will be retried.
func (q *Queue) Fail(ctx context.Context, j *Job, msg string) error {
	if err := failScript.Run(ctx, q.rdb, []string{q.recordKey(j.Key)}, msg, time.Now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("queue: recording failure of %q: %w", j.Key, err)
	}
	return nil
}

// Complete records the created label; the record is kept for the retention.
func (q *Queue) Complete(ctx context.Context, j *Job, l *flexapi.Label) error {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	secs := int64(q.opts.Retention / time.Second)
	err := completeScript.Run(ctx, q.rdb, []string{q.recordKey(j.Key)}, secs, l.ID, l.Status, deref(l.CourierOrderNumber), deref(l.CourierTrackingNumber)).Err()
	if err != nil {
		return fmt.Errorf("queue: completing %q: %w", j.Key, err)
	}
	return nil
}

// SetURL stores a completed label's document URL.
func (q *Queue) SetURL(ctx context.Context, key, url string) error {
	if err := setURLScript.Run(ctx, q.rdb, []string{q.recordKey(key)}, url).Err(); err != nil {
		return fmt.Errorf("queue: storing URL of %q: %w", key, err)
	}
	return nil
}

// Failure describes why a job is being dead-lettered.
type Failure struct {
	Reason     string
	HTTPStatus int
	Message    string
	Details    []flexapi.Detail
	Attempts   int
}

// DeadLetter moves the job to the dead-letter queue with its request and the
// failure, atomically with its record.
func (q *Queue) DeadLetter(ctx context.Context, j *Job, f Failure) error {
	if !ValidReason(f.Reason) {
		return fmt.Errorf("queue: dead-letter %q: unknown reason %q", j.Key, f.Reason)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := now
	if ms, err := q.rdb.HGet(ctx, q.recordKey(j.Key), "ff").Int64(); err == nil {
		first = time.UnixMilli(ms).UTC()
	}
	d := DeadLetter{
		IdempotencyKey: j.Key,
		DeadLetterInfo: DeadLetterInfo{
			Reason: f.Reason, HTTPStatus: f.HTTPStatus, Message: f.Message, Details: f.Details,
			Attempts: f.Attempts, FirstFailedAt: first, FailedAt: now,
		},
		Queue:   j.Queue,
		Request: j.Payload,
	}
	entry, err := json.Marshal(d)
	if err != nil {
		return err
	}
	err = deadLetterScript.Run(ctx, q.rdb,
		[]string{q.recordKey(j.Key), q.dlqKey(), q.dlqIndexKey()},
		j.Key, f.Reason, entry, indexMember(now, j.Key), q.dlqReasonPrefix(), f.Message, j.hash(), j.Queue, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("queue: dead-lettering %q: %w", j.Key, err)
	}
	return nil
}
