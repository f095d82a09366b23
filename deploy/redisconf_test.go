package deploy

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The command lines that start Redis with redis.conf are written in the docs
// and in compose.yaml; these tests run each of them, as written, against a
// private redis-server. Only the paths are swapped for temporary ones (the
// map in recipePaths) and --port/--bind are appended so the server does not
// take 6379 or listen beyond loopback.

// redisRecipe is one documented `redis-server` command line.
type redisRecipe struct {
	where string   // file that documents it
	args  []string // the arguments after redis-server
}

func (r redisRecipe) String() string { return r.where + ": redis-server " + strings.Join(r.args, " ") }

// restore reports whether r is the restore step (AOF off to load dump.rdb).
func (r redisRecipe) restore() bool {
	return strings.Contains(strings.Join(r.args, " "), "--appendonly no")
}

// replica reports whether r starts a replica (it includes replica.conf).
func (r redisRecipe) replica() bool { return strings.Contains(strings.Join(r.args, " "), "--include") }

// redisRecipes returns every `redis-server` command line in the docs that use
// redis.conf: lines inside fenced code blocks of the Markdown files, the
// usage comment of redis.conf itself, and the compose Redis service.
func redisRecipes(t *testing.T) []redisRecipe {
	t.Helper()
	var out []redisRecipe
	add := func(where, line string) {
		f := strings.Fields(line)
		for i, tok := range f {
			if tok == "redis-server" && i+1 < len(f) && strings.HasSuffix(f[i+1], "redis.conf") {
				out = append(out, redisRecipe{where: where, args: f[i+1:]})
				return
			}
		}
	}
	for _, doc := range []string{"../docs/OPERATIONS.md", "SENTINEL.md", "README.md"} {
		in := false
		sc := bufio.NewScanner(strings.NewReader(readFile(t, doc)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "```") {
				in = !in
				continue
			}
			if in && strings.HasPrefix(line, "redis-server ") {
				add(doc, line)
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "redis.conf")))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "#   redis-server "); ok {
			add("redis.conf", "redis-server "+line)
		}
	}
	sc = bufio.NewScanner(strings.NewReader(readFile(t, "compose.yaml")))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "redis-server ") {
			add("compose.yaml", sc.Text())
		}
	}
	return out
}

const (
	recipeUser     = "flexlabel"
	recipePassword = "test-password-0f3c9a"
)

// recipeEnv is one temporary Redis host: its data directory, ACL file and
// replica include file, standing in for the documented paths.
type recipeEnv struct {
	conf, data, acl, replicaConf string
}

func newRecipeEnv(t *testing.T) recipeEnv {
	t.Helper()
	dir := t.TempDir()
	conf, err := filepath.Abs("redis.conf")
	require.NoError(t, err)
	e := recipeEnv{
		conf:        conf,
		data:        filepath.Join(dir, "data"),
		acl:         filepath.Join(dir, "users.acl"),
		replicaConf: filepath.Join(dir, "replica.conf"),
	}
	require.NoError(t, os.Mkdir(e.data, 0o700))
	require.NoError(t, os.WriteFile(e.acl,
		[]byte("user default off\nuser "+recipeUser+" on >"+recipePassword+" ~* &* +@all\n"), 0o600))
	return e
}

// args maps the documented paths of r to e's and adds the test's own port.
func (e recipeEnv) args(t *testing.T, r redisRecipe, port int) []string {
	t.Helper()
	paths := map[string]string{
		"/usr/local/etc/redis/redis.conf": e.conf,
		"/data":                           e.data,
		"/etc/redis/users.acl":            e.acl,
		"/tmp/users.acl":                  e.acl, // compose writes it there
		"/etc/redis/replica.conf":         e.replicaConf,
	}
	var out []string
	for _, a := range r.args {
		if strings.HasPrefix(a, "/") {
			p, ok := paths[a]
			if !ok {
				t.Fatalf("%s: path %s is not one the docs use elsewhere (the test maps %v)", r, a, paths)
			}
			a = p
		}
		out = append(out, a)
	}
	if out[0] != e.conf {
		t.Fatalf("%s: the configuration file must come first", r)
	}
	return append(out, "--port", strconv.Itoa(port), "--bind", "127.0.0.1")
}

func requireRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if v, _ := strconv.ParseBool(os.Getenv("FLEXLABEL_TEST_NO_FALLBACK")); v {
			t.Fatal("redis-server not found on PATH and FLEXLABEL_TEST_NO_FALLBACK=1 forbids skipping")
		}
		t.Skip("redis-server not found on PATH; the redis.conf recipes are not run")
	}
	return bin
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRecipe runs r in e and returns a client once the server answers.
// The server is killed when the test ends.
func startRecipe(t *testing.T, e recipeEnv, r redisRecipe) (rdb *redis.Client, exited <-chan struct{}) {
	t.Helper()
	bin := requireRedisServer(t)
	port := freeTCPPort(t)
	var log queuetest.Buffer
	cmd := exec.Command(bin, e.args(t, r, port)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	done, err := queuetest.StartChild(cmd) // killed with the test binary, too
	require.NoError(t, err, "%s", r)
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	rdb = redis.NewClient(&redis.Options{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Username: recipeUser, Password: recipePassword,
		MaxRetries: -1,
	})
	t.Cleanup(func() { rdb.Close() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s: redis-server exited at start:\n%s", r, log.String())
		default:
		}
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: redis-server does not answer: %v\n%s", r, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rdb, done
}

// shutdown stops the server as an operator would (SHUTDOWN) and waits for
// the process to exit.
func shutdown(t *testing.T, rdb *redis.Client, exited <-chan struct{}) {
	t.Helper()
	_ = rdb.Shutdown(context.Background()).Err() // the connection closes: an error
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("redis-server did not exit after SHUTDOWN")
	}
}

func configGet(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	v, err := rdb.ConfigGet(context.Background(), key).Result()
	require.NoError(t, err)
	return v[key]
}

// requireSettings checks that the running server has redis.conf's
// settings and the documented flags' data directory.
func requireSettings(t *testing.T, r redisRecipe, e recipeEnv, rdb *redis.Client, appendonly string) {
	t.Helper()
	want := map[string]string{
		"dir":                     e.data,
		"appendonly":              appendonly,
		"appendfsync":             "everysec",
		"maxmemory-policy":        "noeviction",
		"maxmemory":               strconv.Itoa(768 << 20),
		"protected-mode":          "yes",
		"hash-max-listpack-value": "256",
		"save":                    "3600 1 300 100 60 10000",
	}
	for k, v := range want {
		require.Equal(t, v, configGet(t, rdb, k), "%s: %s", r, k)
	}
	// The ACL file is in force: the default user is off.
	anon := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, MaxRetries: -1})
	defer anon.Close()
	require.Error(t, anon.Set(context.Background(), "anon", "1", 0).Err(), "%s: the default user can write", r)
}

func TestRedisConf_SetsNoDir(t *testing.T) {
	if _, ok := redisDirectives(readFile(t, "redis.conf"))["dir"]; ok {
		t.Fatal("redis.conf: sets dir; Redis applies it before --dir on the command line, so every documented start fails where it does not exist")
	}
}

func TestRedisConf_DocumentedRecipesFound(t *testing.T) {
	count := map[string]map[string]int{}
	for _, r := range redisRecipes(t) {
		kind := "start"
		switch {
		case r.restore():
			kind = "restore"
		case r.replica():
			kind = "replica"
		}
		if count[r.where] == nil {
			count[r.where] = map[string]int{}
		}
		count[r.where][kind]++
	}
	for where, kinds := range map[string][]string{
		"../docs/OPERATIONS.md": {"restore", "start"},
		"SENTINEL.md":           {"start", "replica"},
		"compose.yaml":          {"start"},
		"redis.conf":            {"start"},
	} {
		for _, k := range kinds {
			if count[where][k] == 0 {
				t.Errorf("%s: no %q redis-server command line found (found %v)", where, k, count[where])
			}
		}
	}
}

// TestRedisConf_EveryDocumentedStart runs each documented plain start and
// checks the server has the file's settings and the flags' directory.
func TestRedisConf_EveryDocumentedStart(t *testing.T) {
	for _, r := range redisRecipes(t) {
		if r.restore() || r.replica() {
			continue
		}
		t.Run(filepath.Base(r.where), func(t *testing.T) {
			t.Parallel()
			e := newRecipeEnv(t)
			rdb, exited := startRecipe(t, e, r)
			requireSettings(t, r, e, rdb, "yes")
			require.NoError(t, rdb.Set(context.Background(), "k", "v", 0).Err())
			shutdown(t, rdb, exited)
			_, err := os.Stat(filepath.Join(e.data, "appendonlydir"))
			require.NoError(t, err, "%s: the AOF is not in the --dir directory", r)
		})
	}
}

