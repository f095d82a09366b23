//go:build chaos

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
)

// chaosFake is a fakeapi process of its own, with one token per account.
type chaosFake struct {
	e      *chaosEnv
	url    string
	tokens []string
}

// startFake starts another fakeapi process with n tokens (its accounts
// account-1 … account-n).
func (e *chaosEnv) startFake(name string, n int) *chaosFake {
	e.t.Helper()
	f := &chaosFake{e: e}
	args := []string{"fakeapi", "--addr", "127.0.0.1:0"}
	for range n {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		tok := "tok-CHAOS-" + hex.EncodeToString(b)
		f.tokens = append(f.tokens, tok)
		args = append(args, "--token", tok)
	}
	p := e.startChaosProc(name, nil, args...)
	require.Eventually(e.t, func() bool {
		if m := chaosListeningRE.FindStringSubmatch(p.stderr()); m != nil {
			f.url = m[1]
		}
		return f.url != "" || !p.running()
	}, 15*time.Second, 10*time.Millisecond)
	require.NotEmpty(e.t, f.url, "%s did not start: %s", name, p.stderr())
	return f
}

func (f *chaosFake) post(path string, body any) {
	f.e.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(f.e.t, err)
	resp, err := http.Post(f.url+path, "application/json", strings.NewReader(string(b)))
	require.NoError(f.e.t, err)
	resp.Body.Close()
	require.Less(f.e.t, resp.StatusCode, 300, "%s %s", path, b)
}

func (f *chaosFake) ledger() flexapitest.Ledger {
	f.e.t.Helper()
	resp, err := http.Get(f.url + "/_fake/ledger")
	require.NoError(f.e.t, err)
	defer resp.Body.Close()
	var l flexapitest.Ledger
	require.NoError(f.e.t, json.NewDecoder(resp.Body).Decode(&l))
	return l
}

// accountStatuses reads the keys' statuses of an account with
// `flexlabel status --json --account`.
func (e *chaosEnv) accountStatuses(account string, keys []string) map[string]queue.JobStatus {
	e.t.Helper()
	r := e.cli("", append([]string{"status", "--json", "--account", account}, keys...)...)
	require.Contains(e.t, []int{0, 1}, r.code, r.stderr)
	out := map[string]queue.JobStatus{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var st queue.JobStatus
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &st))
		require.Equal(e.t, account, st.Account)
		out[st.IdempotencyKey] = st
	}
	return out
}

