package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/internal/hooks"
)

// Webhook delivery log and redelivery commands (issue 15, part C).

// webhooksDeliveryCmds are the `webhooks` subcommands of the delivery log:
// deliveries and redeliver.
func webhooksDeliveryCmds(a *app) []*cobra.Command {
	return []*cobra.Command{a.webhooksDeliveriesCmd(), a.webhooksRedeliverCmd()}
}

// openDeliveryLog connects to Redis and returns the delivery log; webhooks
// off is an error naming the variable.
func (a *app) openDeliveryLog(cmd *cobra.Command) (*hooks.Log, func(), error) {
	d, err := a.openQueue(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	l, err := deliveryLog(d)
	if err == nil && l == nil {
		err = errors.New("webhooks are off: FLEXLABEL_WEBHOOK_SIGNING_KEY is not set")
	}
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return l, func() { d.Close() }, nil
}

func (a *app) webhooksDeliveriesCmd() *cobra.Command {
	var endpoint, event, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deliveries (--endpoint ID | --event ID) [--since T] [--limit N] [--json]",
		Short: "Show the delivery log of an endpoint or of an event: results, attempts, statuses, errors",
		Long: `Show the delivery log: one row per delivery (an event to an endpoint) with its
result (pending, delivered, retrying, failed, skipped), attempts, last status
and error. --json prints one JSON object per delivery, with its latest attempts
(as GET /v1/webhook-endpoints/{id}/deliveries and /v1/webhook-events/{id}/deliveries).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (endpoint == "") == (event == "") {
				return errors.New("give exactly one of --endpoint ID and --event ID")
			}
			if event != "" && (since != "" || cmd.Flags().Changed("limit")) {
				return errors.New("--since and --limit go with --endpoint, not --event")
			}
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("--limit: must be from 1 to 1000, got %d", limit)
			}
			var t time.Time
			if since != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since: must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z, got %q", since)
				}
			}
			l, done, err := a.openDeliveryLog(cmd)
			if err != nil {
				return err
			}
			defer done()
			var ds []hooks.Delivery
			if event != "" {
				ds, err = l.ForEvent(cmd.Context(), event)
				if errors.Is(err, hooks.ErrNoDeliveries) {
					return &refusedError{msg: fmt.Sprintf("no deliveries of event %q (unknown, not delivered, or its log expired)", event)}
				}
			} else {
				ds, err = l.ForEndpoint(cmd.Context(), endpoint, t, limit)
			}
			if err != nil {
				return err
			}
			if asJSON {
				out := newJSONLines(a.stdout)
				for _, d := range ds {
					if err := out.write(d); err != nil {
						return err
					}
				}
				return nil
			}
			return writeDeliveries(a.stdout, ds)
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the endpoint's id: its deliveries, newest first")
	cmd.Flags().StringVar(&event, "event", "", "the event's id: its delivery to each endpoint")
	cmd.Flags().StringVar(&since, "since", "", "with --endpoint: only deliveries created at or after this RFC 3339 time")
	cmd.Flags().IntVar(&limit, "limit", 100, "with --endpoint: at most this many deliveries (1 to 1000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per delivery, with its attempts")
	return cmd
}

// writeDeliveries renders deliveries for a person.
func writeDeliveries(w io.Writer, ds []hooks.Delivery) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "EVENT\tENDPOINT\tTYPE\tRESULT\tATTEMPTS\tLAST ATTEMPT\tSTATUS\tERROR")
	for _, d := range ds {
		last := "-"
		if d.LastAttemptAt != nil {
			last = d.LastAttemptAt.Format(time.RFC3339)
		}
		why := d.LastError
		if why == "" {
			why = d.Reason
		}
		if why == "" {
			why = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.Event, d.Endpoint, d.Type, d.Result, d.Attempts, last,
			httpStatus(d.LastStatus), oneLine(why))
	}
	return tw.Flush()
}

func (a *app) webhooksRedeliverCmd() *cobra.Command {
	var endpoint, since string
	cmd := &cobra.Command{
		Use:   "redeliver (EVENT_ID [--endpoint ID] | --endpoint ID --since T)",
		Short: "Send an event again, or every failed or skipped delivery of an endpoint since a time",
		Long: `With EVENT_ID: send the event again (same id, same body) to every endpoint it
was delivered to, or only to --endpoint. With --endpoint and --since (RFC 3339):
send again every delivery to that endpoint created since then whose result is
failed or skipped. Each is a new delivery with a fresh retry window; a disabled
endpoint's deliveries are skipped again, so enable the endpoint first.
Prints how many deliveries were enqueued.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t time.Time
			switch {
			case len(args) == 1 && since != "":
				return errors.New("--since goes with --endpoint and no EVENT_ID")
			case len(args) == 0 && (endpoint == "" || since == ""):
				return errors.New("give EVENT_ID, or --endpoint ID with --since T")
			case since != "":
				var err error
				if t, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since: must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z, got %q", since)
				}
			}
			l, done, err := a.openDeliveryLog(cmd)
			if err != nil {
				return err
			}
			defer done()
			var n int
			if len(args) == 1 {
				n, err = l.RedeliverEvent(cmd.Context(), args[0], endpoint)
				if errors.Is(err, hooks.ErrNoDeliveries) {
					return &refusedError{msg: fmt.Sprintf("no deliveries of event %q to redeliver (unknown, not delivered to that endpoint, or its log expired)", args[0])}
				}
			} else {
				n, err = l.RedeliverEndpoint(cmd.Context(), endpoint, t)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, "redelivered "+strconv.Itoa(n))
			return err
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the endpoint's id")
	cmd.Flags().StringVar(&since, "since", "", "with --endpoint: redeliver its failed and skipped deliveries created at or after this RFC 3339 time")
	return cmd
}
