package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// TaskType is the asynq task type of a label job.
const TaskType = "label:create"

// RetryHeadroom is added to MaxRetry in each task so that asynq never
// archives a job on its own: the worker dead-letters at MaxRetry, and the
// headroom covers runs that failed only because Redis was unreachable while
// recording their outcome.
const RetryHeadroom = 10

// DefaultMaxRetry is the default of Options.MaxRetry, and so of the worker's
// and of FLEXLABEL_MAX_RETRY: the only place the number is written.
const DefaultMaxRetry = 25

// Lane picks the queue a job runs on: interactive jobs (order systems) are
// served before bulk runs.
type Lane int

const (
	Interactive Lane = iota
	Bulk
)

func (l Lane) String() string {
	if l == Bulk {
		return "bulk"
	}
	return "interactive"
}

// Options configure a Store; queue.Options carries them.
type Options struct {
	// Namespace prefixes every key and names the queues: the interactive
	// queue is Namespace, the bulk queue Namespace+"-bulk". Default "flexlabel".
	Namespace string
	// MaxRetry is stored in each task (plus RetryHeadroom). Default
	// DefaultMaxRetry, at least 1.
	MaxRetry int
	// TaskTimeout bounds one run of the job's handler. Default 5m.
	TaskTimeout time.Duration
	// Retention is how long a completed job's record (and label) is kept.
	// Default 168h.
	Retention time.Duration
	// DocumentWait is how long, with webhooks on, a completed label's
	// label.completed event waits for the document URL before it is sent
	// without (label.document follows). Only the worker's store uses it.
	// Default DefaultDocumentWait.
	DocumentWait time.Duration
	// MinReplicas, when positive, makes every write that acknowledges an
	// enqueue, an operator's redrive or discard, or an outcome the worker
	// records wait until Redis's WAIT counts this many replicas holding it
	// (durable.go); fewer within ReplicaTimeout fail the write with an
	// error wrapping ErrTooFewReplicas. 0 (the default) does not wait; at
	// most MaxMinReplicas.
	MinReplicas int
	// ReplicaTimeout bounds each WAIT. It must stay below the Redis
	// client's read timeout, which the pipeline ending in WAIT runs under.
	// Default DefaultReplicaTimeout.
	ReplicaTimeout time.Duration
	// Tracking says which completed labels are followed (tracking.go);
	// only the worker's store uses it. The zero value follows none.
	Tracking TrackingOptions
	// Account is the Flex Forward account whose jobs the store reads and
	// writes (release.go): "" or DefaultAccount is the namespace's own,
	// with the keys and queues a single-account setup always had; another
	// account's keys are fl:<namespace>@<account>:…, its tasks
	// "<account>/<key>" on the accounts' shared queues, and its jobs are
	// held for the release scheduler instead of pushed pending.
	Account string
}

// Store reads and writes one namespace's records, dead letters, budget and
// asynq tasks. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
	ns   string // key prefix "fl:<namespace>:", or "fl:<namespace>@<account>:"
	// fleet is the namespace's own prefix "fl:<namespace>:", whatever the
	// account: the release scheduler's keys are there.
	fleet string
	// idPrefix is "<account>/" for another account than the namespace's
	// own: its asynq task ids.
	idPrefix string
	// the budget's keys, built once: every API call reads them
	budgetKeys [4]string // next slot, pause, interactive waiting, bulk waiting
}

