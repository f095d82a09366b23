package queuetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel timing of a Topology: short, so a failover takes a few seconds.
// A sentinel marks the primary down after SentinelDownAfter without an
// answer, the sentinels then agree and promote a replica; SentinelFailoverTimeout
// bounds one failover attempt before another may start.
const (
	SentinelDownAfter       = time.Second
	SentinelFailoverTimeout = 3 * time.Second
)

// sentinelQuorum is how many of the three sentinels must agree the primary
// is down: a majority, as in production.
const sentinelQuorum = 2

// topologyReadyTimeout bounds how long StartSentinels waits for the
// replicas to sync and the sentinels to find each other (hello messages go
// out every two seconds).
const topologyReadyTimeout = 30 * time.Second

// Topology is a replicated Redis under Redis Sentinel for one test: one
// primary, replicas of it (replicaof) and three sentinels, each a real
// process on its own 127.0.0.1 port, all stopped when the test ends and
// killed with the test binary. Its methods may be called from one
// goroutine at a time.
type Topology struct {
	tb         testing.TB
	masterName string
	nodes      []*RedisProcess // the primary first, at start
	sentinels  []*sentinelProcess

	mu         sync.Mutex
	primary    *RedisProcess // the node the sentinels last named primary
	oldPrimary *RedisProcess // the primary KillPrimary killed, until restarted
}

// sentinelProcess is one running sentinel.
type sentinelProcess struct {
	port int
	proc *process
}

func (s *sentinelProcess) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// StartSentinels starts a primary, replicas replicas of it and three
// sentinels monitoring it as master "mymaster" (quorum 2,
// down-after-milliseconds SentinelDownAfter, failover-timeout
// SentinelFailoverTimeout), and returns once every replica is in sync and
// every sentinel knows the primary, all replicas and the other two
// sentinels. Sentinels run as redis-sentinel, or redis-server --sentinel
// when redis-sentinel is not on PATH (Debian's redis-sentinel package is
// only that binary under another name).
//
// Without redis-server on PATH the test is skipped, or fails under
// FLEXLABEL_TEST_NO_FALLBACK=1, as with StartRedis.
func StartSentinels(tb testing.TB, replicas int) *Topology {
	tb.Helper()
	bin, sentinelArgs := sentinelCommand(tb)
	t := &Topology{tb: tb, masterName: "mymaster"}
	// Replicas sync at once rather than after the default 5s a primary
	// waits for more replicas to share one transfer; any node may become
	// the primary.
	fast := []string{"--repl-diskless-sync-delay", "0"}
	primary := StartRedis(tb, fast...)
	t.nodes = append(t.nodes, primary)
	t.primary = primary
	for range replicas {
		host, port, _ := net.SplitHostPort(primary.Addr())
		t.nodes = append(t.nodes, StartRedis(tb, append(fast, "--replicaof", host, port)...))
	}
	t.waitSynced(primary, replicas)
	for i := range 3 {
		s, err := t.startSentinel(bin, sentinelArgs, i, primary.Addr())
		if err != nil {
			tb.Fatalf("queuetest: StartSentinels: %v", err)
		}
		t.sentinels = append(t.sentinels, s)
		tb.Cleanup(func() { s.proc.kill() })
	}
	t.waitSentinelsReady(replicas)
	return t
}

// sentinelCommand finds the sentinel binary: redis-sentinel, or
// redis-server with --sentinel.
func sentinelCommand(tb testing.TB) (string, []string) {
	tb.Helper()
	if bin, err := exec.LookPath("redis-sentinel"); err == nil {
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if noFallback(os.Getenv) {
			tb.Fatalf("queuetest: StartSentinels: neither redis-sentinel nor redis-server is on PATH and %s=1 forbids skipping the test", EnvNoFallback)
		}
		tb.Skip("queuetest: StartSentinels needs redis-sentinel or redis-server on PATH (miniredis has no replication or Sentinel)")
	}
	return bin, []string{"--sentinel"}
}

