//go:build chaos

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// buildChaosBinary builds the binary from the module root into dir.
func buildChaosBinary(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "flexlabel")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/flexlabel")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return bin
}

// chaosProc is one flexlabel process started by a chaos test; its standard
// streams go to files.
type chaosProc struct {
	name       string
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	started    time.Time
	done       chan struct{} // closed once the process has exited and been reaped
	exited     time.Time
	state      *os.ProcessState
}

func startChaosProc(t *testing.T, dir, name, bin string, env []string, args ...string) *chaosProc {
	t.Helper()
	p := &chaosProc{
		name:       name,
		stdoutPath: filepath.Join(dir, name+".stdout"),
		stderrPath: filepath.Join(dir, name+".stderr"),
		done:       make(chan struct{}),
	}
	stdout, err := os.Create(p.stdoutPath)
	require.NoError(t, err)
	stderr, err := os.Create(p.stderrPath)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	p.cmd.SysProcAttr = chaosSysProcAttr()
	started := make(chan error, 1)
	go func() {
		// Hold the thread that started the child until it exits: the
		// parent-death signal fires when that thread goes away.
		runtime.LockOSThread()
		err := p.cmd.Start()
		p.started = time.Now()
		started <- err
		if err == nil {
			_ = p.cmd.Wait()
			p.exited = time.Now()
			p.state = p.cmd.ProcessState
			close(p.done)
		}
		stdout.Close()
		stderr.Close()
	}()
	require.NoError(t, <-started, "starting %s", name)
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *chaosProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *chaosProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.True(t, p.running(), "%s exited early: %v\n%s", p.name, p.state, p.tail(4096))
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *chaosProc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *chaosProc) stderr() string {
	b, _ := os.ReadFile(p.stderrPath)
	return string(b)
}

func (p *chaosProc) tail(n int) string {
	s := p.stderr()
	return s[max(0, len(s)-n):]
}

// lines is the number of lines the process has written to stderr so far.
func (p *chaosProc) lines() int { return strings.Count(p.stderr(), "\n") }

func (p *chaosProc) cpu() time.Duration { return cpuTime(p.cmd.Process.Pid) }

// chaosEnv is one scenario's world: a redis-server of its own, the fake API
// as a process, a unique queue, and the flexlabel binary.
type chaosEnv struct {
	t      *testing.T
	name   string
	bin    string
	dir    string
	token  string
	redis  *queuetest.RedisProcess // nil on a Sentinel topology
	topo   *queuetest.Topology     // nil on a redis-server of its own
	rdb    *redis.Client           // the test's own client: direct, or Sentinel's failover client
	env    []string                // variables every flexlabel command of the scenario gets, beyond baseEnv's
	q      *queue.Queue
	ns     string
	fake   *chaosProc
	apiURL string
	mu     sync.Mutex
	procs  []*chaosProc
	start  time.Time
}

var chaosListeningRE = regexp.MustCompile(`listening on (http://[0-9.]+:[0-9]+)`)

func newChaosEnv(t *testing.T, name, bin string, redisArgs ...string) *chaosEnv {
	t.Helper()
	r := queuetest.StartRedis(t, redisArgs...)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	return newChaosEnvOn(t, name, bin, rdb, r, nil)
}

// newChaosSentinelEnv is newChaosEnv on a Sentinel topology: every process
// gets the topology's REDIS_URL (the Sentinel form), and the test's own
// client is go-redis's failover client, so it follows a failover too.
func newChaosSentinelEnv(t *testing.T, name, bin string, topo *queuetest.Topology) *chaosEnv {
	t.Helper()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: topo.MasterName(), SentinelAddrs: topo.SentinelAddrs(),
		MaxRetries: -1, DialTimeout: time.Second,
	})
	return newChaosEnvOn(t, name, bin, rdb, nil, topo)
}

