package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
)

// TestTrackingDue_ReadsTheScheduleOfOneKey: the next check of a key is its
// score on fl:<ns>:trk:due (Unix ms, as internal/store/tracking.go lays it
// out), to the millisecond and in UTC; a key not on the schedule has none.
func TestTrackingDue_ReadsTheScheduleOfOneKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	due := "fl:" + e.ns + ":trk:due"

	got, err := e.st.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.Nil(t, got, "nothing scheduled yet")

	at := time.Date(2026, 12, 2, 22, 7, 42, 123_000_000, time.FixedZone("x", 3600))
	require.NoError(t, e.rdb.ZAdd(ctx, due,
		redis.Z{Score: float64(at.UnixMilli()), Member: "k1"},
		redis.Z{Score: float64(at.Add(time.Hour).UnixMilli()), Member: "k2"},
	).Err())
	got, err = e.st.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.NotNil(t, got)
	require.True(t, at.Equal(*got), "got %v, want %v", got, at)
	require.Equal(t, time.UTC, got.Location())
	got, err = e.st.TrackingDue(ctx, "k2")
	require.NoError(t, err)
	require.True(t, at.Add(time.Hour).Equal(*got), "each key has its own time")

	// A key not followed, or no longer (Delivered), is off the schedule.
	require.NoError(t, e.rdb.ZRem(ctx, due, "k1").Err())
	got, err = e.st.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.Nil(t, got)

	// Another namespace's schedule is not ours.
	other, err := store.New(e.rdb, store.Options{Namespace: e.ns + "x"})
	require.NoError(t, err)
	got, err = other.TrackingDue(ctx, "k2")
	require.NoError(t, err)
	require.Nil(t, got)
}

// TestTrackingDue_RedisError_NamesTheKey: a failed read is an error naming
// what was read, not "not scheduled".
func TestTrackingDue_RedisError_NamesTheKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{Namespace: e.ns})
	require.NoError(t, err)
	got, err := st.TrackingDue(context.Background(), "ord-7")
	require.Error(t, err)
	require.Nil(t, got)
	require.Contains(t, err.Error(), `tracking schedule of "ord-7"`)
}
