package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
)

func TestRetryPolicy_Decide(t *testing.T) {
	t.Parallel()
	p := retryPolicy{maxRetry: 3, base: 100 * time.Millisecond, max: time.Second}
	api := func(c flexapi.Class, reason string) flexapi.Decision {
		return flexapi.Decision{Class: c, Reason: reason}
	}
	cases := []struct {
		name    string
		in      outcome
		want    action
		reason  queue.Reason
		delay   time.Duration // exact for wait; the backoff ceiling for retry
		ceiling bool
	}{
		{"created", outcome{api: api(flexapi.Created, "")}, done, "", 0, false},
		{"created after failures", outcome{api: api(flexapi.Created, ""), failed: 9}, done, "", 0, false},
		{"transient, first failure", outcome{api: api(flexapi.Transient, "")}, retry, "", 100 * time.Millisecond, true},
		{"transient, backoff doubles", outcome{api: api(flexapi.Transient, ""), failed: 2}, retry, "", 400 * time.Millisecond, true},
		{"transient, exhausted", outcome{api: api(flexapi.Transient, ""), failed: 3}, deadLetter, queue.ReasonRetriesExhausted, 0, false},
		{"transient, beyond (headroom runs)", outcome{api: api(flexapi.Transient, ""), failed: 7}, deadLetter, queue.ReasonRetriesExhausted, 0, false},
		{"429 with Retry-After", outcome{api: flexapi.Decision{Class: flexapi.RateLimited, RetryAfter: 7 * time.Second}}, wait, "", 7 * time.Second, false},
		{"429 without Retry-After", outcome{api: api(flexapi.RateLimited, "")}, wait, "", time.Second, false},
		{"429 after exhausting retries still waits", outcome{api: api(flexapi.RateLimited, ""), failed: 3}, wait, "", time.Second, false},
		{"permanent auth", outcome{api: api(flexapi.Permanent, flexapi.ReasonAuth)}, deadLetter, queue.ReasonAuth, 0, false},
		{"permanent courier rejected", outcome{api: api(flexapi.Permanent, flexapi.ReasonCourierRejected), failed: 1}, deadLetter, queue.ReasonCourierRejected, 0, false},
		{"permanent invalid", outcome{api: api(flexapi.Permanent, flexapi.ReasonInvalid)}, deadLetter, queue.ReasonInvalid, 0, false},
		{"unrecorded created label", outcome{api: api(flexapi.Created, ""), unrecorded: true}, retry, "", 100 * time.Millisecond, true},
		{"unrecorded is not bound by maxRetry", outcome{api: api(flexapi.Permanent, flexapi.ReasonAuth), failed: 5, unrecorded: true}, retry, "", time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 50 { // the backoff is random: every draw within the ceiling
				got := p.decide(tc.in)
				require.Equal(t, tc.want, got.action)
				require.Equal(t, tc.reason, got.reason)
				if tc.ceiling {
					require.GreaterOrEqual(t, got.delay, time.Duration(0))
					require.LessOrEqual(t, got.delay, tc.delay)
				} else {
					require.Equal(t, tc.delay, got.delay)
				}
			}
		})
	}
}
