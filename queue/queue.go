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

// Parsed is one label request decoded and validated once, ready to enqueue
// without validating again: the job in the canonical form it carries, or the
// refusal (outcome invalid) answered in its place. ParseLine makes one from a
// producer line, Refused from a refusal a front end decided itself; the zero
// value is not a request. A Parsed cannot be changed once validated, so what
// was validated is what is enqueued.
type Parsed struct {
	job     job
	refusal *Result
}

// Key is the request's idempotencyKey; for a refusal, the key it names, if
// any.
func (p Parsed) Key() string {
	if p.refusal != nil {
		return p.refusal.IdempotencyKey
	}
	return p.job.key
}

// Refusal is the answer to a refused request; nil for a valid one.
func (p Parsed) Refusal() *Result { return p.refusal }

// Payload is the canonical JSON the job carries (Canonical); nil for a
// refusal.
func (p Parsed) Payload() []byte { return p.job.payload }

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
		var j job
		if j.payload, j.hash, err = Canonical(req); err == nil {
			j.key = req.IdempotencyKey
			return Parsed{job: j}
		}
	}
	return refuse(req.IdempotencyKey, err)
}

func refuse(key string, err error) Parsed {
	r := invalidResult(key, err)
	return Parsed{refusal: &r}
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
		return *p.refusal, nil
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
	results, err := q.EnqueueLines(ctx, lines, lane, OutcomeOnly)
	if err != nil {
		return nil, err
	}
	for _, p := range lines {
		if p.refusal != nil {
			q.observe(lane, Invalid)
		}
	}
	return results, nil
}

// EnqueueLines enqueues parsed requests in one pipelined round trip, in
// order: a key repeated within the batch comes back duplicate or conflict
// exactly as if enqueued one by one. Results are in input order, a refusal
// answered in its place without touching Redis; detail says how much a
// result tells. Re-running a batch that failed part-way is safe (enqueue is
// idempotent). OnEnqueue observes the outcome of each request it enqueues;
// refusals are counted by whoever made them (Enqueue, EnqueueLine,
// EnqueueMany), not here.
func (q *Queue) EnqueueLines(ctx context.Context, lines []Parsed, lane Lane, detail ResultDetail) ([]Result, error) {
	results := make([]Result, len(lines))
	idx := make([]int, 0, len(lines)) // the lines to enqueue
	for i, p := range lines {
		switch {
		case p.refusal != nil:
			results[i] = *p.refusal
		case p.job.payload == nil: // the zero Parsed: nothing was validated
			results[i] = invalidResult("", errNotParsed)
		default:
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return results, nil
	}
	now := time.Now()
	cmds, err := runPipelined(ctx, q.rdb, enqueueScript, len(idx), func(n int) ([]string, []any) {
		return q.enqueueArgs(lines[idx[n]].job, lane, now)
	})
	if cmds == nil {
		return nil, fmt.Errorf("queue: enqueue batch: %w", err)
	}
	for n, i := range idx {
		key := lines[i].job.key
		v, err := cmds[n].Result()
		if err != nil {
			return nil, fmt.Errorf("queue: enqueue %q: %w", key, err)
		}
		if results[i], err = enqueueResult(key, v); err != nil {
			return nil, err
		}
	}
	if q.opts.OnEnqueue != nil {
		for _, i := range idx {
			q.opts.OnEnqueue(lane, results[i].Outcome)
		}
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
