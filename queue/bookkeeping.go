package queue

import (
	"context"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
)

// TEMPORARY: moving to internal/store.

type Job = store.Job
type Failure = store.Failure
type SlotRequest = store.SlotRequest
type Slot = store.Slot

const (
	BlockedPause       = store.BlockedPause
	BlockedInteractive = store.BlockedInteractive
	BlockedBudget      = store.BlockedBudget
	TaskType           = store.TaskType
	RetryHeadroom      = store.RetryHeadroom
	MaxHistoryMessage  = store.MaxHistoryMessage
)

func DecodeJob(key, queueName string, payload []byte) (*Job, error) {
	return store.DecodeJob(key, queueName, payload)
}
func Canonical(req *flexapi.LabelRequest) ([]byte, string, error) { return store.Canonical(req) }
func DeriveKey(key string, n int) string                          { return store.DeriveKey(key, n) }

func (q *Queue) Begin(ctx context.Context, j *Job) (State, int, error) { return q.st.Begin(ctx, j) }
func (q *Queue) SetURLs(ctx context.Context, urls map[string]string) error {
	return q.st.SetURLs(ctx, urls)
}
func (q *Queue) Fail(ctx context.Context, j *Job, msg string) error { return q.st.Fail(ctx, j, msg) }
func (q *Queue) FailAttempt(ctx context.Context, j *Job, f Failure) error {
	return q.st.FailAttempt(ctx, j, f)
}
func (q *Queue) Complete(ctx context.Context, j *Job, l *flexapi.Label) error {
	return q.st.Complete(ctx, j, l)
}
func (q *Queue) SetURL(ctx context.Context, key, url string) error { return q.st.SetURL(ctx, key, url) }
func (q *Queue) DeadLetter(ctx context.Context, j *Job, f Failure) error {
	return q.st.DeadLetter(ctx, j, f)
}
func (q *Queue) TakeSlot(ctx context.Context, r SlotRequest) (Slot, error) {
	return q.st.TakeSlot(ctx, r)
}
func (q *Queue) Pause(ctx context.Context, d time.Duration) error { return q.st.Pause(ctx, d) }
