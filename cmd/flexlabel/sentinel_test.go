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
