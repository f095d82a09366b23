package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/webhook"
)

// signingKeyVar is the variable webhooks need.
const signingKeyVar = "FLEXLABEL_WEBHOOK_SIGNING_KEY"

// webhookEndpoints builds the webhook endpoints of cfg's namespace on rdb;
// nil (webhooks off) when FLEXLABEL_WEBHOOK_SIGNING_KEY is unset.
func webhookEndpoints(cfg *config.Config, rdb redis.UniversalClient) (*hooks.Endpoints, error) {
	keys, err := hooks.NewKeyring(cfg.WebhookSigningKey.Reveal())
	if errors.Is(err, hooks.ErrNoSigningKey) {
		return nil, nil
	}
	if err != nil {
		return nil, &config.Error{Problems: []string{signingKeyVar + ": " + strings.TrimPrefix(err.Error(), "hooks: ")}}
	}
	return hooks.NewEndpoints(rdb, cfg.Queue, keys, hooks.WithAllowPrivate(cfg.WebhookAllowPrivate))
}

// openEndpoints is openQueue for the webhooks commands: without the
// signing key they cannot work (exit 2, naming it).
func (a *app) openEndpoints(ctx context.Context) (*deps, *hooks.Endpoints, error) {
	cfg, err := config.Parse(a.env)
	if err != nil {
		return nil, nil, err
	}
	if cfg.WebhookSigningKey == "" {
		return nil, nil, &config.Error{Problems: []string{signingKeyVar +
			": is required to manage webhook endpoints (at least 32 bytes, e.g. openssl rand -base64 48; the same value as serve's and the worker's)"}}
	}
	d, err := a.openQueueWith(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	eps, err := webhookEndpoints(cfg, d.rdb)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, eps, nil
}

// endpointFlags names the flags of the fields hooks validates, for its
// errors.
var endpointFlags = map[string]string{"url": "URL", "keyPrefix": "--key-prefix", "accounts": "--accounts", "reason": "--reason", "keepPreviousFor": "--keep-previous", "body": "flags"}

// endpointError turns an error of hooks.Endpoints into the CLI's: bad
// fields named by their flags (exit 2), an unknown id refused (exit 1).
func endpointError(err error, id string) error {
	var inv *hooks.InvalidError
	switch {
	case errors.As(err, &inv):
		parts := make([]string, len(inv.Problems))
		for i, p := range inv.Problems {
			name, ok := endpointFlags[p.Field]
			switch {
			case strings.HasPrefix(p.Field, "events["):
				name, ok = "--events", true
			case strings.HasPrefix(p.Field, "accounts["):
				name, ok = "--accounts", true
			}
			if !ok {
				name = p.Field
			}
			parts[i] = name + ": " + p.Message
		}
		return errors.New(strings.Join(parts, "; "))
	case errors.Is(err, hooks.ErrNotFound):
		return &refusedError{msg: fmt.Sprintf("no webhook endpoint has id %q (flexlabel webhooks list shows them)", id)}
	}
	return err
}

// parseEvents reads --events: comma-separated types; empty for all.
func parseEvents(s string) []webhook.EventType {
	out := []webhook.EventType{}
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, webhook.EventType(t))
		}
	}
	return out
}

// parseAccounts reads --accounts: comma-separated account names; empty for
// every account.
func parseAccounts(s string) []string {
	out := []string{}
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// completeEvents completes the last item of a comma-separated --events.
func completeEvents(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done, _ := cutLast(toComplete, ",")
	var out []string
	for _, t := range hooks.EventTypes() {
		if !strings.Contains(","+done, ","+string(t)+",") {
			out = append(out, done+string(t))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// cutLast splits s after its last sep: what is before (sep included) and after.
func cutLast(s, sep string) (string, string) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", s
	}
	return s[:i+len(sep)], s[i+len(sep):]
}

func (a *app) webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Manage webhook endpoints (add, list, show, update, disable, enable, delete, rotate-secret) and their deliveries (deliveries, redeliver)",
		Long: `Manage the endpoints flexlabel pushes signed events to (as /v1/webhook-endpoints
does). Needs FLEXLABEL_WEBHOOK_SIGNING_KEY, the same value serve and the worker
have: endpoint secrets are derived from it, never stored. An endpoint's secret
is printed by add and rotate-secret only.`,
	}
	cmd.AddCommand(a.webhooksAddCmd(), a.webhooksListCmd(), a.webhooksShowCmd(), a.webhooksUpdateCmd(),
		a.webhooksDisableCmd(), a.webhooksEnableCmd(), a.webhooksDeleteCmd(), a.webhooksRotateCmd())
	cmd.AddCommand(webhooksDeliveryCmds(a)...)
	return cmd
}

