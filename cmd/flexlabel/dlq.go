package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/flexapi"
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

// parseReason reads --reason ("" for every reason).
func parseReason(s string) (queue.Reason, error) {
	r, err := queue.ParseReason(s)
	if err != nil {
		return "", fmt.Errorf("--reason: unknown reason %q (want one of %v)", s, queue.Reasons)
	}
	return r, nil
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
			reason, err := parseReason(reason)
			if err != nil {
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
			page, _, err := d.q.DeadLetters().List(cmd.Context(), queue.ListOptions{Reason: reason, Limit: limit})
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
			total, err := d.q.DeadLetters().Count(cmd.Context(), reason)
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
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show KEY [--json]",
		Short: "Show one dead letter: why, its failure history and its original request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			dl, err := d.q.DeadLetters().Get(cmd.Context(), args[0])
			if errors.Is(err, queue.ErrNotFound) {
				return &refusedError{msg: fmt.Sprintf("%q is not in the dead-letter queue", args[0])}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return newJSONLines(a.stdout).write(dl)
			}
			return writeDeadLetter(a.stdout, dl)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the dead letter as one JSON object (as GET /v1/dead-letters/{key})")
	return cmd
}

// writeDeadLetter renders a dead letter for a person.
func writeDeadLetter(w io.Writer, dl *queue.DeadLetter) error {
	const ts = "2006-01-02 15:04:05.000Z07:00"
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Key", dl.IdempotencyKey)
	row("Reason", dl.Reason.String())
	row("HTTP status", httpStatus(dl.HTTPStatus))
	row("Message", oneLine(dl.Message))
	for i, det := range dl.Details {
		label := ""
		if i == 0 {
			label = "Details:"
		}
		fmt.Fprintf(tw, "%s\t%s: %s\n", label, det.Field, oneLine(det.Message))
	}
	row("Attempts", strconv.Itoa(dl.Attempts))
	row("First failure", dl.FirstFailedAt.Format(ts))
	row("Last failure", dl.FailedAt.Format(ts))
	row("Queue", dl.Queue)
	if sum := summarise(dl.Request); sum != "" {
		row("Shipment", sum)
	}
	if dl.SupersededBy != "" {
		at := ""
		if dl.SupersededAt != nil {
			at = " (given by dlq export --new-keys at " + dl.SupersededAt.Format(ts) + "; its job: flexlabel status " + dl.SupersededBy + ")"
		}
		row("Superseded by", dl.SupersededBy+at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHistory (failed attempts, oldest first; the last %d are kept):\n", queue.HistoryLimit)
	if len(dl.History) == 0 {
		fmt.Fprintln(w, "  (none recorded: dead-lettered before failure history was kept)")
	} else {
		tw = newTable(w)
		fmt.Fprintln(tw, "  ATTEMPT\tTIME\tHTTP\tMESSAGE")
		for _, h := range dl.History {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", h.Attempt, h.At.Format(ts), httpStatus(h.HTTPStatus), oneLine(h.Message))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nRequest:")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, dl.Request, "  ", "  "); err != nil {
		pretty.Reset()
		pretty.Write(dl.Request) // not JSON (a hand-made task): as it is
	}
	_, err := fmt.Fprintf(w, "  %s\n", pretty.Bytes())
	return err
}

// summarise says in one line what a request asks for: courier and product,
// destination, parcels, order number; "" if it is no label request.
func summarise(raw json.RawMessage) string {
	var r flexapi.LabelRequest
	if json.Unmarshal(raw, &r) != nil {
		return ""
	}
	parts := []string{r.Courier}
	if r.Service != nil {
		parts = append(parts, r.Service.ProductCode)
	}
	if r.Shipment != nil {
		if to := r.Shipment.ShipTo; to != nil && to.Address != nil {
			parts = append(parts, "to "+strings.Join(strings.Fields(to.Address.City+" "+to.Address.PostalCode+" "+to.Address.CountryCode), " "))
		}
		parts = append(parts, fmt.Sprintf("%d parcel(s)", len(r.Shipment.Parcels)))
	}
	if r.Order != nil && r.Order.CustomerOrderNumber != "" {
		parts = append(parts, "order "+r.Order.CustomerOrderNumber)
	}
	return oneLine(strings.Join(parts, ", "))
}

func httpStatus(code int) string {
	if code == 0 {
		return "- (no answer)"
	}
	return strconv.Itoa(code)
}

// oneLine keeps a table row on one line whatever the API wrote.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (a *app) dlqActCmd(verb string) *cobra.Command {
	var (
		all, yes, dryRun bool
		reason           string
		asJSON           bool
	)
	short := "Put dead letters back on their queue under the same key"
	if verb == "discard" {
		short = "Drop dead letters for good (their keys become free)"
	}
	past := map[string]string{"redrive": "redriven", "discard": "discarded"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " (KEY...|--all|--reason R) [--yes] [--dry-run] [--json]",
		Short: short,
		Long: short + ".\n\n" +
			"Named keys are acted on at once. --all and --reason act on a snapshot of the matching dead letters:\n" +
			"on a terminal they first ask for confirmation with the count (answer y); elsewhere (a script, a pipe)\n" +
			"they need --yes, and refuse (exit 2) without it. --dry-run only prints how many would be " + past + ".",
		RunE: func(cmd *cobra.Command, keys []string) error {
			reason, err := parseReason(reason)
			if err != nil {
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
			bulk := len(keys) == 0
			if dryRun && !bulk {
				return errors.New("--dry-run: only with --all or --reason R; named keys are " + past + " as named")
			}
			if bulk && !dryRun && !yes && !isTerminal(a.stdin) {
				sel := "--all"
				if reason != "" {
					sel = "--reason " + string(reason)
				}
				return fmt.Errorf("%s %s: refusing without confirmation, and stdin is no terminal to ask on: pass --yes to %s without asking, or --dry-run to see how many it would %s",
					verb, sel, verb, verb)
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if dryRun {
				n, err := d.q.DeadLetters().Count(cmd.Context(), reason)
				if err != nil {
					return err
				}
				if asJSON {
					return newJSONLines(a.stdout).write(dryRunResult{DryRun: true, Matched: n})
				}
				_, err = fmt.Fprintf(a.stdout, "would %s %s (%s); nothing done (--dry-run)\n", verb, deadLetters(n), selection(reason))
				return err
			}
			if bulk {
				if keys, err = d.q.DeadLetters().Keys(cmd.Context(), reason); err != nil {
					return err
				}
				if !yes && len(keys) > 0 {
					q := fmt.Sprintf("%s %s (%s)?", strings.ToUpper(verb[:1])+verb[1:], deadLetters(int64(len(keys))), selection(reason))
					ok, err := a.confirm(q)
					if err != nil {
						return err
					}
					if !ok {
						return &refusedError{msg: "not confirmed; nothing " + past}
					}
				}
			}
			act := d.q.DeadLetters().RedriveEach
			if verb == "discard" {
				act = d.q.DeadLetters().DiscardEach
			}
			done, failed := 0, 0
			out := newJSONLines(a.stdout)
			err = act(cmd.Context(), keys, func(r queue.OpResult) error {
				if r.Done {
					done++
				} else {
					failed++
				}
				if asJSON {
					return out.write(r)
				}
				if !r.Done {
					fmt.Fprintf(a.stderr, "%s: %s\n", r.IdempotencyKey, r.Error)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !asJSON {
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
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "with --all or --reason: "+verb+" without asking for confirmation (needed when stdin is no terminal)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --all or --reason: print how many dead letters would be "+past+", and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON result per key (with --dry-run: one {\"dryRun\":true,\"matched\":N} object)")
	return cmd
}

func (a *app) dlqExportCmd() *cobra.Command {
	var (
		reason  string
		newKeys bool
	)
	cmd := &cobra.Command{
		Use:   "export [--reason R] [--new-keys]",
		Short: "Write dead letters as NDJSON that `flexlabel enqueue` accepts as it is",
		Long: "Each line is the original request with the failure alongside in \"" + queue.DeadLetterField + "\",\n" +
			"a field enqueue ignores; fix the lines and pipe them back into `flexlabel enqueue`.\n\n" +
			"--new-keys (with --reason courier_rejected) is the way out of a courier rejection: the API keeps\n" +
			"the failed label under the old key forever, so each line gets a new key derived from the old one\n" +
			"(KEY-r1, or the next -rN not yet used here), which the dead letter records as supersededBy at once.\n" +
			"Exporting again gives the same new keys, and leaves out the lines whose new key is already enqueued.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reason, err := parseReason(reason)
			if err != nil {
				return err
			}
			if err := queue.CheckExport(reason, newKeys); err != nil {
				return errors.New("--new-keys: needs --reason " + string(queue.ReasonCourierRejected) +
					": only a courier rejection keeps the old key from ever making a label; other dead letters are redriven or fixed under their key")
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			sum, err := d.q.DeadLetters().Export(cmd.Context(), reason, newKeys, func(line []byte) error {
				_, err := a.stdout.Write(append(line, '\n'))
				return err
			})
			if err != nil {
				return fmt.Errorf("export stopped after %d line(s): %w", sum.Exported, err)
			}
			if newKeys {
				fmt.Fprintf(a.stderr, "exported %d dead letter(s) under new keys", sum.Exported)
				if sum.AlreadyEnqueued > 0 {
					fmt.Fprintf(a.stderr, "; left out %d whose new key is already enqueued (see `flexlabel dlq show KEY`)", sum.AlreadyEnqueued)
				}
				fmt.Fprintln(a.stderr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "only this reason")
	cmd.Flags().BoolVar(&newKeys, "new-keys", false, "give each line a new key derived from the old one (KEY-rN); needs --reason courier_rejected")
	return cmd
}
