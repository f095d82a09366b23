// Package queue is flexlabel's producer and operations API: enqueue label
// jobs exactly once per idempotencyKey, report their status, and keep the
// durable dead-letter queue (list, show, redrive, discard, export).
//
// Jobs run on asynq. asynq's TaskID is unique only per queue and only while
// the task hash exists, so it cannot be the idempotency record by itself:
// flexlabel keeps its own record per key (fl:<ns>:k:<key>) holding the
// canonical request hash, the queue, the state, and — once done — the label or
// the dead letter. One Lua script checks that record and writes both the
// record and asynq's task (hash + pending list) in a single atomic step, so
// 20 producers racing on one key yield exactly one job, across every queue of
// the namespace, and no crash can leave a record without its task.
//
// Every enqueue takes one path: ParseLine decodes and validates a producer
// line once into a Parsed (the job in its canonical form, or the refusal),
// and EnqueueLines runs the script for a batch of them in one pipelined
// round trip, adding the job's state and label to duplicates when asked
// (WithJobState). Enqueue, EnqueueLine and EnqueueMany, POST /v1/labels and
// its batch (package httpapi) and bulk runs (package bulkrun) are all that
// path; a Go caller's raw *flexapi.LabelRequest is validated on the way in.
//
// Redis replicates asynchronously, so an enqueue the primary acknowledged
// can be lost in a failover. Options.MinReplicas (FLEXLABEL_REDIS_MIN_REPLICAS)
// makes every acknowledging write — each EnqueueLines batch (one WAIT for
// the whole pipeline), a redrive, a discard — wait until that many replicas
// have it; too few in time is an error wrapping ErrTooFewReplicas, which
// front ends report as they report an unreachable Redis, and which is safe
// to retry: the retry answers duplicate, or enqueues what was lost.
//
// The Redis side of all this — the key layout, the Lua scripts, asynq's task
// encoding (a test checks it against asynq's own Inspector) and the worker's
// bookkeeping — is package internal/store, which this package and the
// worker share; this package is what an order system and an operator call.
// The types it shows (State, JobStatus, DeadLetter, Reason, …) are the
// store's, under the names here.
//
// The dead-letter queue is uncapped: entries live in a hash (fl:<ns>:dlq) with
// lexicographically ordered indexes for all entries and per reason, so a page
// of a 100,000-entry queue costs one ZRANGEBYLEX and one HMGET, as does one
// filtered by reason and failure time (a range of an index); a filter by key
// prefix or queue (ListOptions, CountMatching, KeysMatching) walks that
// range, since the indexes are ordered by time. asynq's archive
// (trimmed at 10,000 tasks and 90 days) only mirrors it for the queue UI.
//
// Each dead letter carries its job's failure history (the last HistoryLimit
// failed attempts). Only failures write it: a failing job keeps a short list
// beside its record, which dead-lettering moves into the entry, a redrive
// puts back, and completing drops. A courier_rejected dead letter can hand its
// request to a new key (NewKeyLine), which it records as SupersededBy.
//
// The dead-letter operations are grouped on Queue.DeadLetters and answer in
// types, so front ends (the CLI, the HTTP API, the UI) parse, call one
// operation and render: a Reason comes
// from ParseReason, the one check of a reason; a key that is not dead is
// ErrNotFound, a reason that is none ErrBadReason, a cursor List did not
// issue ErrBadCursor; Redrive and Discard give each key an OpResult whose
// OpCode says redriven, discarded, not dead, or changed meanwhile.
// RedriveEach and DiscardEach stream those results for a whole reason
// (Keys), so no caller splits keys into chunks of its own. A selection by key
// prefix, reason, queue and failure time is a Filter, which ParseFilter reads
// from each front end's parameters (naming them in its errors) and
// DeadLetters.Options turns into the ListOptions of CountMatching,
// KeysMatching, EachMatching and ExportMatching.
package queue
