package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/accounts"
	"github.com/flexlabel/flexlabel/worker"
)

// This file is the worker's side of FLEXLABEL_ACCOUNTS_FILE (issue 17,
// docs/ACCOUNTS.md): the file read at start (a bad one exits 2), each
// account's token checked once, and the file re-read every 2 s and on
// SIGHUP, the worker's accounts following it without a restart.

// fleetAccounts keeps the worker's accounts in step with the file.
type fleetAccounts struct {
	cfg  *config.Config
	log  *slog.Logger
	live *accounts.Live
	// clients are the API clients by account, kept while the account's
	// token and base URL stay, so a reload changes only what changed.
	mu      sync.Mutex
	clients map[string]accountClient
}

type accountClient struct {
	token, baseURL string
	api            *flexapi.Client
}

// loadAccounts reads the accounts file; nil without one.
func loadAccounts(cfg *config.Config, log *slog.Logger) (*fleetAccounts, error) {
	if cfg.AccountsFile == "" {
		return nil, nil
	}
	var env *accounts.Account
	if cfg.FlexForwardToken != "" {
		env = &accounts.Account{Name: accounts.DefaultName, Token: accounts.Token(cfg.FlexForwardToken.Reveal()),
			RateLimit: cfg.RateLimit, BaseURL: cfg.FlexForwardBaseURL}
	}
	live, err := accounts.NewLive(cfg.AccountsFile, accounts.Options{DefaultRate: cfg.RateLimit, Env: env}, log)
	if err != nil {
		return nil, &config.Error{Problems: []string{"FLEXLABEL_ACCOUNTS_FILE: " + err.Error()}}
	}
	return &fleetAccounts{cfg: cfg, log: log, live: live, clients: map[string]accountClient{}}, nil
}

// client is account a's API client, made anew only when its token or base
// URL changed.
func (f *fleetAccounts) client(a accounts.Account) (*flexapi.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[a.Name]; ok && c.token == a.Token.Reveal() && c.baseURL == a.BaseURL {
		return c.api, nil
	}
	api, err := flexapi.NewClient(a.BaseURL, a.Token.Reveal(), flexapi.WithTimeout(f.cfg.APITimeout),
		flexapi.WithUserAgent("flexlabel/"+flexapi.Version))
	if err != nil {
		return nil, fmt.Errorf("FLEXLABEL_ACCOUNTS_FILE: account %s: %w", a.Name, err)
	}
	f.clients[a.Name] = accountClient{token: a.Token.Reveal(), baseURL: a.BaseURL, api: api}
	return api, nil
}

// ownRate is the default account's budget as the file sets it, or
// FLEXLABEL_RATE_LIMIT when it has none: the rate the worker's own
// Budget starts with (its lanes are sized from it).
func (f *fleetAccounts) ownRate() float64 {
	if def, ok := f.live.Set().Default(); ok {
		return def.RateLimit
	}
	return f.cfg.RateLimit
}

// accounts are the set's accounts for worker.SetAccounts, the default
// among them — with API nil when the set has none, so that a default
// account removed from the file stops being run (its jobs wait), as any
// other does.
func (f *fleetAccounts) accounts(set *accounts.Set) ([]worker.Account, error) {
	out := []worker.Account{{Name: accounts.DefaultName}}
	for _, a := range set.Accounts() {
		c, err := f.client(a)
		if err != nil {
			return nil, err
		}
		if a.Name == accounts.DefaultName {
			out[0] = worker.Account{Name: a.Name, API: c, Rate: a.RateLimit}
			continue
		}
		out = append(out, worker.Account{Name: a.Name, API: c, Rate: a.RateLimit})
	}
	return out, nil
}

// checkTokens makes one GET /couriers per account (a few at a time) and
// reports each token Flex Forward refuses: that account's jobs will be
// dead-lettered with reason auth; the other accounts are not touched.
// Each call takes a slot of its account's budget from w first, as the
// worker's own calls do: unbudgeted, every worker's start added a call per
// account beside the fleet's, and an account running at its budget met a
// 429 (measured: 16 a run with 4 worker processes starting on 200 busy
// accounts).
func (f *fleetAccounts) checkTokens(ctx context.Context, w *worker.Worker, accs []accounts.Account) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var refused atomic.Int64
	for _, a := range accs {
		c, err := f.client(a)
		if err != nil {
			f.log.Error("account not usable", slog.String("account", a.Name), slog.String("error", err.Error()))
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := w.TakeSlot(ctx, a.Name); err != nil {
				if ctx.Err() == nil {
					f.log.Warn("could not check an account's token: no budget slot", slog.String("account", a.Name), slog.String("error", err.Error()))
				}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, min(f.cfg.APITimeout, tokenCheckTimeout))
			defer cancel()
			_, err := c.GetCouriers(cctx)
			var ae *flexapi.APIError
			switch {
			case err == nil:
				f.log.Info("account's token accepted", slog.String("account", a.Name), slog.String("api", a.BaseURL))
			case errors.As(err, &ae) && tokenRefused(ae.StatusCode):
				refused.Add(1)
				f.log.Error("account's token refused by Flex Forward: its jobs will be dead-lettered with reason auth; fix its token in FLEXLABEL_ACCOUNTS_FILE (re-read without a restart) and redrive them",
					slog.String("account", a.Name), slog.String("api", a.BaseURL), slog.Int("http_status", ae.StatusCode))
			default:
				f.log.Warn("could not check an account's token; its jobs retry until the API answers",
					slog.String("account", a.Name), slog.String("api", a.BaseURL), slog.String("error", err.Error()))
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		f.log.Error("accounts with a refused token", slog.Int64("accounts", n), slog.Int("of", len(accs)))
	}
}

// follow re-reads the file (accounts.Live) and gives the worker every
// change, until ctx ends; the tokens of accounts added or changed are
// checked as at start.
func (f *fleetAccounts) follow(ctx context.Context, w *worker.Worker) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	f.live.Reload = hup
	go f.live.Run(ctx)
	last := f.live.Set()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		set := f.live.Set()
		if set == last {
			continue
		}
		var changed []accounts.Account
		for _, a := range set.Accounts() {
			if old, ok := last.Get(a.Name); !ok || old.Token != a.Token || old.BaseURL != a.BaseURL {
				changed = append(changed, a)
			}
		}
		accs, err := f.accounts(set)
		if err == nil {
			err = w.SetAccounts(ctx, accs)
		}
		if err != nil {
			f.log.Error("accounts file read but not applied; the worker keeps its accounts", slog.String("error", err.Error()))
			last = set
			continue
		}
		last = set
		f.checkTokens(ctx, w, changed)
	}
}
