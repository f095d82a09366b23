package flexapi

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var errorsAs = errors.As

// ErrNotFound is matched (errors.Is) by an *APIError with status 404.
var ErrNotFound = errors.New("flexapi: not found")

// APIError is a non-2xx answer from the API in its standard or validation shape.
type APIError struct {
	StatusCode int
	Message    string   // the body's "error" string
	Details    []Detail // set for validation failures (400)
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flex forward API: HTTP %d", e.StatusCode)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		if d.Field != "" {
			b.WriteString(d.Field + ": ")
		}
		b.WriteString(d.Message)
		if i == len(e.Details)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == 404
}

// RateLimitError is a 429: the call was not made; wait RetryAfter and call again.
type RateLimitError struct {
	StatusCode int
	Message    string
	RetryAfter time.Duration // 0 when the API gave no hint
}

func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("flex forward API: HTTP %d rate limited", e.StatusCode)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return s
}

// CourierRejectedError is a label the courier refused (status "failed").
// The API persists it: a replay of the key returns the same failure, so it is
// permanent for that key. It arrives as 502, or as 200/201.
type CourierRejectedError struct {
	StatusCode int
	Label      *Label
}

func (e *CourierRejectedError) Error() string {
	msg := "courier rejected the label"
	if e.Label != nil && e.Label.Error != nil {
		msg += ": " + e.Label.Error.Code + " " + e.Label.Error.Message
	}
	return fmt.Sprintf("flex forward API: HTTP %d %s", e.StatusCode, msg)
}

// NetworkError is a call whose outcome is unknown: the connection failed,
// was dropped, or timed out before a full answer arrived. Retrying with the
// same idempotency key resolves it.
type NetworkError struct {
	Op      string // "POST /labels"
	Timeout bool
	Err     error
}

func (e *NetworkError) Error() string {
	kind := "network error"
	if e.Timeout {
		kind = "timeout"
	}
	return fmt.Sprintf("flex forward API: %s %s: %v", e.Op, kind, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }
