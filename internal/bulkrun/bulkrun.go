// Package bulkrun enqueues a stream of label requests fast and in order.
//
// A bulk run reads records (package bulkfile), decodes and validates them
// on every core, and enqueues chunks of them in pipelined round trips
// (queue.EnqueueLines) with several chunks in flight. Two rules keep the
// outcomes exactly what enqueueing line by line would give:
//
//   - a chunk that shares a key with a chunk still in flight waits for it,
//     so the first occurrence of a key in the file is the one enqueued and
//     later ones come back duplicate or conflict;
//   - results are delivered in file order.
//
// Memory is bounded by the number of chunks in flight, not the file's size.
package bulkrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/queue"
)

// Options tune a run; zero values pick defaults.
type Options struct {
	Lane      queue.Lane
	ChunkSize int // records per pipelined round trip; default 256
	InFlight  int // chunks enqueueing at once; default 8
	Parsers   int // decoding goroutines; default GOMAXPROCS
}

// Row is the outcome of one record, delivered in file order.
type Row struct {
	Line   int
	Result queue.Result
}

// Summary counts outcomes.
type Summary struct {
	Enqueued  int `json:"enqueued"`
	Duplicate int `json:"duplicate"`
	Conflict  int `json:"conflict"`
	Invalid   int `json:"invalid"`
	Dead      int `json:"dead"`
}

// Add counts one outcome.
func (s *Summary) Add(o queue.Outcome) {
	switch o {
	case queue.Enqueued:
		s.Enqueued++
	case queue.Duplicate:
		s.Duplicate++
	case queue.Conflict:
		s.Conflict++
	case queue.Invalid:
		s.Invalid++
	case queue.Dead:
		s.Dead++
	}
}

// Refused is the number of rows not accepted.
func (s Summary) Refused() int { return s.Conflict + s.Invalid + s.Dead }

// Total is the number of rows.
func (s Summary) Total() int { return s.Enqueued + s.Duplicate + s.Refused() }

// flushAfter is how long a chunk that is not full waits for more records
// before it is sent anyway.
const flushAfter = 20 * time.Millisecond

type readRecord struct {
	rec bulkfile.Record
	err error
}

type chunk struct {
	seq     int
	lines   []int
	parsed  []queue.Parsed
	results []queue.Result
	keys    []string
	datas   [][]byte // raw records until parsed; nil where refused by the reader
	done    chan struct{}
	err     error
}

// ErrInterrupted is wrapped by Run's error when ctx was cancelled (or its
// deadline passed) before the run ended, together with ctx's own error: the
// Summary then counts only the rows emitted so far.
var ErrInterrupted = errors.New("bulk run interrupted")

