package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
)

// Options configure a Queue.
type Options struct {
	// Namespace prefixes every key and names the queues: the interactive
	// queue is Namespace, the bulk queue Namespace+"-bulk". Default "flexlabel".
	Namespace string
	// MaxRetry is stored in each task; the worker dead-letters a job with
	// reason retries_exhausted after MaxRetry+1 failed attempts. Default
	// DefaultMaxRetry, at least 1.
	MaxRetry int
	// TaskTimeout bounds one run of the job's handler. Default 5m.
	TaskTimeout time.Duration
	// Retention is how long a completed job's record (and label) is kept;
	// within it the same key comes back duplicate. Default 168h.
	Retention time.Duration
	// OnEnqueue, if set, observes every enqueue outcome (for metrics). It
	// must be cheap and safe for concurrent use.
	OnEnqueue func(Lane, Outcome)
	// MinReplicas, when positive, acknowledges an enqueue (and a redrive or
	// discard) only once Redis's WAIT counts this many replicas holding it;
	// otherwise the call fails with an error wrapping ErrTooFewReplicas,
	// which is safe to retry. The worker's store takes it from here too,
	// for the outcomes it records. 0 (the default) does not wait.
	MinReplicas int
	// ReplicaTimeout bounds each wait for the replicas; it must be below
	// the client's read timeout. Default DefaultReplicaTimeout.
	ReplicaTimeout time.Duration
	// Account is the Flex Forward account whose jobs the queue enqueues and
	// reads: "" or DefaultAccount is the namespace's own (a single-account
	// setup's keys and queues); another account's jobs are held for the
	// worker's release scheduler, each account at its own budget
	// (docs/ACCOUNTS.md). ForAccount gives the queue of another account.
	Account string
}

// DefaultAccount is the account of a single-account setup, and of a
// producer that names none.
const DefaultAccount = store.DefaultAccount

// ValidAccountName reports whether a can name an account: 1 to 32 of a-z,
// 0-9 and "-".
func ValidAccountName(a string) bool { return store.ValidAccountName(a) }

// ErrTooFewReplicas is wrapped by the error of a write fewer than
// Options.MinReplicas replicas acknowledged in time (a *ReplicaError, which
// says how many did). The write may be lost in a failover; retrying it is
// safe, as after any Redis outage.
var ErrTooFewReplicas = store.ErrTooFewReplicas

// ReplicaError is the error of a write too few replicas acknowledged.
type ReplicaError = store.ReplicaError

// DefaultReplicaTimeout is the default of Options.ReplicaTimeout.
const DefaultReplicaTimeout = store.DefaultReplicaTimeout

// MaxMinReplicas is the largest Options.MinReplicas accepted.
const MaxMinReplicas = store.MaxMinReplicas

// Queue enqueues label jobs and operates on their records and dead letters.
// It is safe for concurrent use.
type Queue struct {
	st   *store.Store
	opts Options // defaults filled in
	dlq  DeadLetters
}

// New returns a Queue on rdb. It does not take ownership of rdb.
func New(rdb redis.UniversalClient, opts Options) (*Queue, error) {
	st, err := store.New(rdb, store.Options{Namespace: opts.Namespace, MaxRetry: opts.MaxRetry, TaskTimeout: opts.TaskTimeout, Retention: opts.Retention,
		MinReplicas: opts.MinReplicas, ReplicaTimeout: opts.ReplicaTimeout, Account: opts.Account})
	if err != nil {
		return nil, err
	}
	so := st.Options()
	opts.Namespace, opts.MaxRetry, opts.TaskTimeout, opts.Retention = so.Namespace, so.MaxRetry, so.TaskTimeout, so.Retention
	opts.ReplicaTimeout, opts.Account = so.ReplicaTimeout, so.Account
	return &Queue{st: st, opts: opts, dlq: DeadLetters{st: st}}, nil
}

// ForAccount returns the queue of account a on the same Redis and
// namespace, with the same options; q itself when a is q's account.
func (q *Queue) ForAccount(a string) (*Queue, error) {
	if a == "" {
		a = DefaultAccount
	}
	if a == q.opts.Account {
		return q, nil
	}
	o := q.opts
	o.Account = a
	return New(q.st.Redis(), o)
}

