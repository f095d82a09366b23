//go:build linux

package main

// BenchmarkAccountsFairness (worker/accounts_bench_test.go) with real
// processes (issue 17: "1 and 4 worker processes"): `flexlabel fakeapi`
// and 1 or 4 `flexlabel worker` processes running an accounts file of 200
// accounts, each its own Go runtime and Redis connections, the fake API's
// CPU out of theirs. Run by `make bench`.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The processes benchmark's accounts: as worker/accounts_bench_test.go's,
// 9.5 calls/s each against a fake limiting each to 10 per wall-clock
// second after 30 ms of latency.
const (
	procAcctRate  = 9.5
	procAPILimit  = 10
	procLatency   = 30 * time.Millisecond
	procAccounts  = 200
	procPerAcct   = 110
	procWorkerCPU = 50 // FLEXLABEL_CONCURRENCY
)

var procListeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// benchBinary builds flexlabel from the module root into a temporary
// directory.
func benchBinary(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(b, err)
	bin := filepath.Join(b.TempDir(), "flexlabel")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/flexlabel")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	o, err := cmd.CombinedOutput()
	require.NoError(b, err, "go build: %s", o)
	return bin
}

// benchProc is a flexlabel process of the benchmark; its standard error is
// kept in memory.
type benchProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	errb bytes.Buffer
	done chan struct{}
}

func (p *benchProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.Write(b)
}

