package main

import (
	"context"
	"io"
)

// interruptible returns a reader of r whose Read gives up, with an error
// wrapping ctx's, once ctx is done, even while r's own Read blocks (an idle
// terminal or pipe, a FIFO nobody writes to). A Read given up on is left running in its
// goroutine; the input is not to be read again after that, which suits the
// inputs of one command run.
func interruptible(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type readResult struct {
	b   []byte
	err error
}

type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	results chan readResult // from the goroutine that reads r
	next    chan struct{}   // asks it for one more read
	rest    []byte          // read but not yet returned
	err     error           // sticky: r's error, or ctx's
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.ctx.Err() != nil {
		c.err = interruptedRead{c.ctx.Err()}
		return 0, c.err
	}
	if c.results == nil {
		c.results = make(chan readResult)
		c.next = make(chan struct{})
		go c.pump()
	}
	select {
	case c.next <- struct{}{}:
	case <-c.ctx.Done():
		c.err = interruptedRead{c.ctx.Err()}
		return 0, c.err
	}
	select {
	case res := <-c.results:
		n := copy(p, res.b)
		c.rest = res.b[n:]
		if res.err != nil {
			c.err = res.err
			if len(c.rest) > 0 || n > 0 {
				return n, nil // the data first; the error on the next Read
			}
		}
		return n, c.err
	case <-c.ctx.Done():
		c.err = interruptedRead{c.ctx.Err()}
		return 0, c.err
	}
}

// interruptedRead is the error of a Read given up on; it wraps ctx's error.
type interruptedRead struct{ err error }

func (e interruptedRead) Error() string { return "interrupted (SIGINT or SIGTERM) while reading" }
func (e interruptedRead) Unwrap() error { return e.err }

// pump reads r into buffers of its own, one read per request, so a Read
// given up on never writes into a caller's slice.
func (c *ctxReader) pump() {
	for {
		select {
		case <-c.next:
		case <-c.ctx.Done():
			return
		}
		buf := make([]byte, 64<<10)
		n, err := c.r.Read(buf)
		select {
		case c.results <- readResult{b: buf[:n], err: err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}