// Account returns the account the queue is for.
func (q *Queue) Account() string { return q.opts.Account }

// FleetAccounts returns the accounts the fleet's workers run, sorted (the
// default account among them when the workers have an accounts file and
// run it); none in a single-account setup.
func (q *Queue) FleetAccounts(ctx context.Context) ([]string, error) { return q.st.FleetAccounts(ctx) }

// HeldJobs counts the jobs of the queue's account waiting, held, for its
// budget (always 0 for the default account, whose jobs wait pending).
func (q *Queue) HeldJobs(ctx context.Context) (int64, error) {
	return q.st.HeldJobs(ctx, q.opts.Account)
}

// ErrUnknownAccount is wrapped by CheckAccount's error for an account the
// fleet does not run.
var ErrUnknownAccount = errors.New("unknown account")

// CheckAccount reports whether the fleet's workers run the queue's
// account, as they record it in Redis: a job of an account they do not run
// would wait until one does. Another account than the namespace's own
// must be in the workers' FLEXLABEL_ACCOUNTS_FILE; the namespace's own is
// run unless the workers have an accounts file without it. The error of an
// account not run wraps ErrUnknownAccount.
func (q *Queue) CheckAccount(ctx context.Context) error {
	ok, err := q.st.AccountConfigured(ctx, q.opts.Account)
	switch {
	case err != nil:
		return err
	case ok:
		return nil
	case q.opts.Account == DefaultAccount:
		return fmt.Errorf("%w: the workers run an accounts file without a default account; name the account", ErrUnknownAccount)
	}
	return fmt.Errorf("%w %q: no worker runs it (it is not in the workers' FLEXLABEL_ACCOUNTS_FILE, or no worker has started with it yet)", ErrUnknownAccount, q.opts.Account)
}

// DeadLetters returns the queue's dead-letter queue.
func (q *Queue) DeadLetters() *DeadLetters { return &q.dlq }

// Name returns the asynq queue name of a lane.
func (q *Queue) Name(l Lane) string { return q.st.Name(l) }

// Options returns the options in force, defaults filled in.
func (q *Queue) Options() Options { return q.opts }

// Redis returns the client the queue uses.
func (q *Queue) Redis() redis.UniversalClient { return q.st.Redis() }

// Result is the outcome of one request; its JSON is the CLI's output line.
type Result struct {
	IdempotencyKey string           `json:"idempotencyKey"`
	Account        string           `json:"account"`
	Outcome        Outcome          `json:"outcome"`
	State          State            `json:"state"`
	Error          *string          `json:"error"`
	Details        []flexapi.Detail `json:"details"`
	Label          *Label           `json:"label,omitempty"`
	DeadLetter     *DeadLetterInfo  `json:"deadLetter,omitempty"`
}

// Parsed is one label request decoded and validated once, ready to enqueue
// without validating again: the job in the canonical form it carries, or the
// refusal (outcome invalid) answered in its place. ParseLine makes one from a
// producer line, Refused from a refusal a front end decided itself; the zero
// value is not a request. A Parsed cannot be changed once validated, so what
// was validated is what is enqueued.
type Parsed struct {
	job     store.Job
	refusal *Result
}

// Key is the request's idempotencyKey; for a refusal, the key it names, if
// any.
func (p Parsed) Key() string {
	if p.refusal != nil {
		return p.refusal.IdempotencyKey
	}
	return p.job.Key
}

// Refusal is the answer to a refused request; nil for a valid one.
func (p Parsed) Refusal() *Result { return p.refusal }

// Refused is a request a front end refused before ParseLine saw it (one over
// its size limit, a CSV row that is no request): r is answered in its place.
func Refused(r Result) Parsed { return Parsed{refusal: &r} }

// ParseLine decodes and validates one producer line (a Flex Forward request,
// optionally carrying DeadLetterField). A refusal has outcome invalid and
// details listing every problem, of the shape and of the rules alike
// (flexapi.ParseLabelRequest, and flexlabel's own key bound).
func ParseLine(line []byte) Parsed {
	data := stripDeadLetterField(line)
	req, err := flexapi.ParseLabelRequest(data) // every problem at once
	if err != nil {
		key := guessKey(data)
		return refuse(key, checkKey(key, err))
	}
	return prepare(req, checkKey(req.IdempotencyKey, nil))
}

