package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/flexlabel/flexlabel/queue"
)

// dryRunResult is the JSON of `dlq redrive|discard --dry-run --json`, the
// same object as the HTTP API's dryRun=true answer.
type dryRunResult struct {
	DryRun  bool  `json:"dryRun"`
	Matched int64 `json:"matched"`
}

// terminal is implemented by a stream that knows whether it is a person's
// terminal; tests hand run such a stream to play one.
type terminal interface{ isTerminal() bool }

// isTerminal tells whether stream (stdin, stderr) is a terminal: a person
// is there to answer a question or watch a redrawn line.
func isTerminal(stream any) bool {
	if t, ok := stream.(terminal); ok {
		return t.isTerminal()
	}
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks question on stderr and reads the answer from stdin: yes only
// for "y" or "yes" (any case); anything else, or no answer, is no.
func (a *app) confirm(question string) (bool, error) {
	if _, err := fmt.Fprint(a.stderr, question+" [y/N] "); err != nil {
		return false, err
	}
	answer, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && answer == "" {
		fmt.Fprintln(a.stderr)
		return false, nil // end of input: no
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// selection names what --all or a filter selected, for messages: "every
// reason", or the filter's parts ("reason auth, key starting with "shop-a-"").
func selection(f queue.Filter) string {
	var parts []string
	if f.Reason != "" {
		parts = append(parts, "reason "+string(f.Reason))
	}
	if f.KeyPrefix != "" {
		parts = append(parts, "key starting with "+strconv.Quote(f.KeyPrefix))
	}
	if f.Lane != "" {
		parts = append(parts, "queue "+f.Lane)
	}
	if !f.Since.IsZero() {
		parts = append(parts, "failed since "+f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "failed before "+f.Until.Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "every reason"
	}
	return strings.Join(parts, ", ")
}

// deadLetters is "1 dead letter" or "N dead letters".
func deadLetters(n int64) string {
	if n == 1 {
		return "1 dead letter"
	}
	return fmt.Sprintf("%d dead letters", n)
}
