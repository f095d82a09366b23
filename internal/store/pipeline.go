package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// runPipelined runs script n times in one pipelined round trip, in order,
// the i-th time with the keys and arguments args(i) gives, and returns each
// run's command (cmds[i] for run i) and the first error among them, as
// Pipeliner.Exec reports it (redis.Nil included: a script may answer nil).
//
// Redis may have forgotten the script (a restart, SCRIPT FLUSH, even in the
// middle of the pipeline). A run that failed with NOSCRIPT had no effect, so
// the script is loaded and just those runs go again, in order; what did
// succeed is reported as it happened. This is the one recovery from NOSCRIPT
// for pipelines: a single call uses Script.Run, which falls back to EVAL.
//
// A write passes its store's acker (nil for reads, or with MinReplicas 0):
// each round trip then ends with the barrier and WAIT (durable.go), one for
// the whole batch, and runs whose writes too few replicas acknowledged make
// the error a *ReplicaError, cmds still set.
func runPipelined(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, n int, args func(i int) ([]string, []any), ack *acker) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, n)
	todo := make([]int, n) // runs still to do
	for i := range todo {
		todo[i] = i
	}
	var wait ackCmds // the last round trip's barrier and WAIT
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := rdb.Pipeline()
		for _, i := range todo {
			keys, argv := args(i)
			cmds[i] = script.EvalSha(ctx, pipe, keys, argv...)
		}
		if ack != nil {
			wait = ack.add(ctx, pipe)
		}
		_, err := pipe.Exec(ctx)
		if err == nil {
			return cmds, ack.check(wait)
		}
		var again []int
		for _, i := range todo {
			if cerr := cmds[i].Err(); cerr != nil && redis.HasErrorPrefix(cerr, "NOSCRIPT") {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		if attempt >= 2 {
			return nil, fmt.Errorf("script still missing after loading it: %w", err)
		}
		if lerr := script.Load(ctx, rdb).Err(); lerr != nil {
			return nil, fmt.Errorf("loading script: %w", lerr)
		}
		todo = again
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return cmds, err
		}
	}
	if ack != nil {
		// The scripts ran; the barrier or WAIT failed, or WAIT counted
		// too few replicas.
		return cmds, ack.check(wait)
	}
	return cmds, nil
}
