package queuetest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) {
	code := queuetest.Main(m)
	// Main must leave no server or directory behind.
	if dir, pid := queuetest.SharedServerForTest(); pid != 0 || dir != "" && exists(dir) {
		fmt.Fprintf(os.Stderr, "queuetest.Main left the private server behind (pid %d, dir %s)\n", pid, dir)
		code = 1
	}
	os.Exit(code)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func client(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedis_AnswersAndStoresUnderPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := client(t, queuetest.Redis(t))
	require.NoError(t, c.Ping(ctx).Err())

	key := queuetest.Prefix(t) + ":k"
	require.NoError(t, c.Set(ctx, key, "v", time.Minute).Err())
	got, err := c.Get(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, "v", got)
}

func TestRedisURL_ParsesToTheSameServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := queuetest.RedisURL(t)
	opts, err := redis.ParseURL(u)
	require.NoError(t, err, "URL %q", u)
	c := client(t, opts)

	key := queuetest.Prefix(t) + ":via-url"
	require.NoError(t, c.Set(ctx, key, "1", time.Minute).Err())
	// Seen through Redis(t) as well: one server per binary (unless the
	// in-process fallback is in use, which is per test).
	if os.Getenv(queuetest.EnvRedisURL) == "" {
		if _, err := exec.LookPath("redis-server"); err != nil {
			t.Skip("in-process fallback: each call has its own server")
		}
	}
	n, err := client(t, queuetest.Redis(t)).Exists(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
}

func TestRedis_PrivateServer_UsesUnixSocketOnly(t *testing.T) {
	t.Parallel()
	if os.Getenv(queuetest.EnvRedisURL) != "" {
		t.Skip(queuetest.EnvRedisURL + " is set")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	opts := queuetest.Redis(t)
	require.Equal(t, "unix", opts.Network)
	require.True(t, strings.HasSuffix(opts.Addr, "/redis.sock"), opts.Addr)
	require.Equal(t, 0, opts.DB)

	// Persistence is off and TCP is closed: nothing leaks to disk or network.
	cfg, err := client(t, opts).ConfigGet(context.Background(), "*").Result()
	require.NoError(t, err)
	require.Equal(t, "0", cfg["port"])
	require.Equal(t, "", cfg["save"])
	require.Equal(t, "no", cfg["appendonly"])
}

func TestPrefix_UniquePerCall(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^t[0-9a-f]{12}$`)
	var a, b string
	t.Run("first", func(t *testing.T) { a = queuetest.Prefix(t) })
	t.Run("second", func(t *testing.T) { b = queuetest.Prefix(t) })
	require.Regexp(t, valid, a)
	require.Regexp(t, valid, b)
	require.NotEqual(t, a, b)

	seen := map[string]bool{a: true, b: true}
	for range 10000 {
		p := queuetest.Prefix(t)
		require.False(t, seen[p], "prefix %s handed out twice", p)
		seen[p] = true
	}
}

func TestPickBackend(t *testing.T) {
	t.Parallel()
	found := func(string) (string, error) { return "/usr/bin/redis-server", nil }
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name     string
		env      map[string]string
		lookPath func(string) (string, error)
		want     string
		wantErr  string
	}{
		{name: "URL wins over redis-server", env: map[string]string{queuetest.EnvRedisURL: "redis://h:1/0"}, lookPath: found, want: "external"},
		{name: "URL without redis-server", env: map[string]string{queuetest.EnvRedisURL: "redis://h:1/0", queuetest.EnvNoFallback: "1"}, lookPath: missing, want: "external"},
		{name: "redis-server", lookPath: found, want: "private"},
		{name: "redis-server with no-fallback", env: map[string]string{queuetest.EnvNoFallback: "1"}, lookPath: found, want: "private"},
		{name: "fallback", lookPath: missing, want: "in-process"},
		{name: "fallback allowed by 0", env: map[string]string{queuetest.EnvNoFallback: "0"}, lookPath: missing, want: "in-process"},
		{name: "fallback forbidden", env: map[string]string{queuetest.EnvNoFallback: "1"}, lookPath: missing,
			wantErr: "redis-server not found and FLEXLABEL_TEST_NO_FALLBACK=1 forbids the in-process fallback"},
		{name: "fallback forbidden by true", env: map[string]string{queuetest.EnvNoFallback: "true"}, lookPath: missing, wantErr: "forbids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := queuetest.PickBackendForTest(env(tt.env), tt.lookPath)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestInProcessFallback_Works(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := queuetest.InProcessURLForTest(t)
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	c := client(t, opts)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())
}

func TestStartRedis_KillRestart_AppendOnlyKeepsKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := queuetest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	require.True(t, r.Running())
	c := client(t, r.Options())
	require.NoError(t, c.Set(ctx, "survivor", "yes", 0).Err())

	r.Kill()
	require.False(t, r.Running())
	probe := r.Options()
	probe.MaxRetries = -1 // fail at once, not after go-redis's backoff
	require.Error(t, client(t, probe).Ping(ctx).Err(), "the server must be down after Kill")

	r.Restart()
	require.True(t, r.Running())
	got, err := c.Get(ctx, "survivor").Result()
	require.NoError(t, err)
	require.Equal(t, "yes", got)

	fromURL, err := redis.ParseURL(r.URL())
	require.NoError(t, err)
	require.Equal(t, r.Addr(), fromURL.Addr)
}

func TestStartRedis_KillRestart_NoPersistenceLosesKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := queuetest.StartRedis(t)
	c := client(t, r.Options())
	require.NoError(t, c.Set(ctx, "gone", "soon", 0).Err())

	r.Restart() // kills first
	n, err := c.Exists(ctx, "gone").Result()
	require.NoError(t, err)
	require.Equal(t, int64(0), n, "without appendonly a killed server must come back empty")
}

func TestStartRedis_OwnServerPerTest(t *testing.T) {
	t.Parallel()
	a := queuetest.StartRedis(t)
	b := queuetest.StartRedis(t)
	require.NotEqual(t, a.Addr(), b.Addr())
	require.NotEqual(t, a.Dir(), b.Dir())
	require.NotContains(t, a.Addr(), ":6379")
}

const orphanHelperEnv = "QUEUETEST_ORPHAN_HELPER"

// TestOrphanHelper is not a test: TestPrivateServer_DiesWithTestBinary runs
// it in a child test binary, where it starts the private server, reports it,
// and dies by SIGKILL without running Main.
func TestOrphanHelper(t *testing.T) {
	if os.Getenv(orphanHelperEnv) == "" {
		t.Skip("helper for TestPrivateServer_DiesWithTestBinary")
	}
	queuetest.Redis(t)
	dir, pid := queuetest.SharedServerForTest()
	fmt.Printf("%d %s\n", pid, dir)
	p, err := os.FindProcess(os.Getpid())
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	select {}
}

func TestPrivateServer_DiesWithTestBinary(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	if os.Getenv(queuetest.EnvRedisURL) != "" {
		t.Skip(queuetest.EnvRedisURL + " is set")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Wait() // killed by its own SIGKILL
	pidText, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
	require.True(t, ok, "helper printed %q", line)
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // Main never ran in the helper
	pid, err := strconv.Atoi(pidText)
	require.NoError(t, err)
	require.NotZero(t, pid)

	require.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 20*time.Millisecond,
		"redis-server %d outlived its test binary", pid)
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