// chaosAccounts: five accounts on one fleet of two workers, one of them
// SIGKILLed mid-run — the default
// one (FLEXFORWARD_TOKEN), brand-a and brand-b healthy, brand-c's token
// revoked, brand-d's API answering 500 to everything — each enqueueing the
// same keys. The healthy accounts' labels are unaffected: each created
// exactly once, on its own account; brand-c's jobs are dead-lettered with
// auth after one call each, and brand-d's keep retrying on their own
// budget, touching no other account.
func chaosAccounts(t *testing.T, bin string) chaosResult {
	e := newChaosEnv(t, "accounts", bin)
	e.faults(map[string]any{"latency": "20ms"})
	healthy := e.startFake("fakeapi-accounts", 3) // brand-a, brand-b, brand-c
	healthy.post("/_fake/faults", map[string]any{"latency": "20ms"})
	healthy.post("/_fake/tokens", map[string]string{"token": healthy.tokens[2], "state": "revoked"})
	failing := e.startFake("fakeapi-failing", 1) // brand-d
	failing.post("/_fake/faults", map[string]any{"chaos500": 1.0})

	file := filepath.Join(e.dir, "accounts.yaml")
	var b strings.Builder
	b.WriteString("accounts:\n")
	for i, a := range []string{"brand-a", "brand-b", "brand-c"} {
		fmt.Fprintf(&b, "  - {name: %s, token: %s, rateLimit: 20, baseURL: %q}\n", a, healthy.tokens[i], healthy.url)
	}
	fmt.Fprintf(&b, "  - {name: brand-d, token: %s, rateLimit: 100, baseURL: %q}\n", failing.tokens[0], failing.url)
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	secrets := append(append([]string{}, healthy.tokens...), failing.tokens...)

	env := []string{"FLEXLABEL_ACCOUNTS_FILE=" + file, "FLEXLABEL_RETRY_BASE=2s", "FLEXLABEL_RETRY_MAX=30s"}
	w1 := e.startWorker("worker-1", env...)
	e.startWorker("worker-2", env...)
	// The tokens are checked once the worker runs, each on its account's
	// budget.
	require.Eventually(t, func() bool {
		return strings.Contains(w1.stderr(), `"msg":"account's token refused`) && strings.Contains(w1.stderr(), `"account":"brand-c"`)
	}, 10*time.Second, 20*time.Millisecond, "brand-c's refused token is reported at start: %s", w1.stderr())

	keys := e.keys("k", 0, 60)
	start := time.Now()
	path := e.requestsFile("accounts", keys)
	for _, a := range []string{"", "brand-a", "brand-b", "brand-c", "brand-d"} {
		args := []string{"bulk", "--json", path}
		if a != "" {
			args = append(args, "--account", a)
		}
		r := e.cli("", args...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		for _, k := range keys {
			require.Equal(t, "enqueued", chaosOutcomes(t, r.stdout)[k], "%s of account %q", k, a)
		}
	}

	// worker-1 SIGKILLed mid-run: its jobs in flight, of every account,
	// come back after their lease; released ones keep the slot they had.
	e.waitCount(keys, queue.StateCompleted, len(keys)/4, 30*time.Second)
	w1.signal(t, syscall.SIGKILL)
	require.True(t, w1.wait(5*time.Second))

	// The default account, beside the others, as every scenario checks it.
	e.waitTerminal(keys, 180*time.Second)
	created, _ := e.verify(keys, nil)
	var counts []string
	recalled := 0 // brand-c's keys called again after the kill
	for i, a := range []string{"brand-a", "brand-b", "brand-c"} {
		require.Eventually(t, func() bool {
			done := 0
			for _, st := range e.accountStatuses(a, keys) {
				if st.State == queue.StateCompleted && st.Label != nil && st.Label.URL != "" || st.State == queue.StateDead {
					done++
				}
			}
			return done == len(keys)
		}, 180*time.Second, 200*time.Millisecond, "account %s never finished (every label with its document URL)", a)
		sts := e.accountStatuses(a, keys)
		acct := healthy.ledger().Accounts[fmt.Sprintf("account-%d", i+1)]
		for _, k := range keys {
			st := sts[k]
			if a == "brand-c" {
				require.Equal(t, queue.StateDead, st.State, k)
				require.Equal(t, queue.ReasonAuth, st.DeadLetter.Reason, k)
				// One call, then dead-lettered, never retried; a job whose
				// 401 came to worker-1 just before the SIGKILL is called
				// once more after its lease (its dead letter was not
				// written): at most two.
				require.LessOrEqual(t, acct.CallsPerKey[k], 2, "%s of brand-c: one call, then dead-lettered", k)
				require.GreaterOrEqual(t, acct.CallsPerKey[k], 1, k)
				if acct.CallsPerKey[k] == 2 {
					recalled++
				}
				require.Zero(t, acct.CreatedPerKey[k])
				continue
			}
			require.Equal(t, queue.StateCompleted, st.State, "%s of %s", k, a)
			require.NotNil(t, st.Label, k)
			require.NotEmpty(t, st.Label.URL, "%s of %s: document URL", k, a)
			require.Equal(t, 1, acct.CreatedPerKey[k], "labels of %s for %s", a, k)
		}
		require.Zero(t, acct.RateLimited, "429s for %s", a)
		counts = append(counts, fmt.Sprintf("%s %d", a, acct.CreateCalls))
	}
	// The same orders under two accounts are a label each; within one
	// account, never two.
	for name, acct := range healthy.ledger().Accounts {
		for order, n := range acct.LabelsPerOrder {
			require.LessOrEqual(t, n, 1, "order %s has %d labels in %s", order, n, name)
		}
	}

	// brand-d: every job still retrying on its own, none dead or made.
	dsts := e.accountStatuses("brand-d", keys)
	tried := 0
	for _, k := range keys {
		st := dsts[k]
		require.NotEqual(t, queue.StateCompleted, st.State, k)
		require.NotEqual(t, queue.StateDead, st.State, "%s of brand-d: dead-lettered instead of retried", k)
		if st.Attempts > 0 {
			tried++
		}
	}
	require.NotZero(t, tried)
	fl := failing.ledger()
	require.Zero(t, fl.LabelsCreated)

	for _, p := range []string{"worker-1", "worker-2"} {
		for _, pr := range e.procs {
			if pr.name == p {
				for _, s := range secrets {
					require.NotContains(t, pr.stderr(), s, "an account's token in %s's log", p)
				}
			}
		}
	}
	dump := e.dumpRedis()
	for _, s := range secrets {
		require.NotContains(t, dump, s, "an account's token in Redis")
	}
	return chaosResult{
		name: "several accounts", labels: 5 * len(keys), created: created + 2*len(keys), dead: len(keys), took: time.Since(start),
		notes: fmt.Sprintf("worker-1 SIGKILLed mid-run; default, brand-a, brand-b each %d labels created exactly once (creates: default %d, %s); brand-c (token revoked) %d dead-lettered auth after 1 call each (%d called again after the kill, their 401 not yet recorded); brand-d (API answering 500) %d of %d tried, none dead, %d calls on its own budget; no 429, no token in logs or Redis",
			len(keys), e.ledger().CreateCalls, strings.Join(counts[:2], ", "), len(keys), recalled, tried, len(keys), fl.TotalCalls),
	}
}
