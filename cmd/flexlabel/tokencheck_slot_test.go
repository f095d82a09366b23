package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/worker"
)

// The token checks outside a worker's jobs — doctor's, and the worker's
// at start with FLEXFORWARD_TOKEN — take a slot of their account's budget,
// so that one beside a fleet at its budget does not go past the API's
// limit. Each test takes the budget's slot first, at 0.5 calls/s: the
// check's GET /couriers then comes an interval (2 s) later, not at once.
const slotTestRate = 0.5

// takeSlotNow takes q's budget slot at slotTestRate and returns when.
func takeSlotNow(t *testing.T, q *queue.Queue) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, worker.TakeSlot(ctx, q, slotTestRate))
	return time.Now()
}

// couriersClock is a front to the fake API that records when GET
// /couriers came.
type couriersClock struct {
	mu sync.Mutex
	at []time.Time
}

func (c *couriersClock) front(t *testing.T, fake http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/couriers" {
			c.mu.Lock()
			c.at = append(c.at, time.Now())
			c.mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (c *couriersClock) calls() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// afterAnInterval: the check came at least most of an interval after the
// slot before it (a lower bound: a slow machine only makes it later).
func afterAnInterval(t *testing.T, taken time.Time, calls []time.Time) {
	t.Helper()
	require.Len(t, calls, 1)
	require.GreaterOrEqual(t, calls[0].Sub(taken), 1500*time.Millisecond,
		"the token check did not wait for its budget slot")
}

func TestDoctor_TokenCheckTakesItsBudgetSlot(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.New(flexapitest.WithToken(cliToken, "acct"))
	var clock couriersClock
	c.env["FLEXFORWARD_TOKEN"] = cliToken
	c.env["FLEXFORWARD_BASE_URL"] = clock.front(t, fake)
	c.env["FLEXLABEL_RATE_LIMIT"] = "0.5"
	taken := takeSlotNow(t, c.queue(t))
	r := c.run(t, "", "doctor", "--json")
	require.Equal(t, "accepted", doctorJSON(t, r).FlexForward.Token, r.stdout+r.stderr)
	afterAnInterval(t, taken, clock.calls())
}

func TestDoctor_Accounts_TokenCheckTakesTheAccountsBudgetSlot(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.New(flexapitest.WithToken(cliAccountToken("brand-a"), "brand-a"))
	var clock couriersClock
	url := clock.front(t, fake)
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	require.NoError(t, os.WriteFile(file, []byte("accounts:\n  - name: brand-a\n    token: "+cliAccountToken("brand-a")+
		"\n    rateLimit: 0.5\n    baseURL: "+url+"\n"), 0o600))
	c.env["FLEXLABEL_ACCOUNTS_FILE"] = file
	qa, err := c.queue(t).ForAccount("brand-a")
	require.NoError(t, err)
	taken := takeSlotNow(t, qa)
	r := c.run(t, "", "doctor", "--json")
	rep := doctorJSON(t, r)
	require.Len(t, rep.Accounts, 1, r.stdout+r.stderr)
	require.Equal(t, "accepted", rep.Accounts[0].Token, r.stdout+r.stderr)
	afterAnInterval(t, taken, clock.calls())
}

func TestWorker_TokenCheckAtStartTakesItsBudgetSlot(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := flexapitest.New(flexapitest.WithToken(cliToken, "acct"))
	var clock couriersClock
	env := map[string]string{"FLEXFORWARD_TOKEN": cliToken, "FLEXFORWARD_BASE_URL": clock.front(t, fake), "FLEXLABEL_RATE_LIMIT": "0.5"}
	for k, v := range c.env {
		env[k] = v
	}
	taken := takeSlotNow(t, c.queue(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"worker"}, env, strings.NewReader(""), &logs, &logs) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "FLEXFORWARD_TOKEN accepted") }, 20*time.Second, 20*time.Millisecond, logs.String())
	cancel()
	require.NoError(t, <-done)
	afterAnInterval(t, taken, clock.calls())
	require.NotContains(t, logs.String(), cliToken)
}
