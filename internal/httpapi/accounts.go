package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/queue"
)

// accountHeader names the Flex Forward account of a request to a label or
// dead-letter route; without it, the default account.
const accountHeader = "Flexlabel-Account"

// defaultAccountTTL is how long the API trusts what it learnt of an
// account (whether the fleet runs it): a request costs no round trip to
// Redis for it most of the time, and an account the workers start running
// is accepted within this long.
const defaultAccountTTL = 2 * time.Second

// maxCachedAccounts bounds the accounts remembered: past it, expired
// entries are swept, and a refusal is no longer remembered (so names
// invented by a client cannot grow the cache without end).
const maxCachedAccounts = 10_000

// accountCache maps account names to their queues (built once) and to
// the last check of whether the fleet runs them. It is safe for
// concurrent use.
type accountCache struct {
	base *queue.Queue
	ttl  time.Duration
	now  func() time.Time

	mu sync.Mutex
	m  map[string]*accountEntry
}

type accountEntry struct {
	q *queue.Queue
	// err is the check's refusal (wrapping queue.ErrUnknownAccount); nil:
	// the fleet runs the account.
	err     error
	checked time.Time
}

func newAccountCache(base *queue.Queue) *accountCache {
	return &accountCache{base: base, ttl: defaultAccountTTL, now: time.Now, m: map[string]*accountEntry{}}
}

// queue returns the queue of account a once the fleet runs it. The error
// wraps queue.ErrUnknownAccount for an account it does not run; any other
// error is Redis failing to say, and is not remembered.
func (c *accountCache) queue(ctx context.Context, a string) (*queue.Queue, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[a]
	if ok && now.Sub(e.checked) < c.ttl {
		c.mu.Unlock()
		return e.q, e.err
	}
	c.mu.Unlock()

	var q *queue.Queue
	if ok {
		q = e.q
	} else {
		var err error
		if q, err = c.base.ForAccount(a); err != nil {
			return nil, err // a is a valid name: only a bug gets here
		}
	}
	err := q.CheckAccount(ctx)
	if err != nil && !errors.Is(err, queue.ErrUnknownAccount) {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedAccounts {
		for name, old := range c.m {
			if now.Sub(old.checked) >= c.ttl {
				delete(c.m, name)
			}
		}
	}
	if _, known := c.m[a]; known || err == nil || len(c.m) < maxCachedAccounts {
		c.m[a] = &accountEntry{q: q, err: err, checked: now}
	}
	return q, err
}

// accountRefusal is why a request's account is refused: code 400 or 403,
// and the message, which names the header.
type accountRefusal struct {
	code int
	// account is the refused account, "" when the header names none
	// that can exist.
	account string
	msg     string
}

// requestAccount resolves the request's account to its queue: the
// Flexlabel-Account header's account, or the default one without the
// header (accountName, then checkAccount). The error is Redis failing to
// say whether the fleet runs the account (503).
func (h *Handler) requestAccount(r *http.Request) (*queue.Queue, *accountRefusal, error) {
	name, given, ref := accountName(r)
	if ref != nil {
		return nil, ref, nil
	}
	return h.checkAccount(r.Context(), name, given)
}

// accountName reads the request's account without asking Redis: the
// Flexlabel-Account header's, or the default account without the header
// (given false). It refuses a malformed name (400) and an account the
// caller's token is not bound to (403).
func accountName(r *http.Request) (name string, given bool, ref *accountRefusal) {
	vals := r.Header.Values(accountHeader)
	name, given = queue.DefaultAccount, len(vals) > 0
	switch {
	case len(vals) > 1:
		return "", true, &accountRefusal{code: http.StatusBadRequest,
			msg: fmt.Sprintf("%s: give one account, got %d headers", accountHeader, len(vals))}
	case given && !queue.ValidAccountName(vals[0]):
		return "", true, &accountRefusal{code: http.StatusBadRequest,
			msg: fmt.Sprintf("%s: %s is not an account name: 1 to 32 of a-z, 0-9 and -", accountHeader, shownHeader(vals[0]))}
	case given:
		name = vals[0]
	}
	if err := principalOf(r).CheckAccount(name); err != nil {
		msg := accountHeader + ": " + err.Error()
		if !given {
			msg += " (a request without the header is the default account's)"
		}
		return name, given, &accountRefusal{code: http.StatusForbidden, account: name, msg: msg}
	}
	return name, given, nil
}

// checkAccount returns the queue of the account name (given: named by the
// header) once the fleet runs it, and refuses (400) one it does not run.
// The error is Redis failing to say.
func (h *Handler) checkAccount(ctx context.Context, name string, given bool) (*queue.Queue, *accountRefusal, error) {
	q, err := h.accounts.queue(ctx, name)
	switch {
	case errors.Is(err, queue.ErrUnknownAccount):
		msg := accountHeader + ": " + err.Error()
		if !given {
			msg += " with the " + accountHeader + " header"
		}
		return nil, &accountRefusal{code: http.StatusBadRequest, account: name, msg: msg}, nil
	case err != nil:
		return nil, nil, err
	}
	return q, nil, nil
}

// accountQueue is requestAccount for a route whose errors are plain
// ({"error": …}): it answers a refusal or 503 itself and returns false.
func (h *Handler) accountQueue(w http.ResponseWriter, r *http.Request) (*queue.Queue, bool) {
	q, ref, err := h.requestAccount(r)
	switch {
	case err != nil:
		h.unavailable(w, r, err)
		return nil, false
	case ref != nil:
		writeError(w, ref.code, ref.msg)
		return nil, false
	}
	return q, true
}

// shownHeader is how an error quotes a header's value: in full when it is
// short, otherwise by its length (the error should not echo a large header).
func shownHeader(v string) string {
	if len(v) > 64 {
		return fmt.Sprintf("a value of %d bytes", len(v))
	}
	return strconv.Quote(v)
}
