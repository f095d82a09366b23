package queue

import "context"

// Status reports each key's state in one pipelined round trip, in order.
// Unknown keys have state unknown.
func (q *Queue) Status(ctx context.Context, keys ...string) ([]JobStatus, error) {
	return q.st.Status(ctx, keys...)
}

// States returns just the state of each key, cheaply, for waiting on many keys.
func (q *Queue) States(ctx context.Context, keys []string) ([]State, error) {
	return q.st.States(ctx, keys)
}

// URLs returns the document URL stored for each key, in order, or "" where
// none is known yet: the worker fetches URLs in batches after it records a
// label, so a completed label may lack one for a few seconds.
func (q *Queue) URLs(ctx context.Context, keys []string) ([]string, error) {
	return q.st.URLs(ctx, keys)
}

// PendingDocuments counts the completed labels whose document URL the
// fleet's workers are still to fetch (pending, or in a fetch in flight).
func (q *Queue) PendingDocuments(ctx context.Context) (int64, error) {
	return q.st.PendingDocuments(ctx)
}

// Counts returns how many label jobs are pending, active, scheduled and
// retrying on both lanes, how many completed (asynq's all-time count of
// successful runs), and the dead letters, by reason: O(1) commands in one
// round trip, cheap enough to poll.
func (q *Queue) Counts(ctx context.Context) (Counts, error) { return q.st.Counts(ctx) }

// History returns the failed attempts of a live job (pending or retrying
// after failing), oldest first, the last HistoryLimit; empty for a job that
// never failed or has completed. A dead job's history is its dead letter's
// (DeadLetters.Get).
func (q *Queue) History(ctx context.Context, key string) ([]FailedAttempt, error) {
	return q.st.History(ctx, key)
}
