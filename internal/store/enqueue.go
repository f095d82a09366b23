package store

import (
	"context"
	"fmt"
	"time"
)

// Outcome is what an enqueue did with one request.
type Outcome string

const (
	Enqueued  Outcome = "enqueued"  // a new job
	Duplicate Outcome = "duplicate" // same key, same request: nothing new
	Conflict  Outcome = "conflict"  // same key, different request: nothing changed
	Invalid   Outcome = "invalid"   // refused by decoding or validation: nothing written
	Dead      Outcome = "dead"      // same key and request are in the dead-letter queue
)

// Accepted reports whether the outcome leaves the job in the system
// (enqueued or duplicate); other outcomes are refusals.
func (o Outcome) Accepted() bool { return o == Enqueued || o == Duplicate }

// EnqueueReply is what the enqueue script answered for one job: the outcome
// and the state of the record it found or made (pending, completed, dead).
type EnqueueReply struct {
	Outcome Outcome
	State   State
}

// Enqueue runs the enqueue script for n jobs (job(i) is the i-th, its Key,
// Hash and canonical Payload set) in one pipelined round trip, in order,
// writing each job's record and asynq task atomically.
func (st *Store) Enqueue(ctx context.Context, lane Lane, n int, job func(i int) *Job) ([]EnqueueReply, error) {
	now := time.Now()
	qn := st.Name(lane)
	cmds, err := runPipelined(ctx, st.rdb, enqueueScript, n, func(i int) ([]string, []any) {
		j := job(i)
		keys := []string{st.recordKey(j.Key), asynqTaskKey(qn, st.TaskID(j.Key)), asynqPendingKey(qn), st.dlqKey(), st.dlqIndexKey(), asynqAllQueues}
		args := []any{j.Hash, qn, now.UnixMilli(), st.message(j.Key, qn, j.Payload), j.Key, now.UnixNano(), st.dlqReasonPrefix()}
		return keys, args
	}, st.acker())
	if cmds == nil {
		return nil, fmt.Errorf("queue: enqueue batch: %w", err)
	}
	out := make([]EnqueueReply, n)
	for i, c := range cmds {
		key := job(i).Key
		v, err := c.Result()
		if err != nil {
			return nil, fmt.Errorf("queue: enqueue %q: %w", key, err)
		}
		arr, ok := v.([]any)
		if !ok || len(arr) < 2 {
			return nil, fmt.Errorf("queue: enqueue script returned %v", v)
		}
		o, _ := arr[0].(string)
		s, _ := arr[1].(string)
		out[i] = EnqueueReply{Outcome: Outcome(o), State: StatePending}
		switch s {
		case stCompleted:
			out[i].State = StateCompleted
		case stDead:
			out[i].State = StateDead
		}
	}
	if err != nil {
		// Every script ran: the batch's acknowledgement failed (too few
		// replicas), so none of it is acknowledged.
		return nil, fmt.Errorf("queue: enqueue batch: %w", err)
	}
	return out, nil
}
