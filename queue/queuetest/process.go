package queuetest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds how long a starting redis-server may take to answer
// PING (loading a large AOF included).
const readyTimeout = 15 * time.Second

// process is one running redis-server.
type process struct {
	cmd     *exec.Cmd
	network string // "unix" or "tcp"
	addr    string // socket path or host:port
	logPath string
	done    chan struct{} // closed once the process has exited and been reaped
}

func (p *process) url() string {
	if p.network == "unix" {
		return "unix://" + p.addr
	}
	return "redis://" + p.addr + "/0"
}

// startProcess starts bin with args, logging to dir/redis.log, and waits
// until the server answers PING on network/addr.
func startProcess(bin, dir string, args []string, network, addr string) (*process, error) {
	logPath := filepath.Join(dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, network: network, addr: addr, logPath: logPath, done: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that started the
		// child exits, not the process, and the runtime may retire idle
		// threads. Hold this goroutine's thread until the child is gone;
		// exiting locked then retires the thread, which is harmless.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
			close(p.done)
		}
		_ = logf.Close()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := p.waitReady(); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// waitReady waits until the server answers PING with PONG (not LOADING).
func (p *process) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited during startup (%s); log:\n%s", p.cmd.ProcessState, p.logTail())
		default:
		}
		if ping(p.network, p.addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer PING on %s within %s; log:\n%s", p.addr, readyTimeout, p.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping speaks just enough RESP to ask whether the server is ready, so that
// waiting does not depend on a client library's retries or logging.
func ping(network, addr string) error {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// RedisProcess is a redis-server dedicated to one test, for tests that kill
// and restart Redis. Its methods may be called from one goroutine at a time.
type RedisProcess struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu   sync.Mutex
	proc *process
}

// StartRedis starts a redis-server for the calling test alone, on a free
// 127.0.0.1 port with its own data directory, and stops it when the test
// ends. args are extra redis-server arguments, after the defaults ("--save",
// "", "--appendonly", "no"), so they override them: for a server whose
// writes survive Kill, pass "--appendonly", "yes", "--appendfsync", "always".
//
// Without redis-server on PATH the test is skipped, or fails under
// FLEXLABEL_TEST_NO_FALLBACK=1.
func StartRedis(tb testing.TB, args ...string) *RedisProcess {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if noFallback(os.Getenv) {
			tb.Fatalf("queuetest: StartRedis: redis-server not found on PATH and %s=1 forbids skipping the test", EnvNoFallback)
		}
		tb.Skip("queuetest: StartRedis needs redis-server on PATH (the in-process fallback cannot be killed and restarted like a real server)")
	}
	r := &RedisProcess{tb: tb, bin: bin, dir: tb.TempDir(), args: args}
	tb.Cleanup(r.Kill)
	// Another process may take the free port between our probe and
	// redis-server's bind; try a few ports.
	for attempt := 1; ; attempt++ {
		r.port, err = freePort()
		if err != nil {
			tb.Fatalf("queuetest: StartRedis: %v", err)
		}
		err = r.start()
		if err == nil {
			return r
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Address already in use") {
			tb.Fatalf("queuetest: StartRedis: %v", err)
		}
	}
}

func (r *RedisProcess) start() error {
	args := append([]string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
	}, r.args...)
	p, err := startProcess(r.bin, r.dir, args, "tcp", r.Addr())
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	return nil
}

// Addr is the server's host:port.
func (r *RedisProcess) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the server's redis:// URL (DB 0); it stays the same across Restart.
func (r *RedisProcess) URL() string { return "redis://" + r.Addr() + "/0" }

// Options returns new client options for the server (DB 0).
func (r *RedisProcess) Options() *redis.Options {
	return &redis.Options{Addr: r.Addr()}
}

// Dir is the server's working and data directory; it survives Restart.
func (r *RedisProcess) Dir() string { return r.dir }

// Kill stops the server with SIGKILL, as a crash would: it writes nothing
// more to disk. Killing a stopped server does nothing.
func (r *RedisProcess) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.kill()
		r.proc = nil
	}
}

// Restart kills the server if it is running and starts it again on the same
// port and directory, returning once it answers PING (its AOF, if enabled,
// loaded). It fails the test if the server cannot start.
func (r *RedisProcess) Restart() {
	r.tb.Helper()
	r.Kill()
	if err := r.start(); err != nil {
		r.tb.Fatalf("queuetest: restarting redis-server: %v", err)
	}
}

// Running reports whether the server process is alive.
func (r *RedisProcess) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc != nil && !r.proc.exited()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
