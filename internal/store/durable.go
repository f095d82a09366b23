package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durable acknowledgements (issue 18). Redis replicates asynchronously: a
// write the primary has taken can vanish when a replica is promoted in its
// place. With Options.MinReplicas set, every write that acknowledges
// something to a producer or an operator (an enqueue, a redrive, a discard)
// and every outcome the worker records (completed, dead letter, document
// URL, the webhook events those scripts write) ends, in the same pipeline
// and so on the same connection, with
//
//	SET fl:<ns>:sync 1
//	WAIT MinReplicas ReplicaTimeout
//
// and is reported as done only when WAIT counts MinReplicas replicas. WAIT
// waits for the replication offset of the connection's last write; the SET
// makes that the offset of everything Redis had executed at that moment, so
// an answer that wrote nothing — a duplicate whose record another producer
// wrote a moment before, a retry whose first attempt did write — is not
// acknowledged before that earlier write reached the replicas.
//
// Failure records of jobs that will be retried (Fail, FailAttempt) and the
// fleet budget are not waited for: losing one costs a shorter failure
// history or one budget slot, and they are written on every attempt.

// ErrTooFewReplicas is wrapped by the error of a write that fewer than
// Options.MinReplicas replicas acknowledged within Options.ReplicaTimeout
// (a *ReplicaError). The write was applied on the primary and may or may
// not survive a failover; every such write is idempotent, so the caller
// retries it as it would after Redis did not answer.
var ErrTooFewReplicas = errors.New("queue: too few Redis replicas acknowledged the write")

// ReplicaError is a write WAIT did not confirm: Acked of Want replicas had it
// after Timeout.
type ReplicaError struct {
	Acked, Want int
	Timeout     time.Duration
}

func (e *ReplicaError) Error() string {
	return fmt.Sprintf("%d of %d Redis replicas acknowledged the write within %s; "+
		"the primary has it but a failover could lose it; retrying is safe (writes are idempotent)",
		e.Acked, e.Want, e.Timeout)
}

// Is makes errors.Is(err, ErrTooFewReplicas) hold.
func (e *ReplicaError) Is(target error) bool { return target == ErrTooFewReplicas }

// DefaultReplicaTimeout is the default of Options.ReplicaTimeout, and so of
// FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT.
const DefaultReplicaTimeout = time.Second

// MaxMinReplicas bounds Options.MinReplicas: more replicas than this is a typo.
const MaxMinReplicas = 16

// syncKey is the key the barrier SET writes before each WAIT.
func (st *Store) syncKey() string { return st.ns + "sync" }

// acker appends the barrier and WAIT to a write's pipeline and checks WAIT's
// answer; nil (MinReplicas 0) appends nothing.
type acker struct {
	key     string
	want    int
	timeout time.Duration
}

func (st *Store) acker() *acker {
	if st.opts.MinReplicas == 0 {
		return nil
	}
	return &acker{key: st.syncKey(), want: st.opts.MinReplicas, timeout: st.opts.ReplicaTimeout}
}

// ackCmds are the barrier and the WAIT of one round trip.
type ackCmds struct {
	barrier *redis.StatusCmd
	wait    *redis.Cmd
}

// add queues the barrier and WAIT on pipe, after the write's commands.
// (WAIT is no Pipeliner method: go-redis gives it a read timeout of its
// own, which a pipeline cannot; the pipeline reads under the client's read
// timeout, which ReplicaTimeout must stay below.)
func (a *acker) add(ctx context.Context, pipe redis.Pipeliner) ackCmds {
	return ackCmds{barrier: pipe.Set(ctx, a.key, "1", 0), wait: pipe.Do(ctx, "WAIT", a.want, a.timeout.Milliseconds())}
}

// check turns the answers of add's commands into nil or an error; a nil
// acker has nothing to check.
func (a *acker) check(c ackCmds) error {
	if a == nil {
		return nil
	}
	if err := c.barrier.Err(); err != nil {
		return fmt.Errorf("waiting for Redis replicas: %w", err)
	}
	n, err := c.wait.Int64()
	if err != nil {
		return fmt.Errorf("waiting for Redis replicas: %w", err)
	}
	if int(n) < a.want {
		return &ReplicaError{Acked: int(n), Want: a.want, Timeout: a.timeout}
	}
	return nil
}

// run is Script.Run for a write: with MinReplicas set, the script runs in a
// pipeline that ends with the acknowledgement, and a write too few replicas
// acknowledged fails with a *ReplicaError (its reply, when it has one, is
// lost: the caller retries the whole write).
func (st *Store) run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	ack := st.acker()
	if ack == nil {
		return s.Run(ctx, st.rdb, keys, args...)
	}
	cmds, err := runPipelined(ctx, st.rdb, s, 1, func(int) ([]string, []any) { return keys, args }, ack)
	if cmds == nil {
		c := redis.NewCmd(ctx)
		c.SetErr(err)
		return c
	}
	if err != nil && cmds[0].Err() == nil {
		cmds[0].SetErr(err)
	}
	return cmds[0]
}