// newChaosEnvOn starts the fake API and opens the scenario's queue on rdb,
// which the env closes at the end; the processes' REDIS_URL is r's or
// topo's (one of them nil).
func newChaosEnvOn(t *testing.T, name, bin string, rdb *redis.Client, r *queuetest.RedisProcess, topo *queuetest.Topology) *chaosEnv {
	t.Helper()
	tok := make([]byte, 12)
	_, _ = rand.Read(tok)
	e := &chaosEnv{
		t:     t,
		name:  name,
		bin:   bin,
		dir:   chaosLogDir(t),
		token: "tok-CHAOS-" + hex.EncodeToString(tok),
		rdb:   rdb,
		redis: r,
		topo:  topo,
		ns:    queuetest.Prefix(t),
		start: time.Now(),
	}
	t.Cleanup(func() { _ = e.rdb.Close() })
	var err error
	e.q, err = queue.New(e.rdb, queue.Options{Namespace: e.ns})
	require.NoError(t, err)

	e.fake = e.startChaosProc("fakeapi", nil, "fakeapi", "--addr", "127.0.0.1:0", "--token", e.token)
	require.Eventually(t, func() bool {
		m := chaosListeningRE.FindStringSubmatch(e.fake.stderr())
		if m != nil {
			e.apiURL = m[1]
		}
		return m != nil || !e.fake.running()
	}, 15*time.Second, 10*time.Millisecond)
	require.NotEmpty(t, e.apiURL, "fakeapi did not start: %s", e.fake.stderr())

	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range e.procs {
				t.Logf("--- %s (%s) stderr tail:\n%s", p.name, p.stderrPath, p.tail(3000))
			}
		}
	})
	return e
}

