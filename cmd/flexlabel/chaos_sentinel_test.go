//go:build chaos

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestChaosSentinel: Redis under Sentinel (issue 18) loses its primary to
// SIGKILL while producers enqueue (the CLI and serve's HTTP API) and a fleet
// of three workers runs, all on REDIS_URL's Sentinel form. Just before the
// kill both replicas lag (SIGSTOP for sentinelLag, then SIGCONT at the kill,
// as a stalled disk, host or network would): that is the window in which
// asynchronous replication loses writes the primary acknowledged.
//
//   - min_replicas_1 (FLEXLABEL_REDIS_MIN_REPLICAS=1): every enqueue
//     acknowledged as enqueued completes, every label is created exactly
//     once, every dead letter (courier rejections) is there after the
//     failover;
//   - min_replicas_0 (off): the acknowledged enqueues the failover lost are
//     counted; the producer re-enqueues what it cannot find and the API
//     replays labels it had created, none twice.
//
// In both: the time from the kill to the first label created through the
// new primary, no process restarted, no READONLY loop in any log; then the
// old primary comes back as a replica and new enqueues complete.
//
//	go test -count=1 -tags chaos -run 'ChaosSentinel' -v ./cmd/flexlabel/
func TestChaosSentinel(t *testing.T) {
	bin := buildChaosBinary(t, t.TempDir())
	var (
		mu      sync.Mutex
		results []chaosResult
	)
	t.Run("runs", func(t *testing.T) {
		for _, minReplicas := range []int{1, 0} {
			t.Run(fmt.Sprintf("min_replicas_%d", minReplicas), func(t *testing.T) {
				t.Parallel()
				r := chaosSentinelFailover(t, bin, minReplicas)
				fmt.Println(r)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		}
	})
	if dir := os.Getenv("FLEXLABEL_CHAOS_LOGS"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, "results.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		for _, r := range results {
			_, err = fmt.Fprintln(f, r)
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
	}
}

// sentinelLag is how long both replicas stall before the primary dies.
const sentinelLag = 800 * time.Millisecond

// sentinelRejectEvery: every so many keys is a courier rejection (a dead
// letter with reason courier_rejected).
const sentinelRejectEvery = 17

// sentinelProducers is the scenario's producers: CLI enqueue batches and
// HTTP posts, each outcome recorded by key.
type sentinelProducers struct {
	e        *chaosEnv
	httpAddr string
	apiToken string

	mu       sync.Mutex
	next     int
	sent     []string             // every key offered, in order
	acked    map[string]time.Time // answered enqueued, when
	unacked  map[string]bool      // offered without an enqueued answer (exit 2, 503, …)
	failures int
	readonly int // READONLY in a CLI's stderr or an HTTP answer
	errs     []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

// key returns the next key and its product code.
func (p *sentinelProducers) take(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := p.e.keys("p", p.next, n)
	p.next += n
	p.sent = append(p.sent, keys...)
	return keys
}

func sentinelProduct(key string) string {
	var i int
	_, _ = fmt.Sscanf(key[strings.LastIndexByte(key, '-')+1:], "%d", &i)
	if i%sentinelRejectEvery == sentinelRejectEvery-1 {
		return flexapitest.RejectProductCode
	}
	return ""
}

func (p *sentinelProducers) record(keys []string, enqueued map[string]bool, failed bool, errText string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if enqueued[k] {
			if _, ok := p.acked[k]; !ok {
				p.acked[k] = now
			}
			delete(p.unacked, k)
		} else if _, ok := p.acked[k]; !ok {
			p.unacked[k] = true
		}
	}
	if failed {
		p.failures++
		if len(p.errs) < 20 {
			p.errs = append(p.errs, errText)
		}
	}
	if strings.Contains(errText, "READONLY") {
		p.readonly++
	}
}

// cliBatch enqueues keys with `flexlabel enqueue` (interactive lane).
func (p *sentinelProducers) cliBatch(keys []string) bool {
	var b bytes.Buffer
	for _, k := range keys {
		b.Write(queuetest.RequestJSON(k, sentinelProduct(k)))
		b.WriteByte('\n')
	}
	path := filepath.Join(p.e.dir, fmt.Sprintf("batch-%s.ndjson", keys[0]))
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		p.record(keys, nil, true, err.Error())
		return false
	}
	r, err := p.e.run("", "enqueue", path)
	got, perr := parseChaosOutcomes(r.stdout)
	enq := map[string]bool{}
	for k, o := range got {
		if o == "enqueued" || o == "duplicate" { // duplicate: a retry of ours found it
			enq[k] = true
		}
	}
	failed := err != nil || perr != nil || r.code != 0
	p.record(keys, enq, failed, fmt.Sprintf("enqueue exit %d: %v %v %s", r.code, err, perr, strings.TrimSpace(r.stderr)))
	return !failed
}

// post enqueues one key through serve's POST /v1/labels.
func (p *sentinelProducers) post(key string) bool {
	req, err := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/v1/labels", bytes.NewReader(queuetest.RequestJSON(key, sentinelProduct(key))))
	if err != nil {
		p.record([]string{key}, nil, true, err.Error())
		return false
	}
	req.Header.Set("Authorization", "Bearer "+p.apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.record([]string{key}, nil, true, err.Error())
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ok := resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK
	p.record([]string{key}, map[string]bool{key: ok}, !ok, fmt.Sprintf("HTTP %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body))
	return ok
}

// start runs two CLI producers and one HTTP producer until stop.
func (p *sentinelProducers) start() {
	loop := func(fn func() bool, pause time.Duration) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				if !fn() {
					time.Sleep(100 * time.Millisecond)
				} else {
					time.Sleep(pause)
				}
			}
		}()
	}
	for range 2 {
		loop(func() bool { return p.cliBatch(p.take(10)) }, 30*time.Millisecond)
	}
	loop(func() bool { return p.post(p.take(1)[0]) }, 20*time.Millisecond)
}

func (p *sentinelProducers) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

func (p *sentinelProducers) nAcked() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.acked) }

