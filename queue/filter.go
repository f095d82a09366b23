package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Filter selects dead letters the way an operator asks for them: by key
// prefix, reason, queue and failure time. The console, the HTTP API and the
// CLI read it from their parameters with ParseFilter, and DeadLetters.Options
// turns it into the ListOptions the operations take. The zero Filter selects
// every dead letter.
type Filter struct {
	// KeyPrefix keeps the keys starting with it (a whole key is a prefix
	// of itself).
	KeyPrefix string
	// Reason keeps one reason; "" keeps every reason.
	Reason Reason
	// Lane is "" (both queues) or the name of a lane, "interactive" or
	// "bulk", as front ends spell it.
	Lane string
	// Since (inclusive) and Until (exclusive) bound the last failure time;
	// a zero time does not bound.
	Since, Until time.Time
}

// Empty reports whether f selects every dead letter.
func (f Filter) Empty() bool {
	return f.KeyPrefix == "" && f.Reason == "" && f.Lane == "" && f.Since.IsZero() && f.Until.IsZero()
}

// FilterParams are a front end's names of a filter's parameters (its query
// parameters or flags), which ParseFilter reads and names in its errors.
type FilterParams struct{ KeyPrefix, Reason, Queue, Since, Until string }

// timeLayouts are the failure times a filter accepts: RFC 3339, and what a
// browser's datetime-local input sends (read as UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// ParseFilter reads a filter from a front end's parameters: get returns the
// text of the parameter of a name ("" when not given), names says which
// names. Each bad parameter is an error naming it (joined with the others):
// a reason that is none of Reasons (wrapping ErrBadReason), a queue other
// than interactive or bulk, a time that is neither RFC 3339 nor
// 2026-01-31T14:00[:05] or 2026-01-31 in UTC. The key prefix is taken as
// it is: a front end trims it if its users type it.
func ParseFilter(names FilterParams, get func(name string) string) (Filter, error) {
	f := Filter{KeyPrefix: get(names.KeyPrefix), Lane: get(names.Queue)}
	var errs []error
	var err error
	if f.Reason, err = ParseReason(get(names.Reason)); err != nil {
		errs = append(errs, &reasonError{fmt.Sprintf("%s: unknown reason %q (want one of %s)",
			names.Reason, get(names.Reason), strings.Join(ReasonNames(), ", "))})
	}
	if f.Lane != "" && f.Lane != Interactive.String() && f.Lane != Bulk.String() {
		errs = append(errs, fmt.Errorf("%s: want %s or %s, got %q", names.Queue, Interactive, Bulk, f.Lane))
	}
	if f.Since, err = parseTime(names.Since, get(names.Since)); err != nil {
		errs = append(errs, err)
	}
	if f.Until, err = parseTime(names.Until, get(names.Until)); err != nil {
		errs = append(errs, err)
	}
	return f, errors.Join(errs...)
}

// reasonError names the parameter of a bad reason and is ErrBadReason.
type reasonError struct{ msg string }

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return ErrBadReason }

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: want a time like 2026-01-31T14:00 (UTC) or RFC 3339, got %q", name, s)
}

// Options is f as the operations of d take it (Limit and Cursor unset).
func (d *DeadLetters) Options(f Filter) ListOptions {
	o := ListOptions{Reason: f.Reason, KeyPrefix: f.KeyPrefix, Since: f.Since, Until: f.Until}
	switch f.Lane {
	case Interactive.String():
		o.Queue = d.st.Name(Interactive)
	case Bulk.String():
		o.Queue = d.st.Name(Bulk)
	}
	return o
}