func (p *benchProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// startBenchProc starts bin with args and env (nothing inherited), killed
// with the benchmark.
func startBenchProc(b *testing.B, bin string, env []string, args ...string) *benchProc {
	b.Helper()
	p := &benchProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(b, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit.
func (p *benchProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpu is the CPU time (user + system) the process has used, from
// /proc/<pid>/stat; 0 if it cannot be read.
func (p *benchProc) cpu() time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// procRun is what one run of runAccountProcs measured.
type procRun struct {
	workers, labels     int
	minRatio, medRatio  float64
	jain                float64
	busy, tooMany       int
	took                time.Duration
	workerCPU, redisCPU time.Duration
	fakeCPU             time.Duration
	redisCmds           int64 // Redis's commands over the run (the benchmark's polling in)
	top                 []queuetest.CommandStat
}

func (r procRun) cpuPerLabel() time.Duration {
	return (r.workerCPU + r.redisCPU) / time.Duration(max(r.labels, 1))
}

func (r procRun) String() string {
	sec := r.took.Seconds()
	return fmt.Sprintf("%d accounts of %.1f/s (the API's limit %d/s), %d worker processes: calls/s ÷ budget min %.3f, median %.3f (%d busy seconds), Jain %.4f, %d 429s; %d labels in %s (%.0f/s); CPU %s per label (the workers %.2f cores, Redis %.2f; the fake API, not counted, %.2f); %.0f Redis commands/s",
		procAccounts, procAcctRate, procAPILimit, r.workers, r.minRatio, r.medRatio, r.busy, r.jain, r.tooMany, r.labels,
		r.took.Round(100*time.Millisecond), float64(r.labels)/sec, r.cpuPerLabel().Round(time.Microsecond),
		r.workerCPU.Seconds()/sec, r.redisCPU.Seconds()/sec, r.fakeCPU.Seconds()/sec, float64(r.redisCmds)/sec)
}

// runAccountProcs gives each account a backlog of procPerAcct bulk
// labels, starts the worker processes, waits until every label is made
// and measures each account's calls per busy second ÷ its budget (from the
// fake's ledger, per second of arrival), their fairness, the 429s and
// the CPU per label.
func runAccountProcs(b *testing.B, bin string, workers int) procRun {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	rp := queuetest.StartRedis(b)
	rdb := redis.NewClient(rp.Options())
	b.Cleanup(func() { rdb.Close() })
	const ns = "acp"

	args := []string{"fakeapi", "--addr", "127.0.0.1:0", "--latency", procLatency.String()}
	tokens := make([]string, procAccounts)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok-bench-%04d-SECRET-3b9e", i)
		args = append(args, "--token", tokens[i])
	}
	fake := startBenchProc(b, bin, []string{"FLEXLABEL_LOG_FORMAT=json"}, args...)
	var url string
	require.Eventually(b, func() bool {
		if m := procListeningRE.FindStringSubmatch(fake.stderr()); m != nil {
			url = m[1]
		}
		return url != ""
	}, 15*time.Second, 10*time.Millisecond, "fakeapi did not start: %s", fake.stderr())
	body, _ := json.Marshal(map[string]any{"accountRateLimit": procAPILimit})
	resp, err := http.Post(url+"/_fake/faults", "application/json", bytes.NewReader(body))
	require.NoError(b, err)
	resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode)

	var file strings.Builder
	file.WriteString("accounts:\n")
	names := make([]string, procAccounts)
	for i := range names {
		names[i] = fmt.Sprintf("acct-%04d", i)
		fmt.Fprintf(&file, "  - name: %s\n    token: %s\n    rateLimit: %v\n    baseURL: %s\n", names[i], tokens[i], procAcctRate, url)
	}
	accountsFile := filepath.Join(dir, "accounts.yaml")
	require.NoError(b, os.WriteFile(accountsFile, []byte(file.String()), 0o600))

	q, err := queue.New(rdb, queue.Options{Namespace: ns})
	require.NoError(b, err)
	for _, a := range names {
		qa, err := q.ForAccount(a)
		require.NoError(b, err)
		reqs := make([]*flexapi.LabelRequest, procPerAcct)
		for i := range reqs {
			reqs[i] = queuetest.Request(fmt.Sprintf("%s-%03d", a, i), "")
		}
		res, err := qa.EnqueueMany(ctx, reqs, queue.Bulk)
		require.NoError(b, err)
		for _, r := range res {
			require.Equal(b, queue.Enqueued, r.Outcome)
		}
	}

	total := procAccounts * procPerAcct
	env := []string{"REDIS_URL=" + rp.URL(), "FLEXLABEL_QUEUE=" + ns, "FLEXLABEL_LOG_FORMAT=json",
		"FLEXLABEL_ACCOUNTS_FILE=" + accountsFile, "FLEXLABEL_CONCURRENCY=" + strconv.Itoa(procWorkerCPU)}
	rc0, fc0, cmds0 := queuetest.RedisCPU(rdb), fake.cpu(), queuetest.RedisCommands(rdb)
	stats0 := queuetest.RedisCommandStats(rdb)
	start := time.Now()
	ws := make([]*benchProc, workers)
	for i := range ws {
		ws[i] = startBenchProc(b, bin, env, "worker")
	}
	// Done when no account has a job held and the accounts' queues are
	// empty (polling Redis, not the fake, whose ledger is large).
	insp := asynq.NewInspectorFromRedisClient(rdb)
	deadline := time.Now().Add(60*time.Second + 3*procPerAcct*time.Second/10) // 3 × the backlog at 10/s, and a minute
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		pipe := rdb.Pipeline()
		lens := make([]*redis.IntCmd, 0, 2*len(names))
		for _, a := range names {
			for _, lane := range []string{"held:i", "held:b"} {
				lens = append(lens, pipe.LLen(ctx, "fl:"+ns+"@"+a+":"+lane))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			continue
		}
		held := int64(0)
		for _, c := range lens {
			held += c.Val()
		}
		if held > 0 {
			continue
		}
		left := 0
		qs, err := insp.Queues()
		if err != nil {
			continue
		}
		for _, name := range []string{ns + "@", ns + "@-bulk"} {
			if !slices.Contains(qs, name) {
				continue // never used: empty
			}
			if info, err := insp.GetQueueInfo(name); err == nil {
				left += info.Pending + info.Active + info.Retry + info.Scheduled
			} else {
				left++
			}
		}
		if left == 0 {
			break
		}
	}
	r := procRun{workers: workers, took: time.Since(start)}
	for _, w := range ws {
		r.workerCPU += w.cpu()
	}
	r.redisCPU, r.fakeCPU = queuetest.RedisCPU(rdb)-rc0, fake.cpu()-fc0
	r.redisCmds = queuetest.RedisCommands(rdb) - cmds0
	r.top = queuetest.TopCommands(stats0, queuetest.RedisCommandStats(rdb), 8)
	for _, w := range ws {
		w.stop()
	}

	resp, err = http.Get(url + "/_fake/ledger")
	require.NoError(b, err)
	var l flexapitest.Ledger
	require.NoError(b, json.NewDecoder(resp.Body).Decode(&l))
	resp.Body.Close()
	r.labels = l.LabelsCreated
	if r.labels < total {
		b.Logf("only %d of %d labels created in %s", r.labels, total, r.took.Round(time.Second))
	}
	ratios := make([]float64, 0, procAccounts)
	busy := make([]int, 0, procAccounts)
	var sum, sumSq float64
	for i := range names {
		a := l.Accounts[fmt.Sprintf("account-%d", i+1)]
		r.tooMany += a.RateLimited
		ratio, n := busyRatio(a)
		ratios, busy = append(ratios, ratio), append(busy, n)
		sum += ratio
		sumSq += ratio * ratio
	}
	slices.Sort(ratios)
	slices.Sort(busy)
	r.minRatio, r.medRatio, r.busy = ratios[0], ratios[len(ratios)/2], busy[len(busy)/2]
	if sumSq > 0 {
		r.jain = sum * sum / (float64(len(ratios)) * sumSq)
	}
	return r
}

// busyRatio is an account's calls per busy second ÷ its budget, its busy
// seconds those strictly between its first and last second with a create
// call (both partial), as the in-process benchmark counts them; 0 with
// none.
func busyRatio(a flexapitest.AccountLedger) (float64, int) {
	var first, last int64 = 1 << 62, 0
	for s := range a.CreateCallsPerSecond {
		first, last = min(first, s), max(last, s)
	}
	n, calls := 0, 0
	for s := first + 1; s < last; s++ {
		n++
		calls += a.CallsPerSecond[s]
	}
	if n == 0 {
		return 0, 0
	}
	return float64(calls) / float64(n) / procAcctRate, n
}

// BenchmarkAccountsFairnessProcesses runs 200 accounts of 9.5 calls/s on
// one Redis, each with a backlog of 110 bulk labels, with 1 and 4 worker
// processes (`flexlabel worker` with FLEXLABEL_ACCOUNTS_FILE, tracking on
// as by default) against a `flexlabel fakeapi` process limiting each
// account to 10 calls per wall-clock second. It reports, as
// BenchmarkAccountsFairness does, the minimum and median over accounts of
// calls per busy second ÷ budget (goal ≥ 0.95), Jain's index (≥ 0.99),
// the 429s (0), and the CPU per label of the workers and Redis.
func BenchmarkAccountsFairnessProcesses(b *testing.B) {
	bin := benchBinary(b)
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				r := runAccountProcs(b, bin, workers)
				b.ReportMetric(r.minRatio, "min_rate÷budget")
				b.ReportMetric(r.medRatio, "median_rate÷budget")
				b.ReportMetric(r.jain, "jain_index")
				b.ReportMetric(float64(r.tooMany), "429s")
				b.ReportMetric(float64(r.cpuPerLabel().Nanoseconds())/1000, "cpu_µs/label")
				b.ReportMetric(float64(r.redisCmds)/r.took.Seconds(), "redis_cmds/s")
				b.Logf("%s", r)
				var top strings.Builder
				for _, c := range r.top {
					fmt.Fprintf(&top, " %s %.0f/s %.0f ms/s;", c.Name, float64(c.Calls)/r.took.Seconds(), c.Time.Seconds()*1000/r.took.Seconds())
				}
				b.Logf("Redis's most time:%s", top.String())
			}
		})
	}
}