// Run enqueues every record of r and calls emit for each row in file order
// (emit runs on one goroutine). It stops at the first operational error
// (Redis unreachable, unreadable file); rows already emitted stay enqueued,
// and running the same file again resumes safely.
//
// When ctx is done before the run ends, Run returns an error wrapping
// ErrInterrupted, even if every row happened to be emitted by then. It does
// not wait for a Next blocked on an idle input: that goroutine is left to
// return when its Next does.
func Run(ctx context.Context, q *queue.Queue, r bulkfile.Reader, o Options, emit func(Row) error) (Summary, error) {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 256
	}
	if o.InFlight <= 0 {
		o.InFlight = 8
	}
	if o.Parsers <= 0 {
		o.Parsers = runtime.GOMAXPROCS(0)
	}
	// Load the scripts once up front, so chunks in flight do not all race
	// to load them.
	if err := q.LoadScripts(ctx); err != nil {
		if ctx.Err() != nil {
			return Summary{}, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
		}
		return Summary{}, err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		sum     Summary
		readErr error
	)
	raw := make(chan *chunk, o.Parsers*2)
	parsed := make(chan *chunk, o.Parsers*2)

	// 1. read records (on a goroutine of their own, which an idle input may
	//    block) and put them into chunks: a chunk is sent when full, or as
	//    soon as the input pauses, so rows of a slow input (a terminal, a
	//    pipe) are enqueued and reported as they come.
	recs := make(chan readRecord, o.ChunkSize)
	go func() {
		defer close(recs)
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			select {
			case recs <- readRecord{rec, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(raw)
		pause := time.NewTimer(time.Hour)
		pause.Stop()
		seq := 0
		for {
			c := &chunk{seq: seq, done: make(chan struct{})}
			var datas [][]byte
			var errs []error
			var rkeys []string
			eof := false
		fill:
			for len(c.lines) < o.ChunkSize {
				var rr readRecord
				var ok bool
				select {
				case rr, ok = <-recs:
				case <-ctx.Done():
					return
				default:
					if len(c.lines) > 0 {
						pause.Reset(flushAfter)
					}
					select {
					case rr, ok = <-recs:
						pause.Stop()
					case <-pause.C:
						break fill // the input paused: send what there is
					case <-ctx.Done():
						return
					}
				}
				if !ok {
					eof = true
					break
				}
				if rr.err != nil {
					readErr = rr.err
					break
				}
				c.lines = append(c.lines, rr.rec.Line)
				datas = append(datas, rr.rec.Data)
				errs = append(errs, rr.rec.Err)
				rkeys = append(rkeys, rr.rec.Key)
			}
			if len(c.lines) == 0 { // the end of the input, or its error
				return
			}
			c.parsed = make([]queue.Parsed, len(c.lines))
			c.keys = make([]string, len(c.lines))
			for i := range datas {
				if errs[i] != nil {
					msg := errs[i].Error()
					c.parsed[i] = queue.Refused(queue.Result{IdempotencyKey: rkeys[i], Outcome: queue.Invalid, Error: &msg, Details: bulkfile.Details(errs[i])})
					c.keys[i] = rkeys[i]
					datas[i] = nil
				}
			}
			c.datas = datas
			select {
			case raw <- c:
			case <-ctx.Done():
				return
			}
			seq++
			if readErr != nil || eof {
				return
			}
		}
	}()

	// 2. decode, validate and encode the jobs on every core
	var pwg sync.WaitGroup
	for range o.Parsers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for c := range raw {
				for i, data := range c.datas {
					if data == nil {
						continue
					}
					c.parsed[i] = queue.ParseLine(data)
					c.keys[i] = c.parsed[i].Key()
				}
				c.datas = nil
				select {
				case parsed <- c:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { pwg.Wait(); close(parsed) }()

	// 3. put chunks back in order, dispatch them (waiting on key overlaps),
	//    and emit results in order.
	pending := map[int]*chunk{}
	next := 0
	inflight := map[string]*chunk{} // key -> last in-flight chunk holding it
	var window []*chunk             // dispatched, not yet emitted, in order
	sem := make(chan struct{}, o.InFlight)

	emitFront := func(block bool) error {
		for len(window) > 0 {
			c := window[0]
			if block {
				<-c.done
			} else {
				select {
				case <-c.done:
				default:
					return nil
				}
			}
			window = window[1:]
			for _, k := range c.keys {
				if inflight[k] == c {
					delete(inflight, k)
				}
			}
			if c.err != nil {
				return c.err
			}
			for i, res := range c.results {
				sum.Add(res.Outcome)
				if err := emit(Row{Line: c.lines[i], Result: res}); err != nil {
					return err
				}
			}
			block = false
		}
		return nil
	}

	dispatch := func(c *chunk) error {
		// wait for any in-flight chunk sharing a key (emitting in order as we go)
		for _, k := range c.keys {
			if k == "" {
				continue
			}
			if prev, ok := inflight[k]; ok {
				for {
					select {
					case <-prev.done:
					default:
						if err := emitFront(true); err != nil {
							return err
						}
						continue
					}
					break
				}
			}
		}
		for _, k := range c.keys {
			if k != "" {
				inflight[k] = c
			}
		}
		for {
			select {
			case sem <- struct{}{}:
			default:
				if err := emitFront(true); err != nil {
					return err
				}
				continue
			}
			break
		}
		window = append(window, c)
		go func() {
			defer func() { <-sem; close(c.done) }()
			c.results, c.err = q.EnqueueLines(ctx, c.parsed, o.Lane, queue.OutcomeOnly)
			c.parsed = nil
		}()
		return emitFront(false)
	}

	// Wait for the next parsed chunk, the oldest chunk in flight or the
	// caller's cancellation, whichever comes first: rows read from a slow
	// input are reported as soon as they are enqueued, and a reader blocked
	// in Next (an idle terminal) does not keep an interrupted run from
	// returning.
	var runErr error
	drained := false
loop:
	for {
		var c *chunk
		var front <-chan struct{} // the oldest chunk in flight, to emit it as soon as it is done
		if len(window) > 0 {
			front = window[0].done
		}
		select {
		case <-parent.Done():
			break loop
		case <-front:
			if err := emitFront(false); err != nil {
				runErr = err
				break loop
			}
			continue
		case pc, ok := <-parsed:
			if !ok {
				drained = true
				break loop
			}
			c = pc
		}
		pending[c.seq] = c
		for {
			nc, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := dispatch(nc); err != nil {
				runErr = err
				break loop
			}
		}
	}
	if runErr == nil && parent.Err() == nil {
		for len(window) > 0 && runErr == nil {
			runErr = emitFront(true)
		}
	}
	cancel()
	if runErr == nil {
		// Interrupted: chunks in flight end at once (their context is
		// done); the rows of those that made it are reported, in order, up
		// to the first that did not.
		for len(window) > 0 {
			if emitFront(true) != nil {
				break
			}
		}
	}
	for _, c := range window {
		<-c.done
	}
	if err := parent.Err(); err != nil {
		return sum, fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	if runErr == nil && drained && readErr != nil {
		runErr = fmt.Errorf("reading the file: %w", readErr)
	}
	return sum, runErr
}
