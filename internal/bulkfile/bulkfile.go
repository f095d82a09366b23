package bulkfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Formats a bulk file can have.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// MaxLineBytes is the longest line a bulk file may hold, not counting its
// line ending. A CSV row (which may span lines inside quotes) has about the
// same limit. A label request is a few kilobytes; anything near this size is
// a broken file, and the limit keeps the reader's memory bounded.
const MaxLineBytes = 1 << 20

// ErrTooLong is wrapped by the fatal error for a line (or CSV row) longer
// than MaxLineBytes; the error's text names the line.
var ErrTooLong = errors.New("longer than 1 MiB")

// Record is one request read from a bulk file.
type Record struct {
	// Key is the row's idempotencyKey cell when the row is refused (Err set)
	// and the file has that column, so the refusal can name its key.
	Key string
	// Line is the 1-based line of the record in the file; for a CSV row
	// spanning lines inside quotes, the line it starts on. The CSV header
	// is line 1.
	Line int
	// Data is the request as JSON (a POST /labels body), nil when Err is
	// set. It is a fresh slice the caller may keep.
	Data []byte
	// Err is a problem with this record alone (for CSV a *RowError); the
	// caller refuses the record as invalid with this message and reads on.
	Err error
}

// Reader yields the records of a bulk file in order. Next returns io.EOF
// after the last record; any other error from Next is fatal and is returned
// again by every later call.
type Reader interface {
	Next() (Record, error)
}

// Detect returns the format of a bulk file: format itself when it is
// FormatCSV or FormatNDJSON, or, when format is "", the one its name's
// extension implies (.csv; .ndjson, .jsonl or .json).
func Detect(name, format string) (string, error) {
	switch format {
	case FormatCSV, FormatNDJSON:
		return format, nil
	case "":
	default:
		return "", fmt.Errorf("unknown --format %q: want %s or %s", format, FormatCSV, FormatNDJSON)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV, nil
	case ".ndjson", ".jsonl", ".json":
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension (.csv, .ndjson, .jsonl, .json): set --format %s or --format %s", name, FormatCSV, FormatNDJSON)
}

// Problem is one thing wrong with a CSV column, in the header or in a row.
type Problem struct {
	Column  int    // 1-based column number; 0 when the problem is the row's as a whole
	Name    string // the column's header, as written (spaces trimmed)
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Column == 0:
		return p.Message
	case p.Name == "":
		return fmt.Sprintf("column %d: %s", p.Column, p.Message)
	}
	return fmt.Sprintf("column %d %q: %s", p.Column, p.Name, p.Message)
}

func joinProblems(ps []Problem) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// HeaderError is NewCSV's error for a header it cannot use: it lists every
// bad column (unknown paths, duplicates, malformed or gapped indexes) at once.
type HeaderError struct {
	Problems []Problem
	// Delimiter is the character the file seems to separate its cells with
	// instead of the one NewCSV was given, or 0: the header was read as a
	// single column containing it.
	Delimiter rune
}

func (e *HeaderError) Error() string {
	return "CSV header has " + plural(len(e.Problems), "problem") + ": " + joinProblems(e.Problems)
}

// RowError is the Record.Err of a CSV row that cannot become a request: it
// lists every bad cell of the row (a number that isn't one, invalid raw JSON,
// a hole in an array) or says why the row as a whole is unusable.
type RowError struct {
	Line     int
	Problems []Problem
	// Request lists the problems of the request the row's other cells
	// make (flexapi's rules: a weight of 0, a country code "USA"), so one
	// answer says everything that is wrong with the row.
	Request []flexapi.Detail
}

func (e *RowError) Error() string {
	msg := fmt.Sprintf("line %d: %s", e.Line, joinProblems(e.Problems))
	for _, d := range e.Request {
		msg += "; " + d.Field + ": " + d.Message
	}
	return msg
}
