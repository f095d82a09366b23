package queuetest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The asynq helpers read what asynq itself wrote.
func TestAsynqHelpers_SeeWhatAsynqWrote(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	q := queuetest.Prefix(t)
	require.False(t, queuetest.Registered(t, rdb, q))
	_, err := queuetest.Task(rdb, q, "a")
	require.Error(t, err)

	c := asynq.NewClientFromRedisClient(rdb)
	for _, id := range []string{"a", "b"} {
		_, err := c.Enqueue(asynq.NewTask("x", nil), asynq.TaskID(id), asynq.Queue(q))
		require.NoError(t, err)
	}
	require.True(t, queuetest.Registered(t, rdb, q))
	require.EqualValues(t, 2, queuetest.Pending(t, rdb, q))
	ti, err := queuetest.Task(rdb, q, "a")
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, ti.State)

	queuetest.Dequeue(t, rdb, q, "a")
	require.EqualValues(t, 1, queuetest.Pending(t, rdb, q))

	var keys []string
	for _, pat := range queuetest.AsynqKeyPatterns(q) {
		ks, err := rdb.Keys(context.Background(), pat).Result()
		require.NoError(t, err)
		keys = append(keys, ks...)
	}
	require.Contains(t, keys, "asynq:{"+q+"}:t:a", "the patterns cover the task hashes")
	require.Contains(t, keys, "asynq:{"+q+"}:pending")
}

func TestBuffer_ConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b queuetest.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	require.Len(t, b.String(), 800)
}
