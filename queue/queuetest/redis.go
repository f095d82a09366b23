package queuetest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Environment variables read by this package.
const (
	// EnvRedisURL names an existing Redis for tests (redis://, rediss:// or
	// unix:// URL, as go-redis's ParseURL reads it). It is never flushed.
	EnvRedisURL = "FLEXLABEL_TEST_REDIS_URL"
	// EnvNoFallback, set to 1 (or any true value strconv.ParseBool reads),
	// makes a test fail rather than fall back to in-process miniredis when
	// redis-server is not on PATH.
	EnvNoFallback = "FLEXLABEL_TEST_NO_FALLBACK"
)

// backend is where Redis and RedisURL find a server.
type backend int

const (
	backendExternal  backend = iota // EnvRedisURL
	backendPrivate                  // one redis-server per test binary
	backendInProcess                // miniredis per test
)

const noFallbackMessage = "redis-server not found and " + EnvNoFallback + "=1 forbids the in-process fallback; install redis-server or set " + EnvRedisURL

// pickBackend decides, from the environment and PATH, which server tests use.
func pickBackend(getenv func(string) string, lookPath func(string) (string, error)) (backend, error) {
	if getenv(EnvRedisURL) != "" {
		return backendExternal, nil
	}
	if _, err := lookPath("redis-server"); err == nil {
		return backendPrivate, nil
	}
	if noFallback(getenv) {
		return 0, errors.New(noFallbackMessage)
	}
	return backendInProcess, nil
}

func noFallback(getenv func(string) string) bool {
	v, err := strconv.ParseBool(getenv(EnvNoFallback))
	return err == nil && v
}

// Redis returns options for a Redis the calling test may use; see the
// package documentation for which server that is. Other tests may share the
// server and DB, so the test must confine itself to keys named with Prefix.
// Each call returns a fresh *redis.Options the caller may modify.
func Redis(tb testing.TB) *redis.Options {
	tb.Helper()
	opts, err := redis.ParseURL(RedisURL(tb))
	if err != nil {
		tb.Fatalf("queuetest: %v", err)
	}
	return opts
}

// RedisURL is Redis as a URL, for code that takes REDIS_URL (such as
// config.Parse or the flexlabel binary). It is a redis:// URL, or unix://
// for the private server, as go-redis's ParseURL reads them.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	b, err := pickBackend(os.Getenv, exec.LookPath)
	if err != nil {
		tb.Fatalf("queuetest: %v", err)
	}
	switch b {
	case backendExternal:
		u := os.Getenv(EnvRedisURL)
		if _, err := redis.ParseURL(u); err != nil {
			// The error may contain a password; say only which variable.
			tb.Fatalf("queuetest: %s is not a Redis URL go-redis can parse", EnvRedisURL)
		}
		return u
	case backendPrivate:
		p, err := sharedServer()
		if err != nil {
			tb.Fatalf("queuetest: starting the private redis-server: %v", err)
		}
		return p.url()
	default:
		return inProcessURL(tb)
	}
}

// inProcessURL starts a miniredis for this test alone.
func inProcessURL(tb testing.TB) string {
	tb.Helper()
	tb.Log("queuetest: redis-server not found on PATH; using the in-process miniredis fallback " +
		"(not real Redis: install redis-server, or set " + EnvRedisURL + ", or set " + EnvNoFallback + "=1 to refuse the fallback)")
	m := miniredis.RunT(tb)
	return "redis://" + m.Addr() + "/0"
}

// prefixes remembers every prefix handed out, so no two tests of one binary
// get the same.
var prefixes sync.Map

// Prefix returns a short name unique to the calling test ("t" and 12 hex
// digits), to use as a queue name, namespace or key prefix. It is valid as an
// asynq queue name and as a flexlabel queue name. Each call returns a new one.
func Prefix(tb testing.TB) string {
	tb.Helper()
	for {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			tb.Fatalf("queuetest: %v", err)
		}
		p := "t" + hex.EncodeToString(b[:])
		if _, taken := prefixes.LoadOrStore(p, true); !taken {
			return p
		}
	}
}

var shared struct {
	once sync.Once
	mu   sync.Mutex
	proc *process
	dir  string
	err  error
}

// sharedServer starts the private redis-server on first use.
func sharedServer() (*process, error) {
	shared.once.Do(func() {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "flexlabel-redis-")
		if err != nil {
			shared.err = err
			return
		}
		sock := filepath.Join(dir, "redis.sock")
		if len(sock) > 100 { // sun_path holds 108 bytes
			_ = os.Remove(dir)
			if dir, err = os.MkdirTemp("/tmp", "flexlabel-redis-"); err != nil {
				shared.err = err
				return
			}
			sock = filepath.Join(dir, "redis.sock")
		}
		args := []string{
			"--port", "0",
			"--unixsocket", sock,
			"--unixsocketperm", "700",
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
		}
		p, err := startProcess(bin, dir, args, "unix", sock)
		shared.mu.Lock()
		defer shared.mu.Unlock()
		shared.dir = dir
		if err != nil {
			_ = os.RemoveAll(dir)
			shared.err = err
			return
		}
		shared.proc = p
	})
	return shared.proc, shared.err
}

// stopShared kills the private server, if it was started, and removes its
// directory.
func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.proc != nil {
		shared.proc.kill()
		shared.proc = nil
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// Main runs the tests and then stops the private redis-server, returning the
// exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(queuetest.Main(m)) }
func Main(m *testing.M) int {
	defer stopShared()
	return m.Run()
}
