package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff is the one retry-delay policy: exponential from base, capped at
// max, with full jitter (a uniform draw in [0, min(max, base·2^n)]), where n
// is the number of failed attempts before this one.
func Backoff(n int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	ceil := max
	if n < 62 {
		if d := base << uint(n); d > 0 && d < max {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}
