package queuetest

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCPU is the CPU time (user and system) the Redis server behind rdb
// has used, from INFO cpu; 0 if it cannot be read. Benchmarks take its
// difference over a run on a server of their own.
func RedisCPU(rdb redis.UniversalClient) time.Duration {
	info, _ := rdb.Info(context.Background(), "cpu").Result()
	var tot float64
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_cpu_sys:"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			tot += f
		} else if v, ok := strings.CutPrefix(l, "used_cpu_user:"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			tot += f
		}
	}
	return time.Duration(tot * float64(time.Second))
}

// RedisCommands is how many commands the Redis server behind rdb has
// processed (INFO stats): every command a script runs counts, and so do
// the INFO calls; 0 if it cannot be read.
func RedisCommands(rdb redis.UniversalClient) int64 {
	info, _ := rdb.Info(context.Background(), "stats").Result()
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
