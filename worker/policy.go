package worker

import (
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
)

// Defaults of the retry policy's delays, written only here (config's
// FLEXLABEL_RETRY_BASE and FLEXLABEL_RETRY_MAX default to them). The number
// of retries defaults to queue.DefaultMaxRetry, since each task carries it.
const (
	DefaultRetryBase = time.Second
	DefaultRetryMax  = 10 * time.Minute
)

// MaxRate is the highest rate budget accepted, in calls per second, by
// NewBudget and by config's FLEXLABEL_RATE_LIMIT. A Flex Forward account's
// budget is a few calls per second; a value above this is a typo.
const MaxRate = 10000

// action is what the handler does after an attempt.
type action int

const (
	done       action = iota // the outcome is recorded; nothing more to do
	retry                    // run again after delay; a failed attempt (counts toward maxRetry)
	wait                     // run again after delay; not a failed attempt (429, rate budget)
	deadLetter               // record the dead letter with reason; never run again
)

// outcome is what the retry policy decides on.
type outcome struct {
	// api is the attempt's result as flexapi.Classify gives it. A wait for
	// our own rate budget is RateLimited too: the call was never made.
	api flexapi.Decision
	// failed is the number of failed attempts before this one, as asynq
	// counts them (its retry count): waits are not failures. The job
	// record's attempt count also counts calls answered 429, so it is the
	// operator's number, not this one.
	failed int
	// unrecorded: the outcome was decided but Redis did not take its record.
	// The job runs again to record it (a created label is replayed by the
	// API); such runs are covered by store.RetryHeadroom, not maxRetry.
	unrecorded bool
}

// decision is the retry policy's answer.
type decision struct {
	action action
	delay  time.Duration // for retry and wait
	reason queue.Reason  // for deadLetter: a queue.Reason* / flexapi.Reason* value
}

// retryPolicy is the one place that decides, from an attempt's outcome and
// the number of failed attempts, whether a job is done, retried, waits or is
// dead-lettered, and when it runs again. The handler only carries the
// decision out and maps it onto asynq (SkipRetry, RetryDelayFunc,
// IsFailure).
type retryPolicy struct {
	maxRetry  int           // failed attempts retried; the next failure is retries_exhausted
	base, max time.Duration // Backoff's first ceiling and cap
}

func (p retryPolicy) decide(o outcome) decision {
	if o.unrecorded {
		return decision{action: retry, delay: p.backoff(o.failed)}
	}
	switch o.api.Class {
	case flexapi.Created:
		return decision{action: done}
	case flexapi.RateLimited:
		after := o.api.RetryAfter
		if after <= 0 {
			after = time.Second // the API gave no hint, or our own budget is unavailable
		}
		return decision{action: wait, delay: after}
	case flexapi.Transient:
		if o.failed >= p.maxRetry {
			return decision{action: deadLetter, reason: queue.ReasonRetriesExhausted}
		}
		return decision{action: retry, delay: p.backoff(o.failed)}
	default: // flexapi.Permanent
		return decision{action: deadLetter, reason: queue.Reason(o.api.Reason)}
	}
}

// backoff is the delay before the run after n failed attempts.
func (p retryPolicy) backoff(n int) time.Duration { return Backoff(n, p.base, p.max) }
