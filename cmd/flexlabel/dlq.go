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
	a.accountFlag(cmd, accountRead, true)
	return cmd
}

// filterFlags are the dead-letter filter of dlq list, redrive, discard and
// export: the console's filter and the HTTP API's query parameters.
type filterFlags struct{ prefix, reason, queue, since, until string }

// filterParams are the flags' names, as queue.ParseFilter names them in
// errors.
var filterParams = queue.FilterParams{KeyPrefix: "--prefix", Reason: "--reason", Queue: "--queue", Since: "--since", Until: "--until"}

// add defines the flags on cmd; of says what they select ("only", "every
// dead letter").
func (f *filterFlags) add(cmd *cobra.Command, of string) {
	cmd.Flags().StringVar(&f.reason, "reason", "", of+" of this reason: "+strings.Join(queue.ReasonNames(), ", "))
	cmd.Flags().StringVar(&f.prefix, "prefix", "", of+" whose key starts with this (a whole key is a prefix of itself)")
	cmd.Flags().StringVar(&f.queue, "queue", "", of+" of this queue: "+queue.Interactive.String()+" or "+queue.Bulk.String())
	cmd.Flags().StringVar(&f.since, "since", "", of+" whose last failure is at or after this time (RFC 3339, or 2026-01-31T14:00 in UTC)")
	cmd.Flags().StringVar(&f.until, "until", "", of+" whose last failure is before this time (as --since)")
}

// parse checks the flags (queue.ParseFilter), naming each bad one.
func (f *filterFlags) parse() (queue.Filter, error) {
	v := map[string]string{filterParams.KeyPrefix: f.prefix, filterParams.Reason: f.reason, filterParams.Queue: f.queue,
		filterParams.Since: f.since, filterParams.Until: f.until}
	return queue.ParseFilter(filterParams, func(name string) string { return v[name] })
}

// flags are the filter flags given, as typed, for messages.
func (f *filterFlags) flags() string {
	var out []string
	for _, p := range [][2]string{{"--reason", f.reason}, {"--prefix", f.prefix}, {"--queue", f.queue}, {"--since", f.since}, {"--until", f.until}} {
		if p[1] != "" {
			out = append(out, p[0]+" "+p[1])
		}
	}
	return strings.Join(out, " ")
}

func (a *app) dlqListCmd() *cobra.Command {
	var (
		ff     filterFlags
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list [--reason R] [--prefix P] [--queue Q] [--since T] [--until T] [--limit N] [--json]",
		Short: "List dead letters, oldest failure first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.parse()
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
			dl := d.q.DeadLetters()
			o := dl.Options(f)
			o.Limit = limit
			page, _, err := dl.List(cmd.Context(), o)
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
			total, err := dl.CountMatching(cmd.Context(), o)
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
	ff.add(cmd, "only dead letters")
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
		ff               filterFlags
		asJSON           bool
	)
	short := "Put dead letters back on their queue under the same key"
	if verb == "discard" {
		short = "Drop dead letters for good (their keys become free)"
	}
	past := map[string]string{"redrive": "redriven", "discard": "discarded"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " (KEY...|--all|FILTER) [--yes] [--dry-run] [--json]",
		Short: short,
		Long: short + ".\n\n" +
			"FILTER is any of --reason, --prefix, --queue, --since and --until, combined (the console's filter).\n" +
			"Named keys are acted on at once. --all and a filter act on a snapshot of the matching dead letters:\n" +
			"on a terminal they first ask for confirmation with the count (answer y); elsewhere (a script, a pipe)\n" +
			"they need --yes, and refuse (exit 2) without it. --dry-run only prints how many would be " + past + ".",
		RunE: func(cmd *cobra.Command, keys []string) error {
			f, err := ff.parse()
			if err != nil {
				return err
			}
			sel := 0
			for _, b := range []bool{len(keys) > 0, all, !f.Empty()} {
				if b {
					sel++
				}
			}
			if sel != 1 {
				return errors.New(verb + ": name keys, or --all, or a filter (--reason, --prefix, --queue, --since, --until) (exactly one)")
			}
			bulk := len(keys) == 0
			if dryRun && !bulk {
				return errors.New("--dry-run: only with --all or --reason R (or another filter); named keys are " + past + " as named")
			}
			if bulk && !dryRun && !yes && !isTerminal(a.stdin) {
				sel := "--all"
				if !f.Empty() {
					sel = ff.flags()
				}
				return fmt.Errorf("%s %s: refusing without confirmation, and stdin is no terminal to ask on: pass --yes to %s without asking, or --dry-run to see how many it would %s",
					verb, sel, verb, verb)
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			dl := d.q.DeadLetters()
			if dryRun {
				n, err := dl.CountMatching(cmd.Context(), dl.Options(f))
				if err != nil {
					return err
				}
				if asJSON {
					return newJSONLines(a.stdout).write(dryRunResult{DryRun: true, Matched: n})
				}
				_, err = fmt.Fprintf(a.stdout, "would %s %s (%s); nothing done (--dry-run)\n", verb, deadLetters(n), selection(f))
				return err
			}
			if bulk {
				if keys, err = dl.KeysMatching(cmd.Context(), dl.Options(f)); err != nil {
					return err
				}
				if !yes && len(keys) > 0 {
					q := fmt.Sprintf("%s %s (%s)?", strings.ToUpper(verb[:1])+verb[1:], deadLetters(int64(len(keys))), selection(f))
					ok, err := a.confirm(q)
					if err != nil {
						return err
					}
					if !ok {
						return &refusedError{msg: "not confirmed; nothing " + past}
					}
				}
			}
			act := dl.RedriveEach
			if verb == "discard" {
				act = dl.DiscardEach
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
	ff.add(cmd, "every dead letter")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "with --all or a filter: "+verb+" without asking for confirmation (needed when stdin is no terminal)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --all or a filter: print how many dead letters would be "+past+", and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON result per key (with --dry-run: one {\"dryRun\":true,\"matched\":N} object)")
	return cmd
}

func (a *app) dlqExportCmd() *cobra.Command {
	var (
		ff      filterFlags
		newKeys bool
	)
	cmd := &cobra.Command{
		Use:   "export [--reason R] [--prefix P] [--queue Q] [--since T] [--until T] [--new-keys]",
		Short: "Write dead letters as NDJSON that `flexlabel enqueue` accepts as it is",
		Long: "Each line is the original request with the failure alongside in \"" + queue.DeadLetterField + "\",\n" +
			"a field enqueue ignores; fix the lines and pipe them back into `flexlabel enqueue`.\n\n" +
			"--new-keys (with --reason courier_rejected) is the way out of a courier rejection: the API keeps\n" +
			"the failed label under the old key forever, so each line gets a new key derived from the old one\n" +
			"(KEY-r1, or the next -rN not yet used here), which the dead letter records as supersededBy at once.\n" +
			"Exporting again gives the same new keys, and leaves out the lines whose new key is already enqueued.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.parse()
			if err != nil {
				return err
			}
			if err := queue.CheckExport(f.Reason, newKeys); err != nil {
				return errors.New("--new-keys: needs --reason " + string(queue.ReasonCourierRejected) +
					": only a courier rejection keeps the old key from ever making a label; other dead letters are redriven or fixed under their key")
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			dl := d.q.DeadLetters()
			sum, err := dl.ExportMatching(cmd.Context(), dl.Options(f), newKeys, func(line []byte) error {
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
	ff.add(cmd, "only dead letters")
	cmd.Flags().BoolVar(&newKeys, "new-keys", false, "give each line a new key derived from the old one (KEY-rN); needs --reason courier_rejected")
	return cmd
}
