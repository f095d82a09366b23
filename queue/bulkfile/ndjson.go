package bulkfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

var utf8BOM = []byte("\xef\xbb\xbf")

type ndjsonReader struct {
	sc   *bufio.Scanner
	line int
	err  error
}

// NewNDJSON returns a Reader of newline-delimited JSON: one request per
// line, passed through as Record.Data without decoding (the caller decodes
// and validates it strictly). Blank lines are skipped but counted; a UTF-8
// byte-order mark before the first line and the \r of a \r\n ending are
// dropped. A line longer than MaxLineBytes is a fatal error naming the line.
// NDJSON records never carry Record.Err.
func NewNDJSON(r io.Reader) Reader {
	sc := bufio.NewScanner(r)
	// Room for the longest allowed line plus "\r\n": a longer one either
	// fills the buffer (bufio.ErrTooLong) or is caught by the length check.
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes+2)
	return &ndjsonReader{sc: sc}
}

func (n *ndjsonReader) Next() (Record, error) {
	if n.err != nil {
		return Record{}, n.err
	}
	for n.sc.Scan() {
		n.line++
		b := n.sc.Bytes() // ScanLines has dropped "\n" and a "\r" before it
		if n.line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(b) > MaxLineBytes {
			n.err = fmt.Errorf("line %d: %w", n.line, ErrTooLong)
			return Record{}, n.err
		}
		if len(bytes.Trim(b, " \t\r")) == 0 {
			continue
		}
		return Record{Line: n.line, Data: bytes.Clone(b)}, nil
	}
	switch err := n.sc.Err(); {
	case err == nil:
		n.err = io.EOF
	case errors.Is(err, bufio.ErrTooLong):
		n.err = fmt.Errorf("line %d: %w", n.line+1, ErrTooLong)
	default:
		n.err = fmt.Errorf("read NDJSON after line %d: %w", n.line, err)
	}
	return Record{}, n.err
}