// TestRedisConf_RestoreRecipe plays docs/OPERATIONS.md's restore: a live
// dataset is replaced by a backup's dump.rdb, which survives the switch
// back to AOF and a normal restart.
func TestRedisConf_RestoreRecipe(t *testing.T) {
	var start, restore redisRecipe
	for _, r := range redisRecipes(t) {
		if r.where != "../docs/OPERATIONS.md" {
			continue
		}
		if r.restore() {
			restore = r
		} else if !r.replica() {
			start = r
		}
	}
	require.NotEmpty(t, restore.args, "no restore command line in docs/OPERATIONS.md")
	require.NotEmpty(t, start.args, "no normal start command line in docs/OPERATIONS.md")
	ctx := context.Background()

	// The backup: a dump.rdb holding "backed-up".
	backup := newRecipeEnv(t)
	rdb, exited := startRecipe(t, backup, start)
	require.NoError(t, rdb.Set(ctx, "backed-up", "1", 0).Err())
	require.NoError(t, rdb.Save(ctx).Err())
	shutdown(t, rdb, exited)
	dump, err := os.ReadFile(filepath.Join(backup.data, "dump.rdb"))
	require.NoError(t, err)

	// The live server, whose data is to be replaced.
	e := newRecipeEnv(t)
	rdb, exited = startRecipe(t, e, start)
	require.NoError(t, rdb.Set(ctx, "after-the-backup", "1", 0).Err())
	shutdown(t, rdb, exited)

	// The recipe: AOF aside, backup in place, start with AOF off.
	require.NoError(t, os.Rename(filepath.Join(e.data, "appendonlydir"), filepath.Join(e.data, "appendonlydir.before-restore")))
	require.NoError(t, os.WriteFile(filepath.Join(e.data, "dump.rdb"), dump, 0o600))
	rdb, exited = startRecipe(t, e, restore)
	requireSettings(t, restore, e, rdb, "no")
	require.Equal(t, int64(1), rdb.Exists(ctx, "backed-up").Val(), "the backup was not loaded")
	require.Zero(t, rdb.Exists(ctx, "after-the-backup").Val())
	require.NoError(t, rdb.ConfigSet(ctx, "appendonly", "yes").Err())
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := rdb.Info(ctx, "persistence").Result()
		require.NoError(c, err)
		require.Contains(c, info, "aof_rewrite_in_progress:0")
		require.Contains(c, info, "aof_rewrite_scheduled:0")
		require.Contains(c, info, "aof_last_bgrewrite_status:ok")
	}, 30*time.Second, 50*time.Millisecond)
	shutdown(t, rdb, exited)

	// Restarted normally: AOF on, the restored data kept.
	rdb, _ = startRecipe(t, e, start)
	requireSettings(t, start, e, rdb, "yes")
	require.Equal(t, int64(1), rdb.Exists(ctx, "backed-up").Val(), "the restored data was lost at the normal restart")
	require.Zero(t, rdb.Exists(ctx, "after-the-backup").Val())
}

// TestRedisConf_ReplicaRecipe starts deploy/SENTINEL.md's primary and
// replica and checks that the replica follows the primary.
func TestRedisConf_ReplicaRecipe(t *testing.T) {
	var primary, replica redisRecipe
	for _, r := range redisRecipes(t) {
		if r.where != "SENTINEL.md" {
			continue
		}
		if r.replica() {
			replica = r
		} else {
			primary = r
		}
	}
	require.NotEmpty(t, primary.args, "no primary command line in deploy/SENTINEL.md")
	require.NotEmpty(t, replica.args, "no replica command line in deploy/SENTINEL.md")
	ctx := context.Background()

	p := newRecipeEnv(t)
	prdb, _ := startRecipe(t, p, primary)
	require.NoError(t, prdb.Set(ctx, "replicated", "1", 0).Err())

	// replica.conf as SENTINEL.md describes it, for this primary.
	r := newRecipeEnv(t)
	_, port, err := net.SplitHostPort(prdb.Options().Addr)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(r.replicaConf, []byte(
		"replicaof 127.0.0.1 "+port+"\nmasteruser "+recipeUser+"\nmasterauth "+recipePassword+"\n"), 0o600))
	rrdb, _ := startRecipe(t, r, replica)
	requireSettings(t, replica, r, rrdb, "yes")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		info, err := rrdb.Info(ctx, "replication").Result()
		require.NoError(c, err)
		require.Contains(c, info, "role:slave")
		require.Contains(c, info, "master_link_status:up")
		require.Equal(c, "1", rrdb.Get(ctx, "replicated").Val())
	}, 60*time.Second, 100*time.Millisecond, "the replica never followed the primary")
}