// startSentinel writes sentinel i's configuration (a sentinel rewrites its
// file as it learns the topology, so each has its own directory) and starts
// it on a free port.
func (t *Topology) startSentinel(bin string, extra []string, i int, primaryAddr string) (*sentinelProcess, error) {
	dir, err := os.MkdirTemp(t.tb.TempDir(), fmt.Sprintf("sentinel%d-", i))
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(primaryAddr)
	for attempt := 1; ; attempt++ {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s %s %s %d
sentinel down-after-milliseconds %[3]s %[7]d
sentinel failover-timeout %[3]s %[8]d
sentinel parallel-syncs %[3]s 1
`, p, dir, t.masterName, host, port, sentinelQuorum, SentinelDownAfter.Milliseconds(), SentinelFailoverTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		s := &sentinelProcess{port: p}
		s.proc, err = startProcess(bin, dir, append([]string{conf}, extra...), "tcp", s.addr())
		if err == nil {
			return s, nil
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Address already in use") {
			return nil, fmt.Errorf("starting sentinel %d: %w", i, err)
		}
	}
}

// waitSynced waits until primary reports n replicas online.
func (t *Topology) waitSynced(primary *RedisProcess, n int) {
	t.tb.Helper()
	t.waitFor(topologyReadyTimeout, fmt.Sprintf("%d replicas in sync with the primary", n), func(ctx context.Context) bool {
		return onlineReplicas(ctx, primary.Addr()) == n
	})
}

// onlineReplicas counts the replicas the server at addr reports in state
// online (INFO replication), or -1.
func onlineReplicas(ctx context.Context, addr string) int {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:master") {
		return -1
	}
	n := 0
	for line := range strings.SplitSeq(info, "\n") {
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n
}

// waitSentinelsReady waits until every sentinel knows the primary, the
// replicas and the two other sentinels: only then can they agree on a
// failover.
func (t *Topology) waitSentinelsReady(replicas int) {
	t.tb.Helper()
	t.waitFor(topologyReadyTimeout, "the sentinels to know the primary, its replicas and each other", func(ctx context.Context) bool {
		for _, s := range t.sentinels {
			c := t.sentinelClient(s.addr())
			r, err1 := c.Replicas(ctx, t.masterName).Result()
			o, err2 := c.Sentinels(ctx, t.masterName).Result()
			_ = c.Close()
			if err1 != nil || err2 != nil || len(r) != replicas || len(o) != len(t.sentinels)-1 {
				return false
			}
		}
		return true
	})
}

func (t *Topology) sentinelClient(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
}

// waitFor polls ok every 50ms until it holds, failing the test after timeout.
func (t *Topology) waitFor(timeout time.Duration, what string, ok func(ctx context.Context) bool) {
	t.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		done := ok(ctx)
		cancel()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("queuetest: waited %s for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MasterName is the name the sentinels monitor the primary as.
func (t *Topology) MasterName() string { return t.masterName }

// SentinelAddrs are the sentinels' host:port addresses.
func (t *Topology) SentinelAddrs() []string {
	out := make([]string, len(t.sentinels))
	for i, s := range t.sentinels {
		out[i] = s.addr()
	}
	return out
}

// URL is REDIS_URL in the Sentinel form for this topology (DB 0), as
// config.Parse reads it: the first sentinel as the host, the others as
// addr parameters.
func (t *Topology) URL() string {
	addrs := t.SentinelAddrs()
	u := "redis://" + addrs[0] + "/0?master_name=" + t.masterName
	for _, a := range addrs[1:] {
		u += "&addr=" + a
	}
	return u
}

// PrimaryAddr is the host:port of the node the sentinels last named
// primary (at start, or as WaitFailover found).
func (t *Topology) PrimaryAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.primary.Addr()
}

// ReplicaAddrs are the host:port addresses of the running nodes other than
// the primary.
func (t *Topology) ReplicaAddrs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, n := range t.nodes {
		if n != t.primary && n.Running() {
			out = append(out, n.Addr())
		}
	}
	return out
}

// Replicas are the running nodes other than the primary, for a test to
// Pause and Resume them: replicas that lag behind, as when their disk,
// network or host stalls, while the primary takes writes.
func (t *Topology) Replicas() []*RedisProcess {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*RedisProcess
	for _, n := range t.nodes {
		if n != t.primary && n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// KillPrimary kills the primary with SIGKILL, as a crash would, and
// returns when it is gone. The sentinels notice after SentinelDownAfter.
func (t *Topology) KillPrimary() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.primary.Kill()
	t.oldPrimary = t.primary
}

// WaitFailover waits until the sentinels name a new primary, one that
// answers as master, and returns its address; it fails the test after
// timeout.
func (t *Topology) WaitFailover(timeout time.Duration) string {
	t.tb.Helper()
	old := t.PrimaryAddr()
	var addr string
	t.waitFor(timeout, "the sentinels to promote a replica", func(ctx context.Context) bool {
		for _, s := range t.sentinels {
			c := t.sentinelClient(s.addr())
			a, err := c.GetMasterAddrByName(ctx, t.masterName).Result()
			_ = c.Close()
			if err != nil {
				continue
			}
			if got := net.JoinHostPort(a[0], a[1]); got != old && role(ctx, got) == "master" {
				addr = got
				return true
			}
		}
		return false
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.nodes {
		if n.Addr() == addr {
			t.primary = n
		}
	}
	return addr
}

// role is the ROLE of the server at addr ("master", "slave"), or "".
func role(ctx context.Context, addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// RestartOldPrimaryAsReplica starts the primary KillPrimary killed again,
// on its port and directory, as a replica of the current primary (as
// Sentinel would reconfigure it), and returns once it is in sync.
func (t *Topology) RestartOldPrimaryAsReplica() {
	t.tb.Helper()
	t.mu.Lock()
	old, primary := t.oldPrimary, t.primary
	t.oldPrimary = nil
	t.mu.Unlock()
	if old == nil {
		t.tb.Fatalf("queuetest: RestartOldPrimaryAsReplica: KillPrimary was not called")
	}
	if old == primary {
		t.tb.Fatalf("queuetest: RestartOldPrimaryAsReplica: no failover yet (call WaitFailover)")
	}
	host, port, _ := net.SplitHostPort(primary.Addr())
	old.args = append(old.args, "--replicaof", host, port)
	old.Restart()
	t.waitFor(topologyReadyTimeout, "the old primary to sync as a replica", func(ctx context.Context) bool {
		c := redis.NewClient(&redis.Options{Addr: old.Addr(), MaxRetries: -1, DialTimeout: time.Second})
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
}
