package queue

import (
	"context"
	"errors"
	"fmt"
)

// ExportSummary says what an Export wrote and what it left out.
type ExportSummary struct {
	// Exported is how many lines were handed to fn.
	Exported int
	// AlreadyEnqueued (newKeys only) counts the dead letters left out
	// because the new key an earlier export gave them is already enqueued:
	// their request was sent again (`dlq show KEY` names the new key).
	AlreadyEnqueued int
	// Gone (newKeys only) counts the dead letters redriven or discarded
	// between the listing and their turn.
	Gone int
}

// CheckExport is Export's check of its arguments, made before any I/O:
// newKeys needs ReasonCourierRejected (an error wrapping ErrNewKeyReason
// otherwise). Front ends call it while parsing their input, as ParseReason,
// so bad input is refused before connecting.
func CheckExport(reason Reason, newKeys bool) error {
	if newKeys && reason != ReasonCourierRejected {
		return fmt.Errorf("%w (asked for reason %q)", ErrNewKeyReason, reason)
	}
	return nil
}

// Export hands fn the export line of every dead letter of a reason (or all,
// reason ""), oldest first, each without its newline: the request as
// `flexlabel enqueue` accepts it, with the failure in DeadLetterField. With
// newKeys (reason courier_rejected only, see CheckExport) each line is the
// request under the new key NewKeyLine gives it, recorded as SupersededBy,
// and dead letters whose new key is already enqueued are left out. This is
// what `flexlabel dlq export` prints and POST /v1/dead-letters/export
// streams.
//
// It stops at the first error of Redis or of fn, returning the summary of
// what was done before it.
func (d *DeadLetters) Export(ctx context.Context, reason Reason, newKeys bool, fn func(line []byte) error) (ExportSummary, error) {
	return d.ExportMatching(ctx, ListOptions{Reason: reason}, newKeys, fn)
}

// ExportMatching is Export of the dead letters o's filter selects (as
// EachMatching): newKeys needs o.Reason courier_rejected.
func (d *DeadLetters) ExportMatching(ctx context.Context, o ListOptions, newKeys bool, fn func(line []byte) error) (ExportSummary, error) {
	var sum ExportSummary
	if err := CheckExport(o.Reason, newKeys); err != nil {
		return sum, err
	}
	err := d.EachMatching(ctx, o, func(dl *DeadLetter) error {
		var line []byte
		if newKeys {
			nk, err := d.NewKeyLine(ctx, dl.IdempotencyKey)
			switch {
			case errors.Is(err, ErrNotFound):
				sum.Gone++
				return nil
			case err != nil:
				return err
			case nk.Enqueued:
				sum.AlreadyEnqueued++
				return nil
			}
			line = nk.Line
		} else {
			var err error
			if line, err = dl.ExportLine(); err != nil {
				return err
			}
		}
		if err := fn(line); err != nil {
			return err
		}
		sum.Exported++
		return nil
	})
	return sum, err
}
