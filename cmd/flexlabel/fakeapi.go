package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
)

func (a *app) fakeapiCmd() *cobra.Command {
	var (
		addr      string
		tokens    []string
		latency   time.Duration
		failFirst int
	)
	cmd := &cobra.Command{
		Use:   "fakeapi",
		Short: "Run a fake Flex Forward API for development and tests",
		Long: `Run a fake Flex Forward API (package flexapi/flexapitest) until interrupted.

Each --token is the bearer token of its own account (account-1, account-2, …).
Service product code REJECT makes the courier reject a label (502),
NOACCOUNT answers 404, INVALID 400, UNPROCESSABLE 422 and UNAVAILABLE 500
(every time); ship-to postal codes 90001-90005 drive tracking, a journey
that starts when the label is created (FLEXLABEL_TRACKING_SPEEDUP=F makes it
F times faster: 3600 turns an hour into a second).
Faults can be switched and the call ledger read at run time under /_fake/
(POST /_fake/faults, GET /_fake/ledger, POST /_fake/reset).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(tokens) == 0 {
				return errors.New("fakeapi: at least one --token is required")
			}
			for _, t := range tokens {
				if t == "" {
					return errors.New("fakeapi: --token must not be empty")
				}
			}
			if latency < 0 || failFirst < 0 {
				return errors.New("fakeapi: --latency and --fail-first must not be negative")
			}
			speedup, err := config.TrackingSpeedup(a.env)
			if err != nil {
				return err
			}
			srv := flexapitest.New(flexapitest.WithTrackingSpeedup(speedup))
			for i, t := range tokens {
				srv.AddToken(t, fmt.Sprintf("account-%d", i+1))
			}
			srv.SetLatency(latency)
			srv.FailFirst(failFirst)

			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("fakeapi: %w", err)
			}
			accounts := "1 account"
			if len(tokens) > 1 {
				accounts = fmt.Sprintf("%d accounts", len(tokens))
			}
			fmt.Fprintf(a.stderr, "flexlabel fakeapi: listening on http://%s (%s; admin under /_fake/)\n", ln.Addr(), accounts)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8090", "`HOST:PORT` to listen on (port 0 picks a free one)")
	f.StringArrayVar(&tokens, "token", nil, "bearer `TOKEN` of one account (repeatable; at least one)")
	f.DurationVar(&latency, "latency", 0, "delay every API call by this long")
	f.IntVar(&failFirst, "fail-first", 0, "answer 500 to the first `N` POST /labels calls of each idempotency key")
	return cmd
}
