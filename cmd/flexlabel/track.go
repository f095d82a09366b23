package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/queue"
)

// trackAnswer is `flexlabel track --json`: the key's tracking, the same
// object as status's `tracking` (null while not polled yet), and when the
// next check is due on the worker's schedule (null when none is: not
// followed, or no longer).
type trackAnswer struct {
	IdempotencyKey string          `json:"idempotencyKey"`
	Tracking       *queue.Tracking `json:"tracking"`
	NextCheckAt    *time.Time      `json:"nextCheckAt"`
}

func (a *app) trackCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "track [--json] KEY",
		Short: "Show where a label's shipment is: its tracking as the worker last polled it",
		Long: `Show a completed label's tracking as the worker last polled it (GET /tracking/{id} of
Flex Forward, on the tracking guide's cadence): tag, subtag, tracking number, when it was checked
and when it is checked next, then the checkpoints, newest first. A label not polled yet says so,
with the time its first check is due.
With --json, one object: {"idempotencyKey","tracking","nextCheckAt"}; tracking is the object of
status --json (null while not polled yet).
Exit 0 for a known key, 1 for an unknown one (as status), 2 on operational errors.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key := args[0]
			d, err := a.openQueue(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			sts, err := d.q.Status(ctx, key)
			if err != nil {
				return err
			}
			st := sts[0]
			if st.State == queue.StateUnknown {
				return &refusedError{msg: fmt.Sprintf("%q: unknown key (never enqueued here, or its record expired after the retention)", key)}
			}
			due, err := d.q.TrackingDue(ctx, key)
			if err != nil {
				return err
			}
			ans := trackAnswer{IdempotencyKey: key, Tracking: st.Tracking, NextCheckAt: due}
			if ans.NextCheckAt == nil && st.Tracking != nil {
				ans.NextCheckAt = st.Tracking.NextCheckAt
			}
			if asJSON {
				return newJSONLines(a.stdout).write(ans)
			}
			return writeTracking(a.stdout, st, ans)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"idempotencyKey","tracking","nextCheckAt"} as one JSON object`)
	a.accountFlag(cmd, accountRead, false)
	return cmd
}

// writeTracking renders a key's tracking for a person.
func writeTracking(w io.Writer, st queue.JobStatus, ans trackAnswer) error {
	const ts = "2006-01-02 15:04:05Z07:00"
	tr := ans.Tracking
	if tr == nil {
		_, err := fmt.Fprintf(w, "%s: not polled yet; %s\n", cell(ans.IdempotencyKey), notPolled(st, ans.NextCheckAt, ts))
		return err
	}
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Key", cell(ans.IdempotencyKey))
	row("Tag", cell(tr.Tag))
	row("Subtag", orDash(cell(tr.SubtagMessage))+subtagCode(tr.Subtag))
	row("Tracking number", orDash(cell(tr.TrackingNumber)))
	row("Checked at", tr.CheckedAt.UTC().Format(ts))
	if ans.NextCheckAt != nil {
		row("Next check at", ans.NextCheckAt.UTC().Format(ts))
	} else {
		row("Next check at", "- (no longer followed)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(tr.Checkpoints) == 0 {
		_, err := fmt.Fprintln(w, "\nCheckpoints: none yet")
		return err
	}
	fmt.Fprintln(w, "\nCheckpoints (newest first):")
	tw = newTable(w)
	fmt.Fprintln(tw, "  TIME\tPLACE\tTAG\tMESSAGE")
	for _, cp := range tr.Checkpoints {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", orDash(cell(cp.CheckpointTime)), orDash(place(cp.City, cp.State, cp.CountryRegion, cp.Location)),
			orDash(cell(cp.Tag)), orDash(cell(cp.Message)))
	}
	return tw.Flush()
}

// notPolled says when a key not polled yet is checked first, or why no
// check is scheduled.
func notPolled(st queue.JobStatus, due *time.Time, ts string) string {
	switch {
	case due != nil:
		return "first check due at " + due.UTC().Format(ts)
	case st.State != queue.StateCompleted:
		return fmt.Sprintf("no check scheduled: the label is not created (state %s); a completed label is followed", st.State)
	default:
		return "no check scheduled: tracking does not follow this key (FLEXLABEL_TRACKING, FLEXLABEL_TRACKING_KEY_PREFIX, FLEXLABEL_TRACKING_MAX_AGE)"
	}
}

func subtagCode(s string) string {
	if s = cell(s); s == "" {
		return ""
	}
	return " (" + s + ")"
}

// place is a checkpoint's city, state and country, or its free-form
// location when it gives none of those.
func place(city, state, country string, location *string) string {
	var parts []string
	for _, p := range []string{city, state, country} {
		if p = cell(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 && location != nil {
		return cell(*location)
	}
	return strings.Join(parts, ", ")
}

// cell is text the API or a producer wrote, fit for one table cell of a
// terminal: on one line, with no control characters (no escape sequence
// reaches the terminal, no tab breaks the columns).
func cell(s string) string {
	return oneLine(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