// prepare makes req, whose validation found err (nil: none), a Parsed.
func prepare(req *flexapi.LabelRequest, err error) Parsed {
	if err == nil {
		var j store.Job
		if j.Payload, j.Hash, err = store.Canonical(req); err == nil {
			j.Key = req.IdempotencyKey
			return Parsed{job: j}
		}
	}
	return refuse(req.IdempotencyKey, err)
}

func refuse(key string, err error) Parsed {
	r := invalidResult(key, err)
	return Parsed{refusal: &r}
}

// validate applies the API's documented rules (flexapi) and flexlabel's own
// key bound, every problem in one ValidationError.
func validate(req *flexapi.LabelRequest) error {
	return checkKey(req.IdempotencyKey, req.Validate())
}

// checkKey adds the problem of a key over MaxKeyLen to err (nil, or what
// flexapi reported for the request).
func checkKey(key string, err error) error {
	n := utf8.RuneCountInString(key)
	if n <= MaxKeyLen {
		return err
	}
	d := flexapi.Detail{Field: "idempotencyKey", Message: fmt.Sprintf("must be at most %d characters (flexlabel's limit), got %d", MaxKeyLen, n)}
	var ve *flexapi.ValidationError
	switch {
	case err == nil:
		return &flexapi.ValidationError{Details: []flexapi.Detail{d}}
	case errors.As(err, &ve):
		for _, x := range ve.Details {
			if x.Field == d.Field {
				return err
			}
		}
		return &flexapi.ValidationError{Details: append(append([]flexapi.Detail(nil), ve.Details...), d)}
	default:
		return err
	}
}

// stripDeadLetterField removes a top-level DeadLetterField without touching
// anything else; lines without it are returned as they are.
func stripDeadLetterField(line []byte) []byte {
	if !bytes.Contains(line, []byte(`"`+DeadLetterField+`"`)) {
		return line
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return line
	}
	if _, ok := obj[DeadLetterField]; !ok {
		return line
	}
	delete(obj, DeadLetterField)
	out, err := json.Marshal(obj)
	if err != nil {
		return line
	}
	return out
}

// guessKey pulls an idempotencyKey out of a line that failed decoding, so the
// refusal can name it; it never fails.
func guessKey(line []byte) string {
	var probe struct {
		IdempotencyKey any `json:"idempotencyKey"`
	}
	if json.Unmarshal(line, &probe) == nil {
		if s, ok := probe.IdempotencyKey.(string); ok {
			return s
		}
	}
	return ""
}

// enqueueResult is the Result of an enqueue the script answered.
func enqueueResult(key string, r store.EnqueueReply) Result {
	res := Result{IdempotencyKey: key, Outcome: r.Outcome, State: r.State}
	switch r.Outcome {
	case Conflict:
		msg := "idempotencyKey already used for a different request"
		res.Error = &msg
	case Dead:
		msg := "idempotencyKey is in the dead-letter queue; redrive or discard it"
		res.Error = &msg
	}
	return res
}

// EnqueueLine parses one producer line and enqueues it, as Enqueue does.
// Refusals (invalid) write nothing; err is for operational failures (Redis
// unreachable).
func (q *Queue) EnqueueLine(ctx context.Context, line []byte, lane Lane) (Result, error) {
	return q.enqueueOne(ctx, ParseLine(line), lane)
}

func (q *Queue) observe(lane Lane, o Outcome) {
	if q.opts.OnEnqueue != nil {
		q.opts.OnEnqueue(lane, o)
	}
}

// Enqueue validates req and enqueues it: an invalid request comes back with
// outcome invalid, a duplicate, conflicting or dead one with its job's
// state, label and dead letter (WithJobState).
func (q *Queue) Enqueue(ctx context.Context, req *flexapi.LabelRequest, lane Lane) (Result, error) {
	return q.enqueueOne(ctx, prepare(req, validate(req)), lane)
}

