// Command flexlabel turns shipping orders into Flex Forward labels exactly once.
//
// main is thin: it calls run with the process's arguments, environment and
// standard streams and maps the returned error to an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes, a contract scripts rely on.
const (
	exitOK          = 0
	exitRefused     = 1 // some input was refused
	exitOperational = 2 // operational or configuration error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// refusedError marks a run that finished but refused some input (exit 1);
// its details were already printed.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var r *refusedError
	if errors.As(err, &r) {
		if r.msg != "" {
			fmt.Fprintln(stderr, "flexlabel:", r.msg)
		}
		return exitRefused
	}
	fmt.Fprintln(stderr, "flexlabel:", err)
	return exitOperational
}
