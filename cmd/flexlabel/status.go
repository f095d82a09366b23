package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json] KEY...",
		Short: "Show the state of label jobs by idempotency key",
		Args:  cobra.MinimumNArgs(1),
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
				return nil
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
					detail = s.DeadLetter.Reason + " (HTTP " + strconv.Itoa(s.DeadLetter.HTTPStatus) + "): " + s.DeadLetter.Message
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.IdempotencyKey, s.State, s.Attempts, label, tracking, detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per key")
	return cmd
}
