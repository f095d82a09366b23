// Package auth says who a caller of the HTTP API and the operator console is,
// and what that caller may do: a token's scope, its key prefixes, the
// Flex Forward accounts it may act on, and the stable non-secret id that
// names it in logs.
//
// The HTTP layer (internal/httpapi) resolves a request's token to a
// Principal and puts it in the request's context; handlers that decide per
// request (the console's buttons, personal fields, key prefixes) read it
// back with FromContext.
//
// Tokens come from FLEXLABEL_API_TOKENS (scope All) and from a tokens file
// (ParseFile: "SCOPE TOKEN [KEY_PREFIX...] [accounts=NAME,...]" a line). A Set maps a presented
// secret to its Principal and is swapped whole on reload; a Watcher re-reads
// the file when its content changes or on SIGHUP, keeping the old set when
// the new file is bad. A Token prints as its scope and ID, never its secret.
package auth

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Scope is what a token grants.
type Scope string

const (
	// Producer creates labels and reads their status (order systems).
	Producer Scope = "producer"
	// Operator does everything on dead letters, the console's actions
	// included, and everything Viewer does.
	Operator Scope = "operator"
	// Viewer reads the console and the dead-letter lists, without the
	// request's personal fields, and acts on nothing.
	Viewer Scope = "viewer"
	// Metrics reads GET /metrics only (a Prometheus scraper's token).
	Metrics Scope = "metrics"
	// All is every scope: what a token of FLEXLABEL_API_TOKENS grants, as
	// every token did before scopes existed, and what a caller gets when
	// the API serves without authentication (--insecure-no-auth, dev).
	All Scope = "all"
)

// Principal is the caller of one request.
type Principal struct {
	// ID names the token in logs: stable across restarts and reloads,
	// and not the secret (nor enough to recover it).
	ID string
	// Scope is what the token grants.
	Scope Scope
	// Prefixes, when not empty, limit a producer token to the
	// idempotency keys that start with one of them.
	Prefixes []string
	// Accounts, when not empty, limit the token to these Flex Forward
	// accounts (the HTTP API's Flexlabel-Account header; "default" for a
	// request that names none). Empty: every account.
	Accounts []string
}

// Has reports whether p may act with scope s. All has every scope;
// Operator has Viewer's and Metrics'; Viewer has Metrics'.
func (p Principal) Has(s Scope) bool {
	switch p.Scope {
	case All:
		return true
	case Operator:
		return s == Operator || s == Viewer || s == Metrics
	case Viewer:
		return s == Viewer || s == Metrics
	}
	return p.Scope == s
}

// KeyAllowed reports whether p may create or read the label of key: always,
// unless p is limited to key prefixes and key starts with none of them.
func (p Principal) KeyAllowed(key string) bool {
	if len(p.Prefixes) == 0 {
		return true
	}
	for _, pre := range p.Prefixes {
		if strings.HasPrefix(key, pre) {
			return true
		}
	}
	return false
}

// AccountAllowed reports whether p may act on the jobs of account a:
// always, unless p is bound to accounts and a is none of them.
func (p Principal) AccountAllowed(a string) bool {
	return len(p.Accounts) == 0 || slices.Contains(p.Accounts, a)
}

// CheckAccount returns nil when p may act on account a (AccountAllowed),
// and otherwise an error naming the accounts it may act on, such as
// `this token may only act on account "brand-a", not "default"`.
func (p Principal) CheckAccount(a string) error {
	if p.AccountAllowed(a) {
		return nil
	}
	quoted := make([]string, len(p.Accounts))
	for i, acct := range p.Accounts {
		quoted[i] = strconv.Quote(acct)
	}
	noun := "account"
	if len(quoted) > 1 {
		noun = "accounts"
	}
	return fmt.Errorf("this token may only act on %s %s, not %q", noun, strings.Join(quoted, " or "), a)
}

// SeesPersonal reports whether p may see the personal fields of a request
// (names, addresses, phone numbers, e-mail): operators may, viewers not.
func (p Principal) SeesPersonal() bool { return p.Has(Operator) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext put in ctx, and false when
// there is none (a handler reached without the API's authentication).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// CheckKey returns nil when p may use key (KeyAllowed), and otherwise an
// error naming the rule, such as
// `idempotencyKey: this token may only use keys starting with "shop-a-"`.
func (p Principal) CheckKey(key string) error {
	if p.KeyAllowed(key) {
		return nil
	}
	quoted := make([]string, len(p.Prefixes))
	for i, pre := range p.Prefixes {
		quoted[i] = strconv.Quote(pre)
	}
	return fmt.Errorf("idempotencyKey: this token may only use keys starting with %s", strings.Join(quoted, " or "))
}
