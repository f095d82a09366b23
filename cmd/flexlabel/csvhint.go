package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// refuseCSV stops `enqueue` from reading a CSV bulk file as JSON, which
// would refuse every line with a JSON syntax error: a name ending in .csv, or
// a first line that is a CSV header of request paths, is an error saying to
// use `bulk`. Otherwise it returns the input to read, first line included;
// standard input is made interruptible, so a Ctrl-C ends a wait on it.
func refuseCSV(ctx context.Context, in io.Reader, name string) (io.Reader, error) {
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		return nil, fmt.Errorf("%s is a CSV file, and enqueue reads JSON (one request, or NDJSON): use flexlabel bulk %s", name, name)
	}
	if name == "stdin" {
		in = interruptible(ctx, in)
	}
	br := bufio.NewReaderSize(in, 64<<10)
	first, err := br.ReadSlice('\n')
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("enqueue from %s: %w", name, err)
	}
	first = bytes.Clone(first)
	if looksLikeCSVHeader(first) {
		what, arg := name, name
		if name == "stdin" {
			what, arg = "standard input", "-"
		}
		return nil, fmt.Errorf("%s starts with a CSV header (%.60q), and enqueue reads JSON (one request, or NDJSON): use flexlabel bulk %s",
			what, bytes.TrimSpace(first), arg)
	}
	return io.MultiReader(bytes.NewReader(first), br), nil
}

// looksLikeCSVHeader reports whether line is a header row of a bulk CSV:
// not JSON, and at least two cells separated by , ; or a tab, one of them
// idempotencyKey or a path under service. or shipment.
func looksLikeCSVHeader(line []byte) bool {
	t := strings.TrimSpace(strings.TrimPrefix(string(line), "\uFEFF"))
	if t == "" || t[0] == '{' || t[0] == '[' {
		return false
	}
	cells := strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ';' || r == '\t' })
	if len(cells) < 2 {
		return false
	}
	for _, c := range cells {
		c = strings.Trim(strings.TrimSpace(c), `"`)
		if strings.EqualFold(c, "idempotencyKey") || strings.HasPrefix(c, "service.") || strings.HasPrefix(c, "shipment.") {
			return true
		}
	}
	return false
}
