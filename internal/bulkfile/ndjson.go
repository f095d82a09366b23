package bulkfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// LineReader splits newline-delimited JSON into its lines. It is the one
// NDJSON splitter: bulk files (NewNDJSON), `flexlabel enqueue` and POST
// /v1/labels/batch all read lines through it, each then applying its own
// rules (a byte-order mark, a size limit, what it answers for a long line).
type LineReader struct {
	sc      *bufio.Scanner
	max     int
	dropBOM bool
	line    int
	err     error
}

// NewLineReader returns a LineReader of r whose lines may be at most max
// bytes long, their line ending not counted.
func NewLineReader(r io.Reader, max int) *LineReader {
	sc := bufio.NewScanner(r)
	// Room for the longest allowed line plus "\r\n": a longer one either
	// fills the buffer (bufio.ErrTooLong) or is caught by the length check.
	sc.Buffer(make([]byte, 0, min(64<<10, max+2)), max+2)
	return &LineReader{sc: sc, max: max}
}

// DropBOM makes l drop a UTF-8 byte-order mark before the first line (files
// saved by spreadsheet tools carry one). Call it before the first Next.
func (l *LineReader) DropBOM() { l.dropBOM = true }

// Next returns the next line holding more than JSON whitespace (spaces,
// tabs, \r) and its 1-based number in the input, blank lines counted. The
// line ending, \n or \r\n, is dropped; the line is otherwise as read, in a
// fresh slice the caller may keep. A line longer than max bytes is an error
// wrapping ErrTooLong that names its number; a read error is returned as it
// is. Next returns io.EOF after the last line, and an error again on every
// later call.
func (l *LineReader) Next() (int, []byte, error) {
	if l.err != nil {
		return 0, nil, l.err
	}
	for l.sc.Scan() {
		l.line++
		b := l.sc.Bytes() // ScanLines has dropped "\n" and a "\r" before it
		if l.line == 1 && l.dropBOM {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(b) > l.max {
			l.err = fmt.Errorf("line %d: %w", l.line, ErrTooLong)
			return 0, nil, l.err
		}
		if len(bytes.Trim(b, " \t\r")) == 0 {
			continue
		}
		return l.line, bytes.Clone(b), nil
	}
	switch err := l.sc.Err(); {
	case err == nil:
		l.err = io.EOF
	case errors.Is(err, bufio.ErrTooLong):
		l.err = fmt.Errorf("line %d: %w", l.line+1, ErrTooLong)
	default:
		l.err = err
	}
	return 0, nil, l.err
}

// Line is the number of the last line read, blank or not.
func (l *LineReader) Line() int { return l.line }

type ndjsonReader struct{ lr *LineReader }

// NewNDJSON returns a Reader of newline-delimited JSON: one request per
// line, passed through as Record.Data without decoding (the caller decodes
// and validates it strictly). Blank lines are skipped but counted; a UTF-8
// byte-order mark before the first line and the \r of a \r\n ending are
// dropped. A line longer than MaxLineBytes is a fatal error naming the line.
// NDJSON records never carry Record.Err.
func NewNDJSON(r io.Reader) Reader {
	lr := NewLineReader(r, MaxLineBytes)
	lr.DropBOM()
	return &ndjsonReader{lr: lr}
}

func (n *ndjsonReader) Next() (Record, error) {
	line, data, err := n.lr.Next()
	switch {
	case err == nil:
		return Record{Line: line, Data: data}, nil
	case err == io.EOF || errors.Is(err, ErrTooLong):
		return Record{}, err
	}
	return Record{}, fmt.Errorf("read NDJSON after line %d: %w", n.lr.Line(), err)
}