// printEndpoint prints ep as JSON (the HTTP API's object) or for a person;
// a secret shown to a person on a terminal comes with a warning that it is
// shown only now.
func (a *app) printEndpoint(ep hooks.Endpoint, asJSON bool) error {
	if asJSON {
		return newJSONLines(a.stdout).write(ep)
	}
	if err := writeEndpoint(a.stdout, ep); err != nil {
		return err
	}
	if ep.Secret != "" && isTerminal(a.stdout) {
		fmt.Fprintln(a.stderr, "flexlabel: the secret is shown only now: store it with the receiver (webhooks rotate-secret makes a new one)")
	}
	return nil
}

func writeEndpoint(w io.Writer, ep hooks.Endpoint) error {
	const ts = "2006-01-02 15:04:05Z07:00"
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", ep.ID)
	row("URL", ep.URL)
	row("Events", eventsText(ep.Events))
	row("Key prefix", prefixText(ep.KeyPrefix))
	row("Accounts", accountsText(ep.Accounts))
	row("Enabled", enabledText(ep))
	row("Created", ep.CreatedAt.Format(ts))
	row("Updated", ep.UpdatedAt.Format(ts))
	if ep.PreviousSecretExpiresAt != nil {
		row("Previous secret", "still valid until "+ep.PreviousSecretExpiresAt.Format(ts))
	}
	if ep.Secret != "" {
		row("Secret", ep.Secret)
	}
	return tw.Flush()
}

