package queue

import "github.com/flexlabel/flexlabel/internal/store"

// The types below are the records, dead letters and answers the store keeps
// (package internal/store, which owns their Redis encoding); the queue's API
// shows them under these names.

// Lane picks the queue a job runs on: interactive jobs (order systems) are
// served before bulk runs.
type Lane = store.Lane

// Lanes.
const (
	Interactive = store.Interactive
	Bulk        = store.Bulk
)

// Outcome is what Enqueue did with one request.
type Outcome = store.Outcome

// Enqueue outcomes.
const (
	Enqueued  = store.Enqueued  // a new job
	Duplicate = store.Duplicate // same key, same request: nothing new
	Conflict  = store.Conflict  // same key, different request: nothing changed
	Invalid   = store.Invalid   // refused by decoding or validation: nothing written
	Dead      = store.Dead      // same key and request are in the dead-letter queue
)

// State is where a job is.
type State = store.State

// Job states.
const (
	StatePending   = store.StatePending
	StateScheduled = store.StateScheduled
	StateActive    = store.StateActive
	StateRetry     = store.StateRetry
	StateCompleted = store.StateCompleted
	StateDead      = store.StateDead
	StateUnknown   = store.StateUnknown
)

// JobStatus is the answer of Status for one key; its JSON is the contract of
// `flexlabel status --json` and GET /v1/labels/{key}.
type JobStatus = store.JobStatus

// Label is the created label as status reports it.
type Label = store.Label

// DeadLetterInfo is why a job is dead.
type DeadLetterInfo = store.DeadLetterInfo

// Reason is why a job was dead-lettered; a Reason names a Redis index, so
// only the values of Reasons exist.
type Reason = store.Reason

// Dead-letter reasons: flexapi's permanent reasons plus retries_exhausted.
const (
	ReasonAuth             = store.ReasonAuth
	ReasonInvalid          = store.ReasonInvalid
	ReasonNotFound         = store.ReasonNotFound
	ReasonCourierRejected  = store.ReasonCourierRejected
	ReasonRejected         = store.ReasonRejected
	ReasonRetriesExhausted = store.ReasonRetriesExhausted
)

// Reasons lists every dead-letter reason, in the order front ends show them.
var Reasons = store.Reasons

// DeadLetter is one entry of the dead-letter queue: the original request and
// why it can never succeed as it is.
type DeadLetter = store.DeadLetter

// FailedAttempt is one failed API call of a job.
type FailedAttempt = store.FailedAttempt

// ListEntry is one line of `flexlabel dlq list`.
type ListEntry = store.ListEntry

// ListOptions select a page of dead letters, oldest failure first, and
// filter them by reason, key prefix, queue and failure time.
type ListOptions = store.ListOptions

// Counts is how many label jobs are where (Queue.Counts).
type Counts = store.Counts

// NewKey is a dead letter's request exported under a new key (NewKeyLine).
type NewKey = store.NewKey

// OpCode is what a redrive or discard did to one key; callers switch on it.
type OpCode = store.OpCode

// Redrive and discard results.
const (
	OpRedriven  = store.OpRedriven  // the job is back on its queue under the same key
	OpDiscarded = store.OpDiscarded // the dead letter is gone for good; its key is free
	OpNotDead   = store.OpNotDead   // the key is not in the dead-letter queue
	OpChanged   = store.OpChanged   // the dead letter changed meanwhile; nothing done, try again
)

// HistoryLimit is how many failed attempts a job's history keeps: the
// latest ones.
const HistoryLimit = store.HistoryLimit

// DeadLetterField is the top-level field `dlq export` adds to each line; the
// enqueue decoders strip it before the strict API decoding, so exported lines
// enqueue as they are.
const DeadLetterField = store.DeadLetterField

// MaxKeyLen is the longest idempotencyKey flexlabel accepts, in characters:
// flexlabel's own bound, not a rule of the Flex Forward API
// (docs/FLEXFORWARD_API.md says which rules are ours).
const MaxKeyLen = store.MaxKeyLen

// DefaultMaxRetry is the default of Options.MaxRetry, and so of the worker's
// and of FLEXLABEL_MAX_RETRY.
const DefaultMaxRetry = store.DefaultMaxRetry

// Errors of the dead-letter operations; callers use errors.Is.
var (
	// ErrNotFound: the key is not in the dead-letter queue (Get, NewKeyLine).
	ErrNotFound = store.ErrNotFound
	// ErrBadCursor: a cursor List did not issue.
	ErrBadCursor = store.ErrBadCursor
	// ErrNewKeyReason: NewKeyLine of a dead letter whose reason is not
	// courier_rejected.
	ErrNewKeyReason = store.ErrNewKeyReason
)
