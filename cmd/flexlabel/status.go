package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/queue"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json] KEY...",
		Short: "Show the state of label jobs by idempotency key",
		Long: `Show the state of label jobs by idempotency key: a table, or one JSON object per key.
A completed label shows its document URL as soon as the worker has stored it.
Exit 0 if every key is known, 1 if any is unknown (as GET /v1/labels/{key} answers 404),
2 on operational errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, keys []string) error {
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			sts, err := d.q.Status(cmd.Context(), keys...)
			if err != nil {
				return err
			}
			if asJSON {
				out := newJSONLines(a.stdout)
				for _, s := range sts {
					if err := out.write(s); err != nil {
						return err
					}
				}
				return unknownKeys(sts)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "KEY\tSTATE\tATTEMPTS\tLABEL\tTRACKING\tDETAIL")
			for _, s := range sts {
				label, tracking, detail := "-", "-", strOr(s.LastError, "")
				if s.Label != nil {
					label = s.Label.ID
					tracking = strOr(s.Label.CourierTrackingNumber, "-")
					detail = s.Label.URL
				}
				if s.DeadLetter != nil {
					detail = string(s.DeadLetter.Reason) + " (HTTP " + strconv.Itoa(s.DeadLetter.HTTPStatus) + "): " + s.DeadLetter.Message
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.IdempotencyKey, s.State, s.Attempts, label, tracking, detail)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return unknownKeys(sts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per key")
	a.accountFlag(cmd, accountRead, false)
	return cmd
}

// unknownKeys is the refusal (exit 1) of a status that names keys nobody
// enqueued (or whose record has expired), after the answer was printed.
func unknownKeys(sts []queue.JobStatus) error {
	var unknown []string
	for _, s := range sts {
		if s.State == queue.StateUnknown {
			unknown = append(unknown, s.IdempotencyKey)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return &refusedError{msg: fmt.Sprintf("%d key(s) unknown: %s", len(unknown), firstKeys(unknown, 20))}
}
