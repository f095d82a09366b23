// Package worker runs label jobs: it takes them from asynq, calls Flex
// Forward's POST /labels with the job's own idempotency key, and acts on the
// single classification flexapi.Classify gives:
//
//   - created: record the label (its document URL is then pending for the
//     fleet's batched fetch), done;
//   - transient: retry with exponential backoff and full jitter;
//   - rate-limited (429): pause the whole fleet for Retry-After and retry
//     without consuming an attempt;
//   - permanent (401/403, 400, 404, courier rejection, other 4xx): dead-letter
//     at once, after exactly one API call;
//   - attempts exhausted: dead-letter with reason retries_exhausted.
//
// One function decides among these (retryPolicy.decide, in policy.go), from
// the classification and asynq's count of failed attempts; the handler only
// carries the decision out and maps it onto asynq (SkipRetry for a dead
// letter, RetryDelayFunc for when, IsFailure false for a wait).
//
// Every API call first takes a slot of the fleet-wide rate budget (Budget),
// shared through Redis by every worker process; waiting for it is never a
// failed attempt. The worker owns no signals: its caller calls Start and
// Shutdown.
//
// Jobs run in two lanes (lanes.go), interactive and bulk, each asynq
// servers of its own; a lane grows while its slots are all in API calls,
// so that at any API latency either lane alone has enough calls in flight
// to use the budget (issue 16). At shutdown, jobs still waiting for the
// budget are handed back at once.
//
// The worker records what it decided (the attempt with the slot, a failure,
// the label, the dead letter, document URLs) through internal/store, on the
// store of the queue it is given (Config.Queue's Redis client and options):
// that bookkeeping is no part of package queue's API. With webhooks on, the
// same writes record the outcomes' events (issue 15); the worker's one
// addition is a sweeper (sweep.go) that sends label.completed for labels
// whose document URL did not come within Config.DocumentWait.
//
// Document URLs are fetched for the whole fleet (urls.go, issue 16): the
// labels waiting for theirs are in Redis, and every worker's fetch loop
// competes for the turn of the next due batch of up to 100, so a label
// costs about 1.02 calls however many workers there are, and a killed
// worker loses no URL.
//
// With Config.Tracking on, a created label is also followed (tracking.go):
// its first tracking check is scheduled with the label, and a small pool of
// pollers, sized from the budget and the latency observed, polls
// GET /tracking/{id} on the cadence of the API's tracking guide with budget
// slots no label caller waits for (Budget.takeIdle), until Delivered,
// Cancelled or the age limit.
package worker
