package queuetest

import (
	"context"
	"testing"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// Store returns the store of q's namespace and options: the worker's
// bookkeeping (Begin, Fail, FailAttempt, Complete, DeadLetter, SetURL(s),
// TakeSlot, Pause), which package queue does not offer, so that a test can
// play the worker without running one.
func Store(tb testing.TB, q *queue.Queue) *store.Store {
	tb.Helper()
	o := q.Options()
	st, err := store.New(q.Redis(), store.Options{Namespace: o.Namespace, MaxRetry: o.MaxRetry, TaskTimeout: o.TaskTimeout, Retention: o.Retention,
		MinReplicas: o.MinReplicas, ReplicaTimeout: o.ReplicaTimeout, Account: o.Account})
	if err != nil {
		tb.Fatalf("queuetest: store of %s: %v", o.Namespace, err)
	}
	return st
}

// Job returns the job of Request(key, productCode) on lane's queue of q, as
// the worker decodes it from its task.
func Job(tb testing.TB, q *queue.Queue, key, productCode string, lane queue.Lane) *store.Job {
	tb.Helper()
	payload, _, err := store.Canonical(Request(key, productCode))
	if err != nil {
		tb.Fatalf("queuetest: job %s: %v", key, err)
	}
	j, err := store.DecodeJob(key, q.Name(lane), payload)
	if err != nil {
		tb.Fatalf("queuetest: job %s: %v", key, err)
	}
	return j
}

// Attempt counts an API attempt of j as the worker does when it takes a
// budget slot (taking none), and returns the attempt's number.
func Attempt(tb testing.TB, q *queue.Queue, j *store.Job) int {
	tb.Helper()
	s, err := Store(tb, q).TakeSlot(context.Background(), store.SlotRequest{Job: j})
	if err != nil {
		tb.Fatalf("queuetest: counting an attempt of %s: %v", j.Key, err)
	}
	return s.Attempt
}
