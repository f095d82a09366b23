package opsui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue"
)

// accountParam is the query parameter naming the account a console page
// shows; without it, the caller's landing account (landing).
const accountParam = "account"

// view is the Flex Forward account a request shows and acts on: its queue,
// and whether the console's links name it.
type view struct {
	q       *queue.Queue
	account string
	// named: links carry ?account=. Not for the default account of a
	// caller who lands on it, so a single-account console keeps its URLs.
	named bool
}

type viewKey struct{}

// viewOf is the request's account, as ServeHTTP resolved it.
func viewOf(r *http.Request) view {
	v, _ := r.Context().Value(viewKey{}).(view)
	return v
}

// landing is the account a caller sees without ?account=: the first of
// the accounts its token is bound to, otherwise the default account.
func landing(p auth.Principal) string {
	if len(p.Accounts) > 0 {
		return p.Accounts[0]
	}
	return queue.DefaultAccount
}

// resolveView picks the request's account: ?account= or the caller's
// landing account. Any well-formed name may be read, run by the fleet or
// not (a removed account's dead letters are still there, as with
// `flexlabel dlq --account`). A refusal (400 for a malformed name, 403 for
// an account the caller's token is not bound to) comes with the caller's
// landing view, for the error page around it.
func (h *Handler) resolveView(r *http.Request, p auth.Principal) (v view, status int, msg string) {
	home := landing(p)
	v, err := h.viewFor(home, home)
	if err != nil {
		return v, http.StatusInternalServerError, err.Error()
	}
	vals := r.URL.Query()[accountParam]
	switch {
	case len(vals) == 0:
		return v, 0, ""
	case len(vals) > 1:
		return v, http.StatusBadRequest, fmt.Sprintf("%s: give one account, got %d", accountParam, len(vals))
	case !queue.ValidAccountName(vals[0]):
		return v, http.StatusBadRequest, fmt.Sprintf("%s: %s is not an account name: 1 to 32 of a-z, 0-9 and -", accountParam, shown(vals[0]))
	}
	if err := p.CheckAccount(vals[0]); err != nil {
		return v, http.StatusForbidden, accountParam + ": " + err.Error()
	}
	named, err := h.viewFor(vals[0], home)
	if err != nil {
		return v, http.StatusInternalServerError, err.Error()
	}
	return named, 0, ""
}

// viewFor is the view of account a for a caller landing on home.
func (h *Handler) viewFor(a, home string) (view, error) {
	q, err := h.q.ForAccount(a)
	if err != nil {
		return view{}, fmt.Errorf("account %q: %w", a, err) // a valid name: only a bug gets here
	}
	return view{q: q, account: a, named: a != queue.DefaultAccount || home != queue.DefaultAccount}, nil
}

// shown is how an error quotes a parameter's value: in full when it is
// short, otherwise by its length.
func shown(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("a value of %d bytes", len(s))
	}
	return strconv.Quote(s)
}

// url is path with query q, and the account when links name it.
func (v view) url(path string, q url.Values) string {
	if v.named {
		q = cloneValues(q)
		q.Set(accountParam, v.account)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// link is url with the parameters kv (name, value, …).
func (v view) link(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return v.url(path, q)
}

// labelURL is the label page of key in the view's account.
func (v view) labelURL(key string) string { return v.link("/ui/label", "key", key) }

// filterURL is path with the filter's query (and extra parameters) in the
// view's account.
func (v view) filterURL(f filter, path string, extra ...string) string {
	q := f.Query()
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return v.url(path, q)
}

// of is " of account A" for a named account, "" otherwise: what an action
// says it acts on.
func (v view) of() string {
	if !v.named {
		return ""
	}
	return " of account " + v.account
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q)+1)
	for k, vs := range q {
		c[k] = slices.Clone(vs)
	}
	return c
}

// accountsBar is what the header shows of accounts: the current one, the
// ones to switch to, and whether the fleet's workers run the current one.
type accountsBar struct {
	// Choices are the accounts the selector offers (the caller's bound
	// accounts, or the default account and the fleet's); none when there
	// is nothing to switch to.
	Choices []string
	// NotRun: the fleet's workers do not run the account, so its redriven
	// jobs wait until one does.
	NotRun bool
	// Switch is the page the selector goes to: this one when it is the
	// overview or the dead-letter list, otherwise the overview (another
	// account's label of the same key is another label).
	Switch string
}

func (h *Handler) accountsBar(ctx context.Context, r *http.Request, p auth.Principal, v view) (accountsBar, error) {
	fleet, err := v.q.FleetAccounts(ctx)
	if err != nil {
		return accountsBar{}, err
	}
	b := accountsBar{Switch: "/ui/"}
	if r.URL.Path == "/ui/dead-letters" {
		b.Switch = r.URL.Path
	}
	if len(fleet) == 0 {
		b.NotRun = v.account != queue.DefaultAccount
	} else {
		b.NotRun = !slices.Contains(fleet, v.account)
	}
	var list []string
	if len(p.Accounts) > 0 {
		list = slices.Clone(p.Accounts)
	} else {
		list = []string{queue.DefaultAccount}
		for _, a := range fleet {
			if a != queue.DefaultAccount {
				list = append(list, a)
			}
		}
	}
	if !slices.Contains(list, v.account) {
		list = append(list, v.account)
	}
	if len(list) > 1 {
		b.Choices = list
	}
	return b, nil
}

// fleetWide serves next only to callers whose token is not bound to
// accounts: the pages that show every account's jobs or the fleet's own
// settings (asynqmon, the webhooks, the tokens).
func fleetWide(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := fleetRefusal(r); msg != "" {
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fleetRefusal is why the caller may not use a fleet-wide page ("" if it
// may).
func fleetRefusal(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	if len(p.Accounts) == 0 {
		return ""
	}
	return "forbidden: this page is the whole fleet's, and this token is bound to accounts " + strings.Join(p.Accounts, ", ")
}
