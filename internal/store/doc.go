// Package store is flexlabel's Redis layer: the one place that knows the
// key layout (fl:<ns>:k:<key> records, the dead-letter hash and indexes, the
// failure histories, the budget's keys) and asynq's (asynq:{queue}:…, and
// the task encoding in message.go, checked against asynq's Inspector by a
// test in package queue), and holds every Lua script (scripts.go, slot.go).
//
// Two packages build on it. Package queue, the public API, enqueues
// (Enqueue runs the enqueue script for a batch in one pipelined round trip),
// reports status and runs the dead-letter operations on top of List, Get,
// Count, Keys, Redrive, Discard and NewKeyLine here. Package worker does its
// bookkeeping here — TakeSlot and Pause (the fleet budget), Fail,
// FailAttempt, Complete, DeadLetter and SetURLs, and the fleet's document
// fetch (docs.go: DocumentTurn, ClaimDocuments, RetryDocuments) — which no public package
// offers: being internal, this package is reachable from inside the module
// only, so an importer of queue (the HTTP handler included) cannot write a
// job's outcome.
//
// Webhook events (issue 15; events.go) are written by the same scripts that
// record the outcomes causing them — Complete's wait for the document URL,
// SetURLs, DeadLetter, Redrive, Discard, and SweepDocumentWaits, which the
// worker runs for labels whose URL is late — when fl:<ns>:hook:on exists:
// an event hash and its id on the pending list (HookPendingKey), read back
// as the receiver's envelope with Event (EventAbout names the account too).
// Every account's events are the fleet's: on the namespace's own keys,
// whatever the store's account (events.go says how they stay apart).
//
// Durable acknowledgements (issue 18; durable.go): with Options.MinReplicas
// set, the writes that acknowledge something — Enqueue, Redrive, Discard,
// NewKeyLine's new key, and the worker's Complete, DeadLetter, SetURLs,
// SweepDocumentWaits and FinishTracking (it records tracking.updated) —
// end their pipeline with a barrier SET and WAIT on the same connection (runPipelined's acker; Store.run for single scripts), and
// fail with a *ReplicaError (ErrTooFewReplicas) when too few replicas have
// them in time. Every such write is idempotent, so callers retry it.
//
// Tracking (issue 16; tracking.go): Complete schedules a followed label's
// first check (Options.Tracking), and the worker's poller claims due checks
// with ClaimTracking and writes each outcome — tracking, next check,
// counts by tag, tracking.updated — with FinishTracking, in one script.
//
// The types both sides show (Lane, Outcome, State, JobStatus, Label,
// Reason, DeadLetter, …) are defined here, with the Redis encoding they are
// read from; queue re-exports them with aliases. Pipelines of a script go
// through runPipelined (pipeline.go), the one recovery from NOSCRIPT; single
// calls use Script.Run. Errors keep the "queue:" prefix they had before the
// split, since commands print them.
package store