// chaosLogDir is where a scenario's process logs go: a directory under
// $FLEXLABEL_CHAOS_LOGS when set (kept, for CI artifacts), else a temporary one.
func chaosLogDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("FLEXLABEL_CHAOS_LOGS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func (e *chaosEnv) startChaosProc(name string, extraEnv []string, args ...string) *chaosProc {
	e.t.Helper()
	p := startChaosProc(e.t, e.dir, name, e.bin, append(e.baseEnv(), extraEnv...), args...)
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// baseEnv is what every flexlabel command of the scenario gets; nothing is
// inherited from the test's own environment.
func (e *chaosEnv) baseEnv() []string {
	url := ""
	if e.topo != nil {
		url = e.topo.URL()
	} else {
		url = e.redis.URL()
	}
	return append([]string{
		"REDIS_URL=" + url,
		"FLEXLABEL_QUEUE=" + e.ns,
		"FLEXLABEL_LOG_FORMAT=json",
	}, e.env...)
}

func (e *chaosEnv) startWorker(name string, extraEnv ...string) *chaosProc {
	e.t.Helper()
	env := append([]string{
		"FLEXFORWARD_TOKEN=" + e.token,
		"FLEXFORWARD_BASE_URL=" + e.apiURL,
		"FLEXLABEL_RETRY_BASE=100ms",
		"FLEXLABEL_RETRY_MAX=1s",
		"FLEXLABEL_RATE_LIMIT=200",
		"FLEXLABEL_SHUTDOWN_TIMEOUT=5s",
	}, extraEnv...)
	p := e.startChaosProc(name, env, "worker")
	require.Eventually(e.t, func() bool {
		return strings.Contains(p.stderr(), "flexlabel worker running") || !p.running()
	}, 15*time.Second, 10*time.Millisecond)
	require.True(e.t, p.running(), "%s exited at start: %s", name, p.stderr())
	return p
}

// chaosCLIResult is one finished flexlabel command.
type chaosCLIResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run runs one flexlabel command to completion; it is safe to call from any
// goroutine (it never fails the test).
func (e *chaosEnv) run(stdin string, args ...string) (chaosCLIResult, error) {
	return e.runEnv(nil, stdin, args...)
}

// runEnv is run with variables beyond baseEnv's.
func (e *chaosEnv) runEnv(extraEnv []string, stdin string, args ...string) (chaosCLIResult, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(e.baseEnv(), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := chaosCLIResult{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code, err = ee.ExitCode(), nil
	}
	return r, err
}

// cli runs one flexlabel command to completion and checks that its output
// does not carry the token.
func (e *chaosEnv) cli(stdin string, args ...string) chaosCLIResult {
	e.t.Helper()
	r, err := e.run(stdin, args...)
	require.NoError(e.t, err, "running flexlabel %v", args)
	e.checkNoToken("flexlabel "+strings.Join(args, " ")+" output", r.stdout+r.stderr)
	return r
}

// keys returns n idempotency keys of the scenario.
func (e *chaosEnv) keys(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%s-%05d", e.name, prefix, from+i)
	}
	return out
}

// requestsFile writes the keys' requests as NDJSON and returns its path.
func (e *chaosEnv) requestsFile(name string, keys []string) string {
	e.t.Helper()
	var b bytes.Buffer
	for _, k := range keys {
		b.Write(queuetest.RequestJSON(k, ""))
		b.WriteByte('\n')
	}
	path := filepath.Join(e.dir, name+".ndjson")
	require.NoError(e.t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

// parseChaosOutcomes reads enqueue's (or bulk --json's) result lines by key; it
// never fails the test, so producers in goroutines can use it.
func parseChaosOutcomes(stdout string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Key     string `json:"idempotencyKey"`
			Outcome string `json:"outcome"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%w: %s", err, sc.Text())
		}
		if r.Key != "" {
			out[r.Key] = r.Outcome
		}
	}
	return out, sc.Err()
}

func chaosOutcomes(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out, err := parseChaosOutcomes(stdout)
	require.NoError(t, err)
	return out
}

// enqueue runs `flexlabel enqueue` (interactive lane) or `flexlabel bulk`
// on the keys and requires every key enqueued.
func (e *chaosEnv) enqueue(cmd string, keys []string) {
	e.t.Helper()
	path := e.requestsFile(fmt.Sprintf("%s-%d", cmd, time.Now().UnixNano()), keys)
	args := []string{"enqueue", path}
	if cmd == "bulk" {
		args = []string{"bulk", "--json", path}
	}
	r := e.cli("", args...)
	require.Equal(e.t, 0, r.code, "flexlabel %v: %s\n%s", args, r.stderr, r.stdout[:min(len(r.stdout), 2000)])
	got := chaosOutcomes(e.t, r.stdout)
	for _, k := range keys {
		require.Equal(e.t, "enqueued", got[k], "%s: %s", k, r.stdout[:min(len(r.stdout), 2000)])
	}
}

// fakeJSON calls the fake's admin API.
func (e *chaosEnv) fakeJSON(method, path string, body any, out any) {
	e.t.Helper()
	e.fakeJSONTo(e.t, method, path, body, out)
}

// fakeJSONTo is fakeJSON reporting failures to t, which may be the CollectT
// of an EventuallyWithT condition (not the test's goroutine).
func (e *chaosEnv) fakeJSONTo(t require.TestingT, method, path string, body any, out any) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.apiURL+path, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out))
	}
}

func (e *chaosEnv) faults(f map[string]any) { e.fakeJSON(http.MethodPost, "/_fake/faults", f, nil) }

func (e *chaosEnv) tokenState(state string) {
	e.fakeJSON(http.MethodPost, "/_fake/tokens", map[string]string{"token": e.token, "state": state}, nil)
}

func (e *chaosEnv) ledger() flexapitest.Ledger {
	e.t.Helper()
	return e.ledgerTo(e.t)
}

// ledgerTo is ledger reporting failures to t (see fakeJSONTo).
func (e *chaosEnv) ledgerTo(t require.TestingT) flexapitest.Ledger {
	var l flexapitest.Ledger
	e.fakeJSONTo(t, http.MethodGet, "/_fake/ledger", nil, &l)
	return l
}

// states reads the keys' states straight from Redis (fast, for polling).
func (e *chaosEnv) states(keys []string) (map[queue.State]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := e.q.States(ctx, keys)
	if err != nil {
		return nil, err
	}
	n := map[queue.State]int{}
	for _, s := range sts {
		n[s]++
	}
	return n, nil
}

// waitCount waits until at least n of the keys are in state st.
func (e *chaosEnv) waitCount(keys []string, st queue.State, n int, timeout time.Duration) {
	e.t.Helper()
	var last map[queue.State]int
	require.Eventually(e.t, func() bool {
		s, err := e.states(keys)
		if err != nil {
			return false
		}
		last = s
		return s[st] >= n
	}, timeout, 10*time.Millisecond, "waiting for %d of %d keys %s; states %v", n, len(keys), st, &last)
}

// waitTerminal waits until every key is completed or dead.
func (e *chaosEnv) waitTerminal(keys []string, timeout time.Duration) {
	e.t.Helper()
	var last map[queue.State]int
	require.Eventually(e.t, func() bool {
		s, err := e.states(keys)
		if err != nil {
			return false
		}
		last = s
		return s[queue.StateCompleted]+s[queue.StateDead] == len(keys)
	}, timeout, 50*time.Millisecond, "waiting for %d keys to finish; states %v", len(keys), &last)
}

// verify checks the end state of a scenario: every key completed except
// those in dead (key → reason), each completed key's label created exactly
// once and no other label, no order with two labels; it reads states with
// `flexlabel status --json` and the fake's ledger. It returns the numbers
// of labels created and of dead keys.
func (e *chaosEnv) verify(keys []string, dead map[string]string) (created, nDead int) {
	e.t.Helper()
	r := e.cli("", append([]string{"status", "--json"}, keys...)...)
	require.Equal(e.t, 0, r.code, r.stderr)
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	seen := 0
	for sc.Scan() {
		var st queue.JobStatus
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &st))
		seen++
		if reason, ok := dead[st.IdempotencyKey]; ok {
			require.Equal(e.t, queue.StateDead, st.State, st.IdempotencyKey)
			require.NotNil(e.t, st.DeadLetter, st.IdempotencyKey)
			require.Equal(e.t, reason, string(st.DeadLetter.Reason), st.IdempotencyKey)
			nDead++
			continue
		}
		require.Equal(e.t, queue.StateCompleted, st.State, "%s: %s", st.IdempotencyKey, sc.Text())
		require.NotNil(e.t, st.Label, st.IdempotencyKey)
		require.NotEmpty(e.t, st.Label.ID, st.IdempotencyKey)
	}
	require.Equal(e.t, len(keys), seen)

	l := e.ledger()
	for _, k := range keys {
		if _, ok := dead[k]; ok {
			require.Zero(e.t, l.CreatedPerKey[k], "dead key %s has a label", k)
			continue
		}
		require.Equal(e.t, 1, l.CreatedPerKey[k], "labels created for %s", k)
		created++
	}
	for order, n := range l.LabelsPerOrder {
		require.LessOrEqual(e.t, n, 1, "order %s has %d labels", order, n)
	}
	require.Empty(e.t, l.DuplicateOrders())
	require.Equal(e.t, created, l.LabelsCreated, "labels created beyond the scenario's keys")
	e.checkSecrets()
	e.checkJSONLogs()
	return created, nDead
}

// checkJSONLogs checks, in a subtest of its own, that every line a worker or
// serve process wrote to stderr under FLEXLABEL_LOG_FORMAT=json is a JSON
// object: a log shipper would drop or choke on anything else.
func (e *chaosEnv) checkJSONLogs() {
	e.t.Helper()
	e.mu.Lock()
	procs := slices.Clone(e.procs)
	e.mu.Unlock()
	e.t.Run("logs_are_json", func(t *testing.T) {
		for _, p := range procs {
			if p == e.fake || strings.HasPrefix(p.name, "fakeapi") {
				continue
			}
			var bad []string
			for _, l := range strings.Split(strings.TrimSpace(p.stderr()), "\n") {
				if l != "" && !(strings.HasPrefix(l, "{") && json.Valid([]byte(l))) {
					bad = append(bad, l)
				}
			}
			if len(bad) > 0 {
				t.Errorf("%s wrote %d non-JSON line(s) to its JSON log, e.g.\n%s", p.name, len(bad), strings.Join(bad[:min(len(bad), 3)], "\n"))
			}
		}
	})
}

func (e *chaosEnv) checkNoToken(where, s string) {
	e.t.Helper()
	require.NotContains(e.t, s, e.token, "the API token appears in %s", where)
}

// checkSecrets requires that the token appears in no process's output and
// nowhere in Redis (every key's name and value).
func (e *chaosEnv) checkSecrets() {
	e.t.Helper()
	e.mu.Lock()
	procs := slices.Clone(e.procs)
	e.mu.Unlock()
	for _, p := range procs {
		if p == e.fake || strings.HasPrefix(p.name, "fakeapi") {
			continue // the fake prints no token either, but it is not ours to check
		}
		for _, path := range []string{p.stdoutPath, p.stderrPath} {
			b, err := os.ReadFile(path)
			require.NoError(e.t, err)
			e.checkNoToken(path, string(b))
		}
	}
	dump := e.dumpRedis()
	require.NotEmpty(e.t, dump)
	e.checkNoToken("Redis", dump)
}

// dumpRedis reads every key and value of the scenario's Redis as text.
func (e *chaosEnv) dumpRedis() string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := e.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		typ, err := e.rdb.Type(ctx, k).Result()
		require.NoError(e.t, err)
		var v any
		switch typ {
		case "string":
			v, err = e.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = e.rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = e.rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = e.rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = e.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "none":
			continue // expired meanwhile
		default:
			e.t.Fatalf("unexpected Redis type %s of %s", typ, k)
		}
		if err == redis.Nil {
			continue
		}
		require.NoError(e.t, err)
		fmt.Fprintf(&b, "%v\n", v)
	}
	require.NoError(e.t, iter.Err())
	return b.String()
}

// chaosResult is the one-line result of a scenario.
type chaosResult struct {
	name                  string
	labels, created, dead int
	took                  time.Duration
	notes                 string
}

func (r chaosResult) String() string {
	s := fmt.Sprintf("chaos: %s: %d labels, %d created exactly once, %d dead, %s", r.name, r.labels, r.created, r.dead, r.took.Round(100*time.Millisecond))
	if r.notes != "" {
		s += " (" + r.notes + ")"
	}
	return s
}
