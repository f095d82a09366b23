package queuetest

import (
	"cmp"
	"context"
	"slices"
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

// CommandStat is one command's line of INFO commandstats: how many times
// it ran (in scripts too) and the server's time in it.
type CommandStat struct {
	Name  string
	Calls int64
	Time  time.Duration
}

// RedisCommandStats is INFO commandstats of the Redis server behind rdb,
// by command name (lower case, "evalsha" for a script's whole run beside
// its commands'); nil if it cannot be read.
func RedisCommandStats(rdb redis.UniversalClient) map[string]CommandStat {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]CommandStat{}
	for _, l := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "cmdstat_"), ":")
		if !ok || len(name) == len(l) {
			continue
		}
		c := CommandStat{Name: name}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				c.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				us, _ := strconv.ParseInt(v, 10, 64)
				c.Time = time.Duration(us) * time.Microsecond
			}
		}
		out[name] = c
	}
	return out
}

// TopCommands is the n commands of after that took the most of the
// server's time since before, with their calls and time in that span.
func TopCommands(before, after map[string]CommandStat, n int) []CommandStat {
	var out []CommandStat
	for name, a := range after {
		b := before[name]
		if d := (CommandStat{Name: name, Calls: a.Calls - b.Calls, Time: a.Time - b.Time}); d.Calls > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y CommandStat) int { return cmp.Compare(y.Time, x.Time) })
	return out[:min(n, len(out))]
}
