package queuetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The topology is real Sentinel: killing the primary makes the sentinels
// promote one of the replicas, which has the primary's writes, and the old
// primary comes back as a replica of the new one.
func TestStartSentinels_KillPrimary_SentinelsPromoteAReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	topo := queuetest.StartSentinels(t, 2)
	require.Len(t, topo.ReplicaAddrs(), 2)
	old := topo.PrimaryAddr()

	p := redis.NewClient(&redis.Options{Addr: old})
	defer p.Close()
	key := queuetest.Prefix(t)
	require.NoError(t, p.Set(ctx, key, "v", 0).Err())
	// WAIT: the write has reached both replicas before the primary dies.
	n, err := p.Do(ctx, "WAIT", 2, 5000).Int()
	require.NoError(t, err)
	require.Equal(t, 2, n)

	topo.KillPrimary()
	promoted := topo.WaitFailover(30 * time.Second)
	require.NotEqual(t, old, promoted)
	require.Equal(t, promoted, topo.PrimaryAddr())
	require.Len(t, topo.ReplicaAddrs(), 1, "the dead primary is not a replica")

	np := redis.NewClient(&redis.Options{Addr: promoted})
	defer np.Close()
	require.Equal(t, "v", np.Get(ctx, key).Val())
	require.NoError(t, np.Set(ctx, key, "w", 0).Err(), "the promoted replica takes writes")

	// The sentinels' failover URL finds the new primary too.
	fo, err := redis.ParseFailoverURL(topo.URL())
	require.NoError(t, err)
	require.Equal(t, topo.SentinelAddrs(), fo.SentinelAddrs)
	require.Equal(t, topo.MasterName(), fo.MasterName)
	fc := redis.NewFailoverClient(fo)
	defer fc.Close()
	require.Equal(t, "w", fc.Get(ctx, key).Val())

	topo.RestartOldPrimaryAsReplica()
	require.Len(t, topo.ReplicaAddrs(), 2)
	oc := redis.NewClient(&redis.Options{Addr: old})
	defer oc.Close()
	require.Equal(t, "w", oc.Get(ctx, key).Val(), "the old primary replicates the new one")
	require.Error(t, oc.Set(ctx, key, "x", 0).Err(), "the old primary is read-only now")
}