// New returns a Store on rdb, with opts validated and their defaults filled
// in. It does not take ownership of rdb.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if opts.Namespace == "" {
		opts.Namespace = "flexlabel"
	}
	if strings.ContainsAny(opts.Namespace, "{}:@ \t\r\n") {
		return nil, fmt.Errorf("queue: namespace %q must not contain braces, colons, @ or spaces", opts.Namespace)
	}
	if opts.MaxRetry == 0 {
		opts.MaxRetry = DefaultMaxRetry
	}
	if opts.MaxRetry < 1 {
		return nil, fmt.Errorf("queue: MaxRetry must be at least 1, got %d", opts.MaxRetry)
	}
	if opts.TaskTimeout <= 0 {
		opts.TaskTimeout = 5 * time.Minute
	}
	if opts.Retention <= 0 {
		opts.Retention = 168 * time.Hour
	}
	if opts.DocumentWait <= 0 {
		opts.DocumentWait = DefaultDocumentWait
	}
	if opts.MinReplicas < 0 || opts.MinReplicas > MaxMinReplicas {
		return nil, fmt.Errorf("queue: MinReplicas must be between 0 and %d, got %d", MaxMinReplicas, opts.MinReplicas)
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = DefaultReplicaTimeout
	}
	if c, ok := rdb.(interface{ Options() *redis.Options }); ok && opts.MinReplicas > 0 {
		// A WAIT longer than the read timeout would end in a timeout of
		// the client's own, the connection dropped.
		if rt := c.Options().ReadTimeout; rt > 0 && opts.ReplicaTimeout >= rt {
			return nil, fmt.Errorf("queue: ReplicaTimeout (%s) must be below the Redis client's read timeout (%s)", opts.ReplicaTimeout, rt)
		}
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if !ValidAccountName(opts.Account) {
		return nil, fmt.Errorf("queue: account %q must be 1 to 32 of a-z, 0-9 and -", opts.Account)
	}
	st := &Store{rdb: rdb, opts: opts, ns: accountPrefix(opts.Namespace, opts.Account), fleet: "fl:" + opts.Namespace + ":"}
	if opts.Account != DefaultAccount {
		st.idPrefix = opts.Account + "/"
	}
	st.budgetKeys = [4]string{st.ns + "budget", st.ns + "pause", st.ns + "iwait", st.ns + "bwait"}
	return st, nil
}

// Name returns the asynq queue name of a lane: the account's
// (AccountQueue).
func (st *Store) Name(l Lane) string { return st.AccountQueue(st.opts.Account, l) }

// Account returns the account the store is for.
func (st *Store) Account() string { return st.opts.Account }

// TaskID is the asynq task id of the account's job key (HeldTaskID).
func (st *Store) TaskID(key string) string { return st.idPrefix + key }

// ValidAccountName reports whether a names an account: 1 to 32 of a-z,
// 0-9 and "-" (it appears in Redis keys, task ids, metric labels and a
// header).
func ValidAccountName(a string) bool {
	if len(a) < 1 || len(a) > 32 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// SplitTaskID is the account and key of an asynq task id: "<account>/<key>"
// for another account than the namespace's own (whose task ids are its
// keys), on its queues (queue, the task's, ends in "@" or "@-bulk").
func SplitTaskID(queueName, id string) (account, key string) {
	if strings.HasSuffix(queueName, "@") || strings.HasSuffix(queueName, "@-bulk") {
		if a, k, ok := strings.Cut(id, "/"); ok {
			return a, k
		}
	}
	return DefaultAccount, id
}

// Options returns the options in force, defaults filled in.
func (st *Store) Options() Options { return st.opts }

// Redis returns the client the store uses.
func (st *Store) Redis() redis.UniversalClient { return st.rdb }

// The namespace's own keys (asynq's are in message.go).
func (st *Store) recordKey(key string) string  { return st.ns + "k:" + key }
func (st *Store) dlqKey() string               { return st.ns + "dlq" }
func (st *Store) dlqIndexKey() string          { return st.ns + "dlq:all" }
func (st *Store) dlqReasonPrefix() string      { return st.ns + "dlq:r:" }
func (st *Store) dlqReasonKey(r string) string { return st.dlqReasonPrefix() + r }

// failuresKey is the list holding a live job's failure history.
func (st *Store) failuresKey(key string) string { return st.ns + "f:" + key }

// failuresTTL bounds how long a live job's failure history outlives its
// last failure, so a history whose job vanished (a record deleted by hand,
// or completed by a build that kept no history) does not stay forever. Jobs
// finish long before it: retries give up within hours.
const failuresTTL = 30 * 24 * time.Hour

// LoadScripts loads the Lua scripts into Redis so pipelines can use EVALSHA.
func (st *Store) LoadScripts(ctx context.Context) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, st.rdb).Err(); err != nil {
			return fmt.Errorf("queue: loading scripts: %w", err)
		}
	}
	return nil
}

// Ping checks that Redis answers.
func (st *Store) Ping(ctx context.Context) error {
	if err := st.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("queue: redis unreachable: %w", err)
	}
	return nil
}
