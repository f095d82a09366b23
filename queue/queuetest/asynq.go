package queuetest

import (
	"context"
	"slices"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynq v0.26.0 keeps a queue's tasks under asynq:{queue}:…, and flexlabel
// its own keys under fl:<namespace>:…. This file is the one place tests
// spell those keys (package internal/store has the real layout); tests of
// other packages ask these helpers instead.

func ownPrefix(ns string) string { return "fl:" + ns + ":" }

// KeyPatterns returns KEYS patterns that together match every key of
// namespace ns: flexlabel's own and asynq's of its three queues (ns,
// ns-bulk and ns-webhooks).
func KeyPatterns(ns string) []string {
	return append([]string{ownPrefix(ns) + "*", "fl:" + ns + "@*"}, AsynqKeyPatterns(ns, ns+"-bulk", WebhookQueue(ns), ns+"@", ns+"@-bulk")...)
}

// WebhookQueue is the asynq queue of namespace ns's webhook tasks.
func WebhookQueue(ns string) string { return ns + "-webhooks" }

// WebhooksOnKey is the key whose existence turns the recording of webhook
// events on in namespace ns (the endpoints' side sets it).
func WebhooksOnKey(ns string) string { return ownPrefix(ns) + "hook:on" }

// WebhooksOn turns event recording on in namespace ns, as creating an
// endpoint does.
func WebhooksOn(tb testing.TB, rdb redis.UniversalClient, ns string) {
	tb.Helper()
	if err := rdb.Set(context.Background(), WebhooksOnKey(ns), "1", 0).Err(); err != nil {
		tb.Fatalf("queuetest: turning webhooks on: %v", err)
	}
}

// EventKey is the key of event id in namespace ns.
func EventKey(ns, id string) string { return ownPrefix(ns) + "hook:ev:" + id }

// PendingEventsKey is the list of namespace ns's recorded, undelivered
// webhook event ids (pushed on the left, leased from the right).
func PendingEventsKey(ns string) string { return ownPrefix(ns) + "hook:pending" }

// PendingEvents returns the ids on namespace ns's pending list, oldest first.
func PendingEvents(tb testing.TB, rdb redis.UniversalClient, ns string) []string {
	tb.Helper()
	ids, err := rdb.LRange(context.Background(), PendingEventsKey(ns), 0, -1).Result()
	if err != nil {
		tb.Fatalf("queuetest: listing pending events of %s: %v", ns, err)
	}
	slices.Reverse(ids)
	return ids
}

// DropPendingEvents empties namespace ns's pending list, as deliverers
// leasing every event would.
func DropPendingEvents(tb testing.TB, rdb redis.UniversalClient, ns string) {
	tb.Helper()
	if err := rdb.Del(context.Background(), PendingEventsKey(ns)).Err(); err != nil {
		tb.Fatalf("queuetest: dropping pending events of %s: %v", ns, err)
	}
}

// RecordKey is the key of the job record of key in namespace ns.
func RecordKey(ns, key string) string { return ownPrefix(ns) + "k:" + key }

// DeadLetterHash is the key of the hash holding namespace ns's dead letters
// (field: idempotency key, value: the dead letter's JSON).
func DeadLetterHash(ns string) string { return ownPrefix(ns) + "dlq" }

// FailuresKey is the key of the failure history of a live job of key in
// namespace ns; FailuresKey(ns, "") is the prefix of them all.
func FailuresKey(ns, key string) string { return ownPrefix(ns) + "f:" + key }

func asynqQueuePrefix(queue string) string { return "asynq:{" + queue + "}" }

// AsynqKeyPatterns returns KEYS patterns that together match every key asynq
// keeps for the given queues (tasks, lists, sets, statistics).
func AsynqKeyPatterns(queues ...string) []string {
	out := make([]string, len(queues))
	for i, q := range queues {
		out[i] = asynqQueuePrefix(q) + "*"
	}
	return out
}

// Registered reports whether asynq knows queue (its set of all queues, which
// an enqueue adds to).
func Registered(tb testing.TB, rdb redis.UniversalClient, queue string) bool {
	tb.Helper()
	ok, err := rdb.SIsMember(context.Background(), "asynq:queues", queue).Result()
	if err != nil {
		tb.Fatalf("queuetest: reading asynq's queues: %v", err)
	}
	return ok
}

// Pending returns how many tasks wait in queue's pending list.
func Pending(tb testing.TB, rdb redis.UniversalClient, queue string) int64 {
	tb.Helper()
	n, err := rdb.LLen(context.Background(), asynqQueuePrefix(queue)+":pending").Result()
	if err != nil {
		tb.Fatalf("queuetest: counting pending tasks of %s: %v", queue, err)
	}
	return n
}

// PendingIDs returns the ids of queue's pending tasks, oldest first.
func PendingIDs(tb testing.TB, rdb redis.UniversalClient, queue string) []string {
	tb.Helper()
	ids, err := rdb.LRange(context.Background(), asynqQueuePrefix(queue)+":pending", 0, -1).Result()
	if err != nil {
		tb.Fatalf("queuetest: listing pending tasks of %s: %v", queue, err)
	}
	slices.Reverse(ids) // asynq pushes on the left and pops on the right
	return ids
}

// Dequeue takes task id off queue's pending list, as an asynq server does
// when it hands the task to a handler, so that a test can play the worker
// without one running. It fails the test if the task was not pending.
func Dequeue(tb testing.TB, rdb redis.UniversalClient, queue, id string) {
	tb.Helper()
	n, err := rdb.LRem(context.Background(), asynqQueuePrefix(queue)+":pending", 0, id).Result()
	if err != nil {
		tb.Fatalf("queuetest: dequeuing %s from %s: %v", id, queue, err)
	}
	if n == 0 {
		tb.Fatalf("queuetest: task %s is not pending in %s", id, queue)
	}
}

// Task returns asynq's view of task id in queue (its state, how often it
// was retried, …), read with asynq's Inspector. It does not fail the test,
// so it can be polled from require.EventuallyWithT.
func Task(rdb redis.UniversalClient, queue, id string) (*asynq.TaskInfo, error) {
	return asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(queue, id)
}
