package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/queue"
)

// maxLine is the longest input line accepted (a Flex Forward request body is
// limited to 1 MiB by the HTTP API too).
const maxLine = bulkfile.MaxLineBytes

func (a *app) enqueueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enqueue [FILE|-]",
		Short: "Enqueue label requests: one JSON object, or NDJSON (one request per line)",
		Long: `Enqueue label requests from FILE or standard input: one JSON object, or NDJSON.
Prints one JSON line per input line, in order:
  {"idempotencyKey":…,"account":…,"outcome":"enqueued|duplicate|conflict|invalid|dead","state":…,"error":…,"details":[…]}
Exit 0 if every line was enqueued or duplicate, 1 if any was refused, 2 on operational errors.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, name, err := a.openInput(args)
			if err != nil {
				return err
			}
			defer in.Close()
			src, err := refuseCSV(cmd.Context(), in, name)
			if err != nil {
				return err
			}
			d, err := a.openQueue(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			return a.enqueue(cmd, d.q, src, name)
		},
	}
	a.accountFlag(cmd, accountWrite, false)
	return cmd
}

// readRequests yields each request of an input: a single (possibly
// multi-line) JSON object, or NDJSON. Blank lines are skipped.
func readRequests(in io.Reader, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(in, 64<<10)
	// A whole-input single object spanning lines: detect by trying NDJSON
	// first and falling back when the first line is not a complete value.
	first, err := br.Peek(1)
	if err == io.EOF || len(first) == 0 {
		return nil
	}
	data, isMulti, err := sniffMultiline(br)
	if err != nil {
		return err
	}
	if isMulti {
		return fn(data)
	}
	lines := bulkfile.NewLineReader(io.MultiReader(bytes.NewReader(data), br), maxLine)
	for {
		_, line, err := lines.Next()
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, bulkfile.ErrTooLong):
			return fmt.Errorf("a line is longer than %d bytes", maxLine)
		case err != nil:
			return err
		}
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
}

// sniffMultiline reads the first line; if it is not a complete JSON value
// but starts an object, the input is one pretty-printed object: read it all.
func sniffMultiline(br *bufio.Reader) ([]byte, bool, error) {
	line, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' || jsonComplete(t) {
		return line, false, nil
	}
	rest, err := io.ReadAll(io.LimitReader(br, maxLine+1))
	if err != nil {
		return nil, false, err
	}
	all := append(line, rest...)
	if !jsonComplete(bytes.TrimSpace(all)) {
		// Past the limit and still open: one request too long, unless the
		// next line is a request of its own (NDJSON with a broken first line).
		second, _, _ := bytes.Cut(rest, []byte("\n"))
		second = bytes.TrimSpace(second)
		if len(rest) > maxLine && !(len(second) > 0 && second[0] == '{' && jsonComplete(second)) {
			return nil, false, fmt.Errorf("a request is longer than %d bytes", maxLine)
		}
		// Not one object either: treat as NDJSON, each bad line refused on its own.
		return all, false, nil
	}
	return bytes.TrimSpace(all), true, nil
}

func jsonComplete(b []byte) bool {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return depth == 0 && !inStr
}

func (a *app) enqueue(cmd *cobra.Command, q *queue.Queue, in io.Reader, name string) error {
	out := newJSONLines(a.stdout)
	refused := 0
	err := readRequests(in, func(line []byte) error {
		res, err := q.EnqueueLine(cmd.Context(), line, queue.Interactive)
		if err != nil {
			return err
		}
		if !res.Outcome.Accepted() {
			refused++
		}
		return out.write(res)
	})
	if err != nil {
		return fmt.Errorf("enqueue from %s: %w", name, err)
	}
	if refused > 0 {
		return &refusedError{msg: fmt.Sprintf("%d request(s) refused", refused)}
	}
	return nil
}