func (q *Queue) enqueueOne(ctx context.Context, p Parsed, lane Lane) (Result, error) {
	if p.refusal != nil {
		q.observe(lane, Invalid)
		r := *p.refusal
		r.Account = q.opts.Account
		return r, nil
	}
	res, err := q.EnqueueLines(ctx, []Parsed{p}, lane, WithJobState)
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

var errNotParsed = errors.New("queue: not a parsed request (ParseLine makes one)")

// ResultDetail is how much EnqueueLines tells of a request it did not
// enqueue new.
type ResultDetail int

const (
	// OutcomeOnly answers the outcome and the state the enqueue found
	// (pending, completed or dead), in the batch's one round trip: a bulk
	// run's answer, where re-running a file must cost no more than running it.
	OutcomeOnly ResultDetail = iota
	// WithJobState also gives a duplicate, conflicting or dead request its
	// job's current state, label and dead letter, in one more round trip
	// when there are any: what Enqueue and POST /v1/labels/batch answer.
	WithJobState
)

func invalidResult(key string, err error) Result {
	r := Result{IdempotencyKey: key, Outcome: Invalid}
	var ve *flexapi.ValidationError
	if errors.As(err, &ve) {
		r.Details = ve.Details
	}
	msg := err.Error()
	r.Error = &msg
	return r
}

// EnqueueMany validates requests and enqueues them as EnqueueLines does,
// with OutcomeOnly; an invalid request is refused in its place.
func (q *Queue) EnqueueMany(ctx context.Context, reqs []*flexapi.LabelRequest, lane Lane) ([]Result, error) {
	lines := make([]Parsed, len(reqs))
	for i, req := range reqs {
		lines[i] = prepare(req, validate(req))
	}
	return q.EnqueueLines(ctx, lines, lane, OutcomeOnly)
}

// EnqueueLines enqueues parsed requests in one pipelined round trip, in
// order: a key repeated within the batch comes back duplicate or conflict
// exactly as if enqueued one by one. Results are in input order, a refusal
// answered in its place without touching Redis; detail says how much a
// result tells. Re-running a batch that failed part-way is safe (enqueue is
// idempotent). OnEnqueue observes the outcome of every line, refusals
// (invalid) included, once the batch is answered: a batch Redis did not
// take is not counted.
func (q *Queue) EnqueueLines(ctx context.Context, lines []Parsed, lane Lane, detail ResultDetail) ([]Result, error) {
	results := make([]Result, len(lines))
	idx := make([]int, 0, len(lines)) // the lines to enqueue
	for i, p := range lines {
		switch {
		case p.refusal != nil:
			results[i] = *p.refusal
		case p.job.Payload == nil: // the zero Parsed: nothing was validated
			results[i] = invalidResult("", errNotParsed)
		default:
			idx = append(idx, i)
		}
	}
	if len(idx) > 0 {
		replies, err := q.st.Enqueue(ctx, lane, len(idx), func(n int) *store.Job { return &lines[idx[n]].job })
		if err != nil {
			return nil, err
		}
		for n, i := range idx {
			results[i] = enqueueResult(lines[i].job.Key, replies[n])
		}
	}
	for i := range results {
		results[i].Account = q.opts.Account
		q.observe(lane, results[i].Outcome)
	}
	if len(idx) == 0 {
		return results, nil
	}
	if detail == WithJobState {
		if err := q.decorate(ctx, results); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// decorate adds to each duplicate, conflicting and dead result its job's
// state, label and dead letter, in one round trip.
func (q *Queue) decorate(ctx context.Context, results []Result) error {
	var keys []string
	var at []int
	for i, r := range results {
		if r.Outcome == Duplicate || r.Outcome == Conflict || r.Outcome == Dead {
			keys = append(keys, r.IdempotencyKey)
			at = append(at, i)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sts, err := q.Status(ctx, keys...)
	if err != nil {
		return err
	}
	for n, i := range at {
		if st := sts[n]; st.State != StateUnknown {
			results[i].State, results[i].Label, results[i].DeadLetter = st.State, st.Label, st.DeadLetter
		}
	}
	return nil
}

// LoadScripts loads the Lua scripts into Redis so pipelines can use EVALSHA.
func (q *Queue) LoadScripts(ctx context.Context) error { return q.st.LoadScripts(ctx) }

// Ping checks that Redis answers.
func (q *Queue) Ping(ctx context.Context) error { return q.st.Ping(ctx) }
