package flexapi

import (
	"errors"
	"time"
)

// Class is what the caller should do with the outcome of a CreateLabel call.
type Class int

const (
	// Created: the label exists; nothing more to do.
	Created Class = iota
	// Transient: retry later with the same idempotency key.
	Transient
	// RateLimited: wait (RetryAfter) and call again; not a failure.
	RateLimited
	// Permanent: no retry can succeed; Reason says why.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Created:
		return "created"
	case Transient:
		return "transient"
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Reasons for a Permanent outcome; they are also the dead-letter reasons.
const (
	ReasonAuth            = "auth"             // 401, 403
	ReasonInvalid         = "invalid"          // 400
	ReasonNotFound        = "not_found"        // 404
	ReasonCourierRejected = "courier_rejected" // label with status "failed"
	ReasonRejected        = "rejected"         // any other 4xx
)

// Decision is the one classification of a CreateLabel outcome.
type Decision struct {
	Class      Class
	Reason     string        // set when Class is Permanent
	StatusCode int           // HTTP status, 0 when no answer arrived
	RetryAfter time.Duration // set when Class is RateLimited and the API said how long
}

// Classify turns the result of CreateLabel into the single decision the worker
// acts on: retry, wait, or dead-letter. It is the only place that rule lives.
// It relies on CreateLabel's contract: a label the courier rejected comes
// with a *CourierRejectedError (the client alone decides that), so a nil
// error is a created label.
func Classify(label *Label, err error) Decision {
	if err == nil {
		status := 201
		if label != nil && label.Replayed {
			status = 200
		}
		return Decision{Class: Created, StatusCode: status}
	}
	var (
		cr *CourierRejectedError
		rl *RateLimitError
		ae *APIError
		ve *ValidationError
	)
	switch {
	case errors.As(err, &cr):
		return Decision{Class: Permanent, Reason: ReasonCourierRejected, StatusCode: cr.StatusCode}
	case errors.As(err, &rl):
		return Decision{Class: RateLimited, StatusCode: rl.StatusCode, RetryAfter: rl.RetryAfter}
	case errors.As(err, &ae):
		d := Decision{StatusCode: ae.StatusCode}
		switch s := ae.StatusCode; {
		case s == 401 || s == 403:
			d.Class, d.Reason = Permanent, ReasonAuth
		case s == 400:
			d.Class, d.Reason = Permanent, ReasonInvalid
		case s == 404:
			d.Class, d.Reason = Permanent, ReasonNotFound
		case s == 408:
			d.Class = Transient // request timeout: the outcome is unknown
		case s >= 400 && s < 500:
			d.Class, d.Reason = Permanent, ReasonRejected
		default:
			d.Class = Transient // 5xx and anything unexpected
		}
		return d
	case errors.As(err, &ve):
		// Refused before sending: the request can never succeed as it is.
		return Decision{Class: Permanent, Reason: ReasonInvalid}
	}
	// A *NetworkError, an ended context, anything else: the outcome is
	// unknown, and the same idempotency key resolves it.
	return Decision{Class: Transient}
}
