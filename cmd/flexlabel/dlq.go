package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/queue"
)

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Operate the dead-letter queue: list, show, redrive, discard, export",
	}
	cmd.AddCommand(a.dlqListCmd(), a.dlqShowCmd(), a.dlqActCmd("redrive"), a.dlqActCmd("discard"), a.dlqExportCmd())
	return cmd
}

func checkReason(r string) error {
	if r != "" && !queue.ValidReason(r) {
		return fmt.Errorf("--reason: unknown reason %q (want one of %v)", r, queue.Reasons)
	}
	return nil
}

func (a *app) dlqListCmd() *cobra.Command {
	var (
		reason string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list [--reason R] [--limit N] [--json]",
		Short: "List dead letters, oldest failure first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkReason(reason); err != nil {
				return err
			}
			if limit < 1 {
				return fmt.Errorf("--limit: must be at least 1, got %d", limit)
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			page, _, err := d.q.List(cmd.Context(), queue.ListOptions{Reason: reason, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				out := newJSONLines(a.stdout)
				for i := range page {
					if err := out.write(page[i].Entry()); err != nil {
						return err
					}
				}
				return nil
			}
			total, err := d.q.Count(cmd.Context(), reason)
			if err != nil {
				return err
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "KEY\tREASON\tHTTP\tATTEMPTS\tFAILED AT\tMESSAGE")
			for i := range page {
				e := page[i].Entry()
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", e.IdempotencyKey, e.Reason, e.HTTPStatus, e.Attempts, e.FailedAt.Format(time.RFC3339), e.Message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d of %d dead letter(s)\n", len(page), total)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "only this reason: "+fmt.Sprint(queue.Reasons))
	cmd.Flags().IntVar(&limit, "limit", 100, "at most N entries")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func (a *app) dlqShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show KEY",
		Short: "Show one dead letter with its original request (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			dl, err := d.q.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if dl == nil {
				return &refusedError{msg: fmt.Sprintf("%q is not in the dead-letter queue", args[0])}
			}
			return newJSONLines(a.stdout).write(dl)
		},
	}
}

func (a *app) dlqActCmd(verb string) *cobra.Command {
	var (
		all    bool
		reason string
		asJSON bool
	)
	short := "Put dead letters back on their queue under the same key"
	if verb == "discard" {
		short = "Drop dead letters for good (their keys become free)"
	}
	cmd := &cobra.Command{
		Use:   verb + " (KEY...|--all|--reason R)",
		Short: short,
		RunE: func(cmd *cobra.Command, keys []string) error {
			if err := checkReason(reason); err != nil {
				return err
			}
			sel := 0
			for _, b := range []bool{len(keys) > 0, all, reason != ""} {
				if b {
					sel++
				}
			}
			if sel != 1 {
				return errors.New(verb + ": name keys, or --all, or --reason R (exactly one)")
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if len(keys) == 0 {
				if keys, err = d.q.Keys(cmd.Context(), reason); err != nil {
					return err
				}
			}
			act := d.q.Redrive
			if verb == "discard" {
				act = d.q.Discard
			}
			done, failed := 0, 0
			out := newJSONLines(a.stdout)
			for len(keys) > 0 {
				n := min(len(keys), 500)
				res, err := act(cmd.Context(), keys[:n]...)
				for _, r := range res {
					if r.Done {
						done++
					} else {
						failed++
					}
					if asJSON {
						if err := out.write(r); err != nil {
							return err
						}
					} else if !r.Done {
						fmt.Fprintf(a.stderr, "%s: %s\n", r.IdempotencyKey, r.Error)
					}
				}
				if err != nil {
					return err
				}
				keys = keys[n:]
			}
			if !asJSON {
				past := map[string]string{"redrive": "redriven", "discard": "discarded"}[verb]
				fmt.Fprintf(a.stdout, "%s %d dead letter(s)\n", past, done)
			}
			if failed > 0 {
				return &refusedError{msg: strconv.Itoa(failed) + " key(s) not in the dead-letter queue"}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every dead letter")
	cmd.Flags().StringVar(&reason, "reason", "", "every dead letter of this reason")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON result per key")
	return cmd
}

func (a *app) dlqExportCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "export [--reason R]",
		Short: "Write dead letters as NDJSON that `flexlabel enqueue` accepts as it is",
		Long: "Each line is the original request with the failure alongside in \"" + queue.DeadLetterField + "\",\n" +
			"a field enqueue ignores; fix the lines and pipe them back into `flexlabel enqueue`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkReason(reason); err != nil {
				return err
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			return d.q.Each(cmd.Context(), reason, func(dl *queue.DeadLetter) error {
				line, err := dl.ExportLine()
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(append(line, '\n'))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "only this reason")
	return cmd
}
