package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// TaskType is the asynq task type of a label job.
const TaskType = "label:create"

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
}

// Queue enqueues label jobs and operates on their records and dead letters.
// It is safe for concurrent use.
type Queue struct {
	rdb  redis.UniversalClient
	opts Options
	ns   string // key prefix "fl:<namespace>:"
	// the budget's keys, built once: every API call reads them
	budgetKeys [3]string // next slot, pause, interactive waiting
}

// New returns a Queue on rdb. It does not take ownership of rdb.
func New(rdb redis.UniversalClient, opts Options) (*Queue, error) {
	if opts.Namespace == "" {
		opts.Namespace = "flexlabel"
	}
	if strings.ContainsAny(opts.Namespace, "{}: \t\r\n") {
		return nil, fmt.Errorf("queue: namespace %q must not contain braces, colons or spaces", opts.Namespace)
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
	q := &Queue{rdb: rdb, opts: opts, ns: "fl:" + opts.Namespace + ":"}
	q.budgetKeys = [3]string{q.Key("budget"), q.Key("pause"), q.Key("iwait")}
	return q, nil
}

// Name returns the asynq queue name of a lane.
func (q *Queue) Name(l Lane) string {
	if l == Bulk {
		return q.opts.Namespace + "-bulk"
	}
	return q.opts.Namespace
}

// Options returns the options in force, defaults filled in.
func (q *Queue) Options() Options { return q.opts }

// Redis returns the client the queue uses.
func (q *Queue) Redis() redis.UniversalClient { return q.rdb }

// Key is the prefix of every Redis key this namespace owns besides asynq's.
func (q *Queue) Key(parts ...string) string { return q.ns + strings.Join(parts, ":") }

func (q *Queue) recordKey(key string) string  { return q.ns + "k:" + key }
func (q *Queue) dlqKey() string               { return q.ns + "dlq" }
func (q *Queue) dlqIndexKey() string          { return q.ns + "dlq:all" }
func (q *Queue) dlqReasonPrefix() string      { return q.ns + "dlq:r:" }
func (q *Queue) dlqReasonKey(r string) string { return q.dlqReasonPrefix() + r }

// Outcome is what Enqueue did with one request.
type Outcome string

const (
	Enqueued  Outcome = "enqueued"  // a new job
	Duplicate Outcome = "duplicate" // same key, same request: nothing new
	Conflict  Outcome = "conflict"  // same key, different request: nothing changed
	Invalid   Outcome = "invalid"   // refused by decoding or validation: nothing written
	Dead      Outcome = "dead"      // same key and request are in the dead-letter queue
)

// Accepted reports whether the outcome leaves the job in the system
// (enqueued or duplicate); other outcomes are refusals.
func (o Outcome) Accepted() bool { return o == Enqueued || o == Duplicate }

// Result is the outcome of one request; its JSON is the CLI's output line.
type Result struct {
	IdempotencyKey string           `json:"idempotencyKey"`
	Outcome        Outcome          `json:"outcome"`
	State          State            `json:"state"`
	Error          *string          `json:"error"`
	Details        []flexapi.Detail `json:"details"`
	Label          *Label           `json:"label,omitempty"`
	DeadLetter     *DeadLetterInfo  `json:"deadLetter,omitempty"`
}

// DeadLetterField is the top-level field `dlq export` adds to each line; the
// enqueue decoders strip it before the strict API decoding, so exported lines
// enqueue as they are.
const DeadLetterField = "_deadLetter"

// ParseLine decodes and validates one producer line (a Flex Forward request,
// optionally carrying DeadLetterField). A refusal comes back as a Result with
// outcome invalid whose details list every problem, of the shape and of the
// rules alike (flexapi.ParseLabelRequest).
func ParseLine(line []byte) (*flexapi.LabelRequest, *Result) {
	data := stripDeadLetterField(line)
	req, err := flexapi.ParseLabelRequest(data) // every problem at once
	if err == nil {
		if err = checkKey(req, nil); err == nil {
			return req, nil
		}
	} else {
		err = checkKey(&flexapi.LabelRequest{IdempotencyKey: guessKey(data)}, err)
	}
	res := &Result{Outcome: Invalid, IdempotencyKey: guessKey(data)}
	var ve *flexapi.ValidationError
	if errors.As(err, &ve) {
		res.Details = ve.Details
	}
	msg := err.Error()
	res.Error = &msg
	return nil, res
}

// MaxKeyLen is the longest idempotencyKey flexlabel accepts, in characters.
// It is flexlabel's own bound, not a rule of the Flex Forward API (its docs
// give no limit, and flexapi checks none): a key names Redis keys, an asynq
// task ID and a URL path (GET /v1/labels/{key}), so it is bounded like a
// request body is (1 MiB). docs/FLEXFORWARD_API.md says which rules are ours.
const MaxKeyLen = 255

// validate applies the API's documented rules (flexapi) and flexlabel's own
// key bound, every problem in one ValidationError.
func validate(req *flexapi.LabelRequest) error {
	return checkKey(req, req.Validate())
}

// checkKey adds the problem of a key over MaxKeyLen to err (nil, or what
// flexapi reported for req).
func checkKey(req *flexapi.LabelRequest, err error) error {
	n := utf8.RuneCountInString(req.IdempotencyKey)
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

// Canonical returns the payload a job carries (the request re-encoded with
// undocumented objects normalised) and its hash. Two requests with the same
// canonical form are the same request.
func Canonical(req *flexapi.LabelRequest) (payload []byte, hash string, err error) {
	c := *req
	for _, raw := range []*json.RawMessage{&c.Customs, &c.DangerousGoods, &c.Pickup, &c.CourierOptions} {
		if *raw, err = canonicalRaw(*raw); err != nil {
			return nil, "", err
		}
	}
	if len(c.ServiceOptions) > 0 {
		opts := make([]flexapi.ServiceOption, len(c.ServiceOptions))
		copy(opts, c.ServiceOptions)
		for i := range opts {
			if opts[i].Value, err = canonicalRaw(opts[i].Value); err != nil {
				return nil, "", err
			}
		}
		c.ServiceOptions = opts
	}
	payload, err = json.Marshal(&c)
	if err != nil {
		return nil, "", fmt.Errorf("queue: encoding request: %w", err)
	}
	sum := sha256.Sum256(payload)
	return payload, hex.EncodeToString(sum[:16]), nil
}

// canonicalRaw re-encodes raw JSON with sorted object keys and no spaces.
func canonicalRaw(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("queue: normalising raw JSON: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// job is one validated request ready for the enqueue script.
type job struct {
	key     string
	hash    string
	payload []byte
}

func (q *Queue) prepare(req *flexapi.LabelRequest) (job, error) {
	payload, hash, err := Canonical(req)
	if err != nil {
		return job{}, err
	}
	return job{key: req.IdempotencyKey, hash: hash, payload: payload}, nil
}

func (q *Queue) message(key, queueName string, payload []byte) []byte {
	return taskMessage{
		Type:       TaskType,
		Payload:    payload,
		ID:         key,
		Queue:      queueName,
		Retry:      int32(q.opts.MaxRetry + RetryHeadroom),
		TimeoutSec: int64(q.opts.TaskTimeout / time.Second),
	}.encode()
}

func (q *Queue) enqueueArgs(j job, lane Lane, now time.Time) ([]string, []any) {
	qn := q.Name(lane)
	keys := []string{q.recordKey(j.key), asynqTaskKey(qn, j.key), asynqPendingKey(qn), q.dlqKey(), q.dlqIndexKey(), asynqAllQueues}
	args := []any{j.hash, qn, now.UnixMilli(), q.message(j.key, qn, j.payload), j.key, now.UnixNano(), q.dlqReasonPrefix()}
	return keys, args
}

func enqueueResult(key string, v any) (Result, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return Result{}, fmt.Errorf("queue: enqueue script returned %v", v)
	}
	out, _ := arr[0].(string)
	st, _ := arr[1].(string)
	r := Result{IdempotencyKey: key, Outcome: Outcome(out)}
	switch st {
	case stCompleted:
		r.State = StateCompleted
	case stDead:
		r.State = StateDead
	default:
		r.State = StatePending
	}
	switch r.Outcome {
	case Conflict:
		msg := "idempotencyKey already used for a different request"
		r.Error = &msg
	case Dead:
		msg := "idempotencyKey is in the dead-letter queue; redrive or discard it"
		r.Error = &msg
	}
	return r, nil
}

// EnqueueLine parses one producer line and enqueues it. Refusals (invalid)
// write nothing; err is for operational failures (Redis unreachable).
func (q *Queue) EnqueueLine(ctx context.Context, line []byte, lane Lane) (Result, error) {
	req, refused := ParseLine(line)
	if refused != nil {
		q.observe(lane, refused.Outcome)
		return *refused, nil
	}
	return q.Enqueue(ctx, req, lane)
}

func (q *Queue) observe(lane Lane, o Outcome) {
	if q.opts.OnEnqueue != nil {
		q.opts.OnEnqueue(lane, o)
	}
}

// Enqueue enqueues one validated request. Callers that did not validate get
// it done here: an invalid request comes back with outcome invalid.
func (q *Queue) Enqueue(ctx context.Context, req *flexapi.LabelRequest, lane Lane) (Result, error) {
	if err := validate(req); err != nil {
		q.observe(lane, Invalid)
		return invalidResult(req.IdempotencyKey, err), nil
	}
	j, err := q.prepare(req)
	if err != nil {
		q.observe(lane, Invalid)
		return invalidResult(req.IdempotencyKey, err), nil
	}
	keys, args := q.enqueueArgs(j, lane, time.Now())
	v, err := enqueueScript.Run(ctx, q.rdb, keys, args...).Result()
	if err != nil {
		return Result{}, fmt.Errorf("queue: enqueue %q: %w", j.key, err)
	}
	res, err := enqueueResult(j.key, v)
	if err != nil {
		return Result{}, err
	}
	q.observe(lane, res.Outcome)
	return q.decorate(ctx, res)
}

// decorate adds the label of a completed duplicate and the reason of a dead key.
func (q *Queue) decorate(ctx context.Context, r Result) (Result, error) {
	if r.Outcome != Duplicate && r.Outcome != Dead && r.Outcome != Conflict {
		return r, nil
	}
	st, err := q.Status(ctx, r.IdempotencyKey)
	if err != nil {
		return r, err
	}
	if len(st) == 1 && st[0].State != StateUnknown {
		r.State = st[0].State
		r.Label = st[0].Label
		r.DeadLetter = st[0].DeadLetter
	}
	return r, nil
}

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

// EnqueueMany enqueues validated requests in one pipelined round trip, in
// order: a key repeated within the batch comes back duplicate or conflict
// exactly as if enqueued one by one. Results are in input order; invalid
// requests are refused without touching Redis. Re-running a batch that failed
// part-way is safe (enqueue is idempotent).
func (q *Queue) EnqueueMany(ctx context.Context, reqs []*flexapi.LabelRequest, lane Lane) ([]Result, error) {
	results := make([]Result, len(reqs))
	jobs := make([]job, len(reqs))
	idx := make([]int, 0, len(reqs))
	for i, req := range reqs {
		if err := validate(req); err != nil {
			results[i] = invalidResult(req.IdempotencyKey, err)
			continue
		}
		j, err := q.prepare(req)
		if err != nil {
			results[i] = invalidResult(req.IdempotencyKey, err)
			continue
		}
		jobs[i] = j
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return results, nil
	}
	now := time.Now()
	cmds := make([]*redis.Cmd, len(idx))
	todo := make([]int, len(idx)) // positions in idx still to run
	for n := range todo {
		todo[n] = n
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		pipe := q.rdb.Pipeline()
		for _, n := range todo {
			keys, args := q.enqueueArgs(jobs[idx[n]], lane, now)
			cmds[n] = enqueueScript.EvalSha(ctx, pipe, keys, args...)
		}
		_, err := pipe.Exec(ctx)
		if err == nil {
			break
		}
		// Redis forgot the script (restarted, or SCRIPT FLUSH). Only the
		// commands that failed with NOSCRIPT had no effect: run just those
		// again, in order, so what did succeed is reported as it happened.
		var again []int
		for _, n := range todo {
			if cerr := cmds[n].Err(); cerr != nil {
				if !redis.HasErrorPrefix(cerr, "NOSCRIPT") {
					return nil, fmt.Errorf("queue: enqueue %q: %w", jobs[idx[n]].key, cerr)
				}
				again = append(again, n)
			}
		}
		if len(again) == 0 {
			return nil, fmt.Errorf("queue: enqueue batch: %w", err)
		}
		if attempt >= 2 {
			return nil, fmt.Errorf("queue: enqueue batch: script still missing after loading it: %w", err)
		}
		if lerr := enqueueScript.Load(ctx, q.rdb).Err(); lerr != nil {
			return nil, fmt.Errorf("queue: loading enqueue script: %w", lerr)
		}
		todo = again
	}
	for n, i := range idx {
		v, err := cmds[n].Result()
		if err != nil {
			return nil, fmt.Errorf("queue: enqueue %q: %w", jobs[i].key, err)
		}
		if results[i], err = enqueueResult(jobs[i].key, v); err != nil {
			return nil, err
		}
	}
	if q.opts.OnEnqueue != nil {
		for _, r := range results {
			q.opts.OnEnqueue(lane, r.Outcome)
		}
	}
	return results, nil
}

// LoadScripts loads the Lua scripts into Redis so pipelines can use EVALSHA.
func (q *Queue) LoadScripts(ctx context.Context) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, q.rdb).Err(); err != nil {
			return fmt.Errorf("queue: loading scripts: %w", err)
		}
	}
	return nil
}

// Ping checks that Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("queue: redis unreachable: %w", err)
	}
	return nil
}

// RetryHeadroom is added to MaxRetry in each task so that asynq never
// archives a job on its own: the worker dead-letters at MaxRetry, and the
// headroom covers runs that failed only because Redis was unreachable while
// recording their outcome.
const RetryHeadroom = 10

// DefaultMaxRetry is the default of Options.MaxRetry, and so of the worker's
// and of FLEXLABEL_MAX_RETRY: the only place the number is written.
const DefaultMaxRetry = 25