// ackedBetween lists the keys first acknowledged in [from, to).
func (p *sentinelProducers) ackedBetween(from, to time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for k, at := range p.acked {
		if !at.Before(from) && at.Before(to) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func chaosSentinelFailover(t *testing.T, bin string, minReplicas int) chaosResult {
	start := time.Now()
	topo := queuetest.StartSentinels(t, 2)
	e := newChaosSentinelEnv(t, fmt.Sprintf("sentinel%d", minReplicas), bin, topo)
	if minReplicas > 0 {
		e.env = append(e.env, fmt.Sprintf("FLEXLABEL_REDIS_MIN_REPLICAS=%d", minReplicas))
	}
	e.faults(map[string]any{"latency": "20ms"})
	var fleet []*chaosProc
	for i := range 3 {
		fleet = append(fleet, e.startWorker(fmt.Sprintf("worker-%d", i+1), "FLEXLABEL_RATE_LIMIT=1000"))
	}
	apiToken := "api-CHAOS-" + chaosRandHex(12)
	httpAddr := chaosFreeAddr(t)
	srv := e.startChaosProc("serve", []string{"FLEXLABEL_API_TOKENS=" + apiToken, "FLEXLABEL_HTTP_ADDR=" + httpAddr}, "serve")
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK || !srv.running()
	}, 15*time.Second, 20*time.Millisecond)
	require.True(t, srv.running(), srv.stderr())
	fleet = append(fleet, srv)
	pids := map[string]int{}
	for _, p := range fleet {
		pids[p.name] = p.cmd.Process.Pid
	}

	prod := &sentinelProducers{e: e, httpAddr: httpAddr, apiToken: apiToken,
		acked: map[string]time.Time{}, unacked: map[string]bool{}, stop: make(chan struct{})}
	t.Cleanup(prod.halt)
	prod.start()
	require.Eventually(t, func() bool { return prod.nAcked() >= 150 }, 30*time.Second, 10*time.Millisecond, "producers did not get going: %q", prod.errs)
	warm := prod.ackedBetween(start, time.Now())
	e.waitCount(warm, queue.StateCompleted, 50, 30*time.Second)

	// The replicas stall, the primary goes on acknowledging, then dies.
	replicas := topo.Replicas()
	require.Len(t, replicas, 2)
	for _, r := range replicas {
		r.Pause()
	}
	time.Sleep(sentinelLag)
	oldPrimary := topo.PrimaryAddr()
	topo.KillPrimary()
	killedAt := time.Now()
	for _, r := range replicas {
		r.Resume()
	}

	// The first label through the new primary: a key first acknowledged
	// after the kill (so enqueued on the new primary) completed.
	var firstLabel time.Duration
	require.Eventually(t, func() bool {
		after := prod.ackedBetween(killedAt, time.Now())
		if len(after) == 0 {
			return false
		}
		s, err := e.states(after)
		if err == nil && s[queue.StateCompleted] > 0 {
			firstLabel = time.Since(killedAt)
			return true
		}
		return false
	}, 45*time.Second, 20*time.Millisecond, "no label through the new primary within 45s of the kill; producer errors: %q", prod.errs)
	promoted := topo.WaitFailover(30 * time.Second)
	require.NotEqual(t, oldPrimary, promoted)
	settledAt := time.Now()
	time.Sleep(2 * time.Second) // producers carry on against the new primary
	prod.halt()

	// Every acknowledged enqueue: on the new primary, or lost by the
	// failover (unknown). With min replicas none may be lost.
	prod.mu.Lock()
	acked := make([]string, 0, len(prod.acked))
	for k := range prod.acked {
		acked = append(acked, k)
	}
	sent := slices.Clone(prod.sent)
	unacked := len(prod.unacked)
	refused, errs := prod.failures, slices.Clone(prod.errs)
	cliReadonly := prod.readonly
	prod.mu.Unlock()
	slices.Sort(acked)
	sts, err := e.q.Status(t.Context(), acked...)
	require.NoError(t, err)
	var lost []string
	for _, s := range sts {
		if s.State == queue.StateUnknown {
			lost = append(lost, s.IdempotencyKey)
		}
	}
	if minReplicas > 0 {
		require.Empty(t, lost, "acknowledged enqueues lost by the failover with FLEXLABEL_REDIS_MIN_REPLICAS=%d", minReplicas)
	}
	t.Logf("chaos: sentinel min_replicas=%d: %d of %d acknowledged enqueues lost by the failover %v; %d enqueue attempts refused, e.g. %q",
		minReplicas, len(lost), len(acked), lost[:min(len(lost), 10)], refused, errs[:min(len(errs), 3)])

	// The producer re-enqueues every key it has no enqueued answer for and
	// every acknowledged key it cannot find: each comes back enqueued or
	// duplicate, and a label the API already made is replayed, not made again.
	sts, err = e.q.Status(t.Context(), sent...)
	require.NoError(t, err)
	prod.mu.Lock()
	var retry []string
	for _, s := range sts {
		if s.State == queue.StateUnknown || prod.unacked[s.IdempotencyKey] {
			retry = append(retry, s.IdempotencyKey)
		}
	}
	prod.mu.Unlock()
	for len(retry) > 0 {
		n := min(len(retry), 200)
		require.True(t, prod.cliBatch(retry[:n]), "re-enqueue after the failover: %q", prod.errs)
		retry = retry[n:]
	}
	prod.mu.Lock()
	require.Empty(t, prod.unacked, "keys still without an enqueued answer after the retry")
	prod.mu.Unlock()
	dead := map[string]string{}
	for _, k := range sent {
		if sentinelProduct(k) != "" {
			dead[k] = string(queue.ReasonCourierRejected)
		}
	}
	logSlow(t, e, sent, 15*time.Second)
	e.waitTerminal(sent, 150*time.Second)
	finished := time.Since(killedAt)
	created, nDead := e.verify(sent, dead)
	l := e.ledger()
	replayed := 0
	for _, k := range sent {
		if l.ReplaysPerKey[k] > 0 {
			replayed++
		}
	}
	var replayedLost int
	for _, k := range lost {
		if l.ReplaysPerKey[k] > 0 {
			replayedLost++
		}
	}
	deadAfter, err := e.q.Status(t.Context(), mapKeys(dead)...)
	require.NoError(t, err)
	for _, s := range deadAfter {
		require.NotNil(t, s.DeadLetter, "%s: its dead letter is gone", s.IdempotencyKey)
	}

	// The old primary back, as a replica: the fleet carries on.
	topo.RestartOldPrimaryAsReplica()
	after := e.keys("after", 0, 40)
	e.enqueue("enqueue", after)
	e.waitTerminal(after, 30*time.Second)
	all := append(slices.Clone(sent), after...)
	created, nDead = e.verify(all, dead)

	// No process restarted; no READONLY loop in any log.
	readonly := map[string]int{}
	for _, p := range fleet {
		require.True(t, p.running(), "%s exited: %v\n%s", p.name, p.state, p.tail(3000))
		require.Equal(t, pids[p.name], p.cmd.Process.Pid)
		n, late := readonlyLines(p.stderr(), settledAt.Add(3*time.Second))
		readonly[p.name] = n
		require.LessOrEqual(t, n, 3, "%s logged READONLY %d times", p.name, n)
		require.Zero(t, late, "%s logged READONLY after the failover settled", p.name)
	}
	require.LessOrEqual(t, cliReadonly, 3, "CLI producers met READONLY %d times", cliReadonly)

	return chaosResult{
		name: fmt.Sprintf("Sentinel failover, FLEXLABEL_REDIS_MIN_REPLICAS=%d", minReplicas), labels: len(all), created: created, dead: nDead, took: time.Since(start),
		notes: fmt.Sprintf("replicas stalled %s, primary SIGKILLed; %d acknowledged enqueues lost of %d (%d of them replayed by the API on re-enqueue); kill -> first label through the new primary %s; %d enqueue attempts refused, %d keys re-enqueued; %d replays in all; every key finished %s after the kill; READONLY lines %v, CLI %d; same %d PIDs; old primary back as a replica, %d more labels",
			sentinelLag, len(lost), len(acked), replayedLost, firstLabel.Round(10*time.Millisecond), refused, unacked+len(lost), replayed, finished.Round(100*time.Millisecond), readonly, cliReadonly, len(fleet), len(after)),
	}
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readonlyLines counts a JSON log's lines that mention READONLY, and those
// of them logged after settled.
func readonlyLines(log string, settled time.Time) (n, late int) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "READONLY") {
			continue
		}
		n++
		var rec struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Time.After(settled) {
			late++
		}
	}
	return n, late
}

// logSlow waits up to d for the keys to finish and logs those that have
// not, with their states: a job left leased by a lost write waits for
// asynq's crash recovery (30 s past its lease, checked every minute).
func logSlow(t *testing.T, e *chaosEnv, keys []string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s, err := e.states(keys); err == nil && s[queue.StateCompleted]+s[queue.StateDead] == len(keys) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	sts, err := e.q.Status(t.Context(), keys...)
	require.NoError(t, err)
	var slow []string
	for _, s := range sts {
		if s.State != queue.StateCompleted && s.State != queue.StateDead {
			slow = append(slow, fmt.Sprintf("%s:%s(attempts %d)", s.IdempotencyKey, s.State, s.Attempts))
		}
	}
	t.Logf("chaos: %d keys not finished %s after the re-enqueue (waiting for crash recovery), e.g. %v", len(slow), d, slow[:min(len(slow), 8)])
}
