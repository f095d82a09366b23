package worker

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// An outcome written to a Redis that answers but is a replica (READONLY: a
// failover under way, or a managed endpoint not yet moved to the promoted
// node) is waited for, as during an outage, and lands once that server is
// the primary; it is not given up as if Redis had refused it for good.
func TestRecord_ReadOnlyReplica_WaitsUntilItIsPrimary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	primary := queuetest.StartRedis(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(primary.Addr())
	replica := queuetest.StartRedis(t, "--replicaof", host, port)
	rdb := redis.NewClient(replica.Options())
	defer rdb.Close()
	require.Eventually(t, func() bool {
		info, err := rdb.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	}, 15*time.Second, 20*time.Millisecond)

	st, err := store.New(rdb, store.Options{Namespace: queuetest.Prefix(t)})
	require.NoError(t, err)
	w := &Worker{st: st}
	log := &jobLog{l: slog.New(slog.DiscardHandler), ctx: ctx}
	key := queuetest.Prefix(t)
	var errs []error
	write := func() error {
		if len(errs) == 1 {
			// The failover completes: this server is promoted.
			require.NoError(t, rdb.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
		}
		err := rdb.Set(ctx, key, "recorded", 0).Err()
		if err != nil {
			errs = append(errs, err)
		}
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, w.record(rctx, log, write))
	require.Len(t, errs, 1)
	require.True(t, redis.IsReadOnlyError(errs[0]), "the first write met a replica: %v", errs[0])
	require.Equal(t, "recorded", rdb.Get(ctx, key).Val())
}