func eventsText(ev []webhook.EventType) string {
	if len(ev) == 0 {
		return "all"
	}
	s := make([]string, len(ev))
	for i, t := range ev {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func accountsText(a []string) string {
	if len(a) == 0 {
		return "(all accounts)"
	}
	return strings.Join(a, ",")
}

func prefixText(p string) string {
	if p == "" {
		return "(all keys)"
	}
	return p
}

func enabledText(ep hooks.Endpoint) string {
	if ep.Enabled {
		return "yes"
	}
	return "no (" + ep.DisabledReason + ")"
}

func (a *app) webhooksAddCmd() *cobra.Command {
	var (
		events, prefix, accounts string
		asJSON                   bool
	)
	cmd := &cobra.Command{
		Use:   "add URL [--events TYPE,...] [--key-prefix P] [--accounts A,...] [--json]",
		Short: "Subscribe an endpoint; prints it with its secret, shown only now",
		Long: `Subscribe URL (https://, or http:// to a loopback host; internal addresses only
with FLEXLABEL_WEBHOOK_ALLOW_PRIVATE=true) to the events of --events (default
all: ` + eventsList() + `) for the labels of the Flex Forward accounts of
--accounts (default every account; "default" is the namespace's own) whose
keys start with --key-prefix (default all).
--json prints the same object as POST /v1/webhook-endpoints answers, secret
included.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, eps, err := a.openEndpoints(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			ep, err := eps.Create(cmd.Context(), hooks.Spec{URL: args[0], Events: parseEvents(events), KeyPrefix: prefix,
				Accounts: parseAccounts(accounts)})
			if err != nil {
				return endpointError(err, "")
			}
			return a.printEndpoint(ep, asJSON)
		},
	}
	cmd.Flags().StringVar(&events, "events", "", "comma-separated event types to deliver (default all)")
	cmd.Flags().StringVar(&prefix, "key-prefix", "", "only events of idempotency keys starting with this")
	cmd.Flags().StringVar(&accounts, "accounts", "", "comma-separated accounts whose labels' events to deliver (default every account)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object, secret included")
	_ = cmd.RegisterFlagCompletionFunc("events", completeEvents)
	return cmd
}

func eventsList() string {
	var s []string
	for _, t := range hooks.EventTypes() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func (a *app) webhooksListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List webhook endpoints, oldest first (without secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, eps, err := a.openEndpoints(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			list, err := eps.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := newJSONLines(a.stdout)
				for _, ep := range list {
					if err := out.write(ep); err != nil {
						return err
					}
				}
				return nil
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tURL\tEVENTS\tKEY PREFIX\tACCOUNTS\tENABLED")
			for _, ep := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ep.ID, ep.URL, eventsText(ep.Events), prefixText(ep.KeyPrefix),
					accountsText(ep.Accounts), enabledText(ep))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d webhook endpoint(s)\n", len(list))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line (as GET /v1/webhook-endpoints/{id})")
	return cmd
}

func (a *app) webhooksShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one webhook endpoint (without its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.onEndpoint(cmd, args[0], asJSON, func(ctx context.Context, eps *hooks.Endpoints) (hooks.Endpoint, error) {
				return eps.Get(ctx, args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object")
	return cmd
}

// onEndpoint opens the endpoints, runs op, and prints the endpoint it returns.
func (a *app) onEndpoint(cmd *cobra.Command, id string, asJSON bool, op func(context.Context, *hooks.Endpoints) (hooks.Endpoint, error)) error {
	d, eps, err := a.openEndpoints(cmd.Context())
	if err != nil {
		return err
	}
	defer d.Close()
	ep, err := op(cmd.Context(), eps)
	if err != nil {
		return endpointError(err, id)
	}
	return a.printEndpoint(ep, asJSON)
}

func (a *app) webhooksUpdateCmd() *cobra.Command {
	var (
		url, events, prefix, accounts string
		enable, disable               bool
		asJSON                        bool
	)
	cmd := &cobra.Command{
		Use:   "update ID [--url URL] [--events TYPE,...] [--key-prefix P] [--accounts A,...] [--enable|--disable] [--json]",
		Short: "Change a webhook endpoint; --events '' subscribes to all events, --key-prefix '' to all keys, --accounts '' to every account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p hooks.Patch
			f := cmd.Flags()
			if f.Changed("url") {
				p.URL = &url
			}
			if f.Changed("events") {
				ev := parseEvents(events)
				p.Events = &ev
			}
			if f.Changed("key-prefix") {
				p.KeyPrefix = &prefix
			}
			if f.Changed("accounts") {
				as := parseAccounts(accounts)
				p.Accounts = &as
			}
			switch {
			case enable && disable:
				return errors.New("--enable and --disable exclude each other")
			case enable:
				p.Enabled = &enable
			case disable:
				off := false
				p.Enabled = &off
			}
			if p == (hooks.Patch{}) {
				return errors.New("flags: give at least one of --url, --events, --key-prefix, --accounts, --enable, --disable")
			}
			return a.onEndpoint(cmd, args[0], asJSON, func(ctx context.Context, eps *hooks.Endpoints) (hooks.Endpoint, error) {
				return eps.Update(ctx, args[0], p)
			})
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the new destination")
	cmd.Flags().StringVar(&events, "events", "", "comma-separated event types; '' for all")
	cmd.Flags().StringVar(&prefix, "key-prefix", "", "only keys starting with this; '' for all")
	cmd.Flags().StringVar(&accounts, "accounts", "", "comma-separated accounts; '' for every account")
	cmd.Flags().BoolVar(&enable, "enable", false, "enable it (clears the disabled reason)")
	cmd.Flags().BoolVar(&disable, "disable", false, "disable it (webhooks disable takes a reason)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object")
	_ = cmd.RegisterFlagCompletionFunc("events", completeEvents)
	return cmd
}

func (a *app) webhooksDisableCmd() *cobra.Command {
	var (
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "disable ID [--reason R] [--json]",
		Short: "Disable a webhook endpoint; its events stay redeliverable",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			off := false
			return a.onEndpoint(cmd, args[0], asJSON, func(ctx context.Context, eps *hooks.Endpoints) (hooks.Endpoint, error) {
				return eps.Update(ctx, args[0], hooks.Patch{Enabled: &off, Reason: &reason})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown as its disabled reason (default \""+hooks.DisabledByOperator+"\")")
	// Free text: not the dead-letter reasons flagValues offers for --reason.
	_ = cmd.RegisterFlagCompletionFunc("reason", cobra.NoFileCompletions)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object")
	return cmd
}

func (a *app) webhooksEnableCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "enable ID [--json]",
		Short: "Enable a webhook endpoint again, clearing its disabled reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on := true
			return a.onEndpoint(cmd, args[0], asJSON, func(ctx context.Context, eps *hooks.Endpoints) (hooks.Endpoint, error) {
				return eps.Update(ctx, args[0], hooks.Patch{Enabled: &on})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object")
	return cmd
}

func (a *app) webhooksDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook endpoint; nothing more is delivered to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, eps, err := a.openEndpoints(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if err := eps.Delete(cmd.Context(), args[0]); err != nil {
				return endpointError(err, args[0])
			}
			_, err = fmt.Fprintf(a.stdout, "deleted webhook endpoint %s\n", args[0])
			return err
		},
	}
}

func (a *app) webhooksRotateCmd() *cobra.Command {
	var (
		keep   time.Duration
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rotate-secret ID [--keep-previous D] [--json]",
		Short: "Give a webhook endpoint a new secret; prints it, shown only now",
		Long: `Give the endpoint a new secret and print it. The secret it replaces keeps
signing deliveries, next to the new one, for --keep-previous (default 24h, at
most 168h; 0s: not at all), so the receiver can switch without losing one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.onEndpoint(cmd, args[0], asJSON, func(ctx context.Context, eps *hooks.Endpoints) (hooks.Endpoint, error) {
				return eps.RotateSecret(ctx, args[0], keep)
			})
		},
	}
	cmd.Flags().DurationVar(&keep, "keep-previous", hooks.DefaultKeepPrevious, "how long the replaced secret stays valid")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoint as one JSON object, new secret included")
	return cmd
}
