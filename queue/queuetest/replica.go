package queuetest

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// linkTimeout bounds how long a new replica may take to sync with its
// primary (an empty or small data set: well under a second).
const linkTimeout = 15 * time.Second

// StartReplica starts a redis-server for the calling test alone that
// replicates primaryAddr (host:port, such as StartRedis's Addr; replication
// needs TCP, so not the private server's socket), and returns once its link
// to the primary is up (INFO replication: master_link_status:up). It sets
// the primary's repl-diskless-sync-delay to 0, so the sync starts at once
// rather than after Redis's default 5s. args are
// extra redis-server arguments, as for StartRedis. The replica stops when
// the test ends; Pause and Resume freeze it (SIGSTOP, SIGCONT) so that it
// stops acknowledging its primary's writes, as a replica that hangs or is
// cut off by the network does, without the primary noticing at once.
func StartReplica(tb testing.TB, primaryAddr string, args ...string) *RedisProcess {
	tb.Helper()
	host, port, err := net.SplitHostPort(primaryAddr)
	if err != nil {
		tb.Fatalf("queuetest: StartReplica: primary address %q: %v", primaryAddr, err)
	}
	// Redis 7 delays a diskless full sync by 5s to batch replicas; a test
	// starts them one at a time.
	prim := redis.NewClient(&redis.Options{Addr: primaryAddr})
	err = prim.ConfigSet(context.Background(), "repl-diskless-sync-delay", "0").Err()
	_ = prim.Close()
	if err != nil {
		tb.Fatalf("queuetest: StartReplica: primary %s: %v", primaryAddr, err)
	}
	r := StartRedis(tb, append([]string{"--replicaof", host, port}, args...)...)
	r.WaitLinkUp()
	return r
}

// WaitLinkUp waits until the replica's link to its primary is up, failing
// the test after a while.
func (r *RedisProcess) WaitLinkUp() {
	r.tb.Helper()
	rdb := redis.NewClient(r.Options())
	defer rdb.Close()
	deadline := time.Now().Add(linkTimeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := rdb.Info(ctx, "replication").Result()
		cancel()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		last = info
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("queuetest: replica on %s: link to its primary not up within %s; INFO replication:\n%s\nlog:\n%s",
				r.Addr(), linkTimeout, last, r.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause freezes the server with SIGSTOP: it keeps its connections but
// answers nothing, so a replica stops acknowledging writes (the primary
// drops it only after its repl-timeout, 60s by default).
func (r *RedisProcess) Pause() { r.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again (SIGCONT); a replica catches up
// with its primary over the link it kept.
func (r *RedisProcess) Resume() { r.signal(syscall.SIGCONT) }

func (r *RedisProcess) signal(sig syscall.Signal) {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		r.tb.Fatalf("queuetest: signalling redis-server on %s: it is not running", r.Addr())
	}
	if err := r.proc.cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("queuetest: signalling redis-server on %s: %v", r.Addr(), err)
	}
}

func (r *RedisProcess) logTail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return ""
	}
	return r.proc.logTail()
}
