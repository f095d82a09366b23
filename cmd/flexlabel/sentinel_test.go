package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// A process on REDIS_URL's Sentinel form keeps its one client through a
// failover: after the primary is SIGKILLed, enqueues fail only until the
// sentinels promote a replica, then go to the new primary, with no READONLY
// error (the client never writes to a replica) and no new client; the old
// primary coming back as a replica changes nothing. The time from the kill
// to the first enqueue through the new primary is logged.
func TestSentinel_KillPrimary_EnqueuesFollowTheNewPrimary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := queuetest.StartSentinels(t, 2)
	ns := queuetest.Prefix(t)
	cfg, err := config.Parse(map[string]string{"REDIS_URL": topo.URL(), "FLEXLABEL_QUEUE": ns})
	require.NoError(t, err)
	require.NotNil(t, cfg.RedisFailover)
	d, err := (&app{}).openQueueWith(ctx, cfg)
	require.NoError(t, err)
	defer d.Close()

	n := 0
	var readonly, failed int
	var errs []string
	enqueue := func() (string, error) {
		n++
		key := fmt.Sprintf("%s-%d", ns, n)
		ectx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		res, err := d.q.Enqueue(ectx, queuetest.Request(key, "HKMUZXR"), queue.Interactive)
		if err == nil && res.Outcome != queue.Enqueued {
			err = fmt.Errorf("outcome %s", res.Outcome)
		}
		if err != nil {
			failed++
			if redis.IsReadOnlyError(err) || strings.Contains(err.Error(), "READONLY") {
				readonly++
			}
			errs = append(errs, err.Error())
		}
		return key, err
	}
	for range 3 {
		_, err := enqueue()
		require.NoError(t, err)
	}

	old := topo.PrimaryAddr()
	topo.KillPrimary()
	killed := time.Now()
	var first string
	for deadline := killed.Add(30 * time.Second); first == ""; {
		require.True(t, time.Now().Before(deadline), "no enqueue succeeded within 30s of the kill; errors: %q", errs)
		if key, err := enqueue(); err == nil {
			first = key
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	took := time.Since(killed)
	during := failed
	promoted := topo.WaitFailover(30 * time.Second)
	require.NotEqual(t, old, promoted)
	t.Logf("kill -> first enqueue through the new primary: %s (%d enqueues failed meanwhile, %d READONLY)", took.Round(time.Millisecond), during, readonly)

	// The enqueue went to the promoted replica: a client of its own, not
	// through Sentinel, finds the job there.
	direct := redis.NewClient(&redis.Options{Addr: promoted})
	defer direct.Close()
	dq, err := queue.New(direct, queue.Options{Namespace: ns})
	require.NoError(t, err)
	st, err := dq.Status(ctx, first)
	require.NoError(t, err)
	require.Equal(t, queue.StatePending, st[0].State, "the first enqueue after the kill is on the new primary")

	// Every enqueue from now on succeeds on the same client.
	for range 20 {
		_, err := enqueue()
		require.NoError(t, err)
	}
	topo.RestartOldPrimaryAsReplica()
	for range 20 {
		_, err := enqueue()
		require.NoError(t, err, "the old primary back as a replica must not take the client's writes")
	}
	require.Equal(t, during, failed, "errors after the failover settled: %q", errs[during:])
	require.Zero(t, readonly, "READONLY errors: the client wrote to a replica: %q", errs)
}

// doctor reports the topology it sees: through the Sentinel form the
// primary the sentinels name, its replicas, every sentinel and the quorum;
// and REDIS_URL pointing at a replica directly is a problem.
func TestDoctor_SentinelTopology_Reported(t *testing.T) {
	t.Parallel()
	topo := queuetest.StartSentinels(t, 2)
	// The replicas and the primary share persistence settings; doctor's
	// other checks are covered elsewhere, so make them pass.
	for _, addr := range append(topo.ReplicaAddrs(), topo.PrimaryAddr()) {
		c := redis.NewClient(&redis.Options{Addr: addr})
		require.NoError(t, c.ConfigSet(context.Background(), "appendonly", "yes").Err())
		require.NoError(t, c.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err())
		require.NoError(t, c.Close())
	}
	// Passwords for Redis and for the sentinels (which, without
	// requirepass, accept any): doctor uses both and prints neither.
	const redisPW, sentPW = "redisPW-DOCTOR-do-not-print", "sentPW-DOCTOR-do-not-print"
	u := strings.Replace(topo.URL(), "redis://", "redis://:"+redisPW+"@", 1) + "&sentinel_password=" + sentPW
	env, _ := doctorEnv(t, u, doctorToken)
	r := runDoctor(t, env, "--json")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	for _, pw := range []string{redisPW, sentPW} {
		require.NotContains(t, r.stdout+r.stderr, pw)
	}
	require.Contains(t, r.stdout, "redis://xxxxx:xxxxx@"+topo.SentinelAddrs()[0])
	require.Contains(t, r.stdout, "sentinel_password=xxxxx")
	rep := doctorJSON(t, r)
	require.Empty(t, rep.Problems)
	require.True(t, rep.Redis.Reachable)
	require.Equal(t, "master", rep.Redis.Role)
	require.Equal(t, topo.PrimaryAddr(), rep.Redis.Primary)
	var replicas []string
	for _, rp := range rep.Redis.Replicas {
		replicas = append(replicas, rp.Addr)
		require.Equal(t, "online", rp.State)
	}
	require.ElementsMatch(t, topo.ReplicaAddrs(), replicas)
	s := rep.Redis.Sentinel
	require.NotNil(t, s)
	require.Equal(t, topo.MasterName(), s.MasterName)
	require.Equal(t, 2, s.Quorum)
	require.Equal(t, 3, s.Known)
	var addrs []string
	for _, n := range s.Sentinels {
		require.True(t, n.Reachable, n.Error)
		require.Equal(t, topo.PrimaryAddr(), n.Primary)
		addrs = append(addrs, n.Addr)
	}
	require.Equal(t, topo.SentinelAddrs(), addrs)

	text := runDoctor(t, env)
	require.Equal(t, 0, text.code, text.stdout)
	require.Regexp(t, `(?m)^  role +master$`, text.stdout)
	require.Regexp(t, `(?m)^  replicas +2 \(`, text.stdout)
	require.Regexp(t, `(?m)^  quorum +2 \(3 sentinels known\)$`, text.stdout)
	require.Regexp(t, `(?m)^  sentinel `+topo.SentinelAddrs()[2]+` +primary `+topo.PrimaryAddr()+`$`, text.stdout)
	for _, pw := range []string{redisPW, sentPW} {
		require.NotContains(t, text.stdout+text.stderr, pw)
	}

	// A sentinel REDIS_URL names that does not answer is a problem.
	dead := freeAddr(t)
	env, _ = doctorEnv(t, topo.URL()+"&addr="+dead, doctorToken)
	rep = doctorJSON(t, runDoctor(t, env, "--json"))
	require.Len(t, rep.Problems, 1, "%q", rep.Problems)
	require.Contains(t, rep.Problems[0], "Sentinel at "+dead+" did not answer")
	require.False(t, rep.Redis.Sentinel.Sentinels[3].Reachable)

	// A plain redis:// URL at a replica: writes would fail, doctor says so.
	env, _ = doctorEnv(t, "redis://"+topo.ReplicaAddrs()[0]+"/0", doctorToken)
	rep = doctorJSON(t, runDoctor(t, env, "--json"))
	require.Equal(t, "slave", rep.Redis.Role)
	require.Contains(t, strings.Join(rep.Problems, "\n"), "Redis at "+topo.ReplicaAddrs()[0]+" is a replica (of "+topo.PrimaryAddr()+"): every write fails with READONLY")
}
