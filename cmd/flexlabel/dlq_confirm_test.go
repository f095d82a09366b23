package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// ttyInput is stdin as a person's terminal, typing answer.
type ttyInput struct{ io.Reader }

func (ttyInput) isTerminal() bool { return true }

// runIn runs one command with stdin as it is (a terminal or not).
func (c *cli) runIn(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, c.env, stdin, &out, &errb)
	code := exitCode(err, &errb)
	return result{out.String(), errb.String(), code}
}

// deadLetter takes key through the worker's dead-letter path, in the CLI's namespace.
func (c *cli) deadLetter(t *testing.T, q *queue.Queue, key string, reason queue.Reason) {
	t.Helper()
	ctx := context.Background()
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), queue.Interactive)
	require.NoError(t, err)
	require.True(t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(t, q, key, "", queue.Interactive)
	n := queuetest.Attempt(t, q, j)
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 401, Message: "Unauthorized", Attempts: n}))
	queuetest.Dequeue(t, q.Redis(), q.Name(queue.Interactive), key)
}

// dlqFixture is a CLI namespace with 3 dead letters of reason auth and 1 invalid.
func dlqFixture(t *testing.T) (*cli, *queue.Queue) {
	t.Helper()
	c := newCLI(t)
	q := c.queue(t)
	for i := range 3 {
		c.deadLetter(t, q, fmt.Sprint("auth-", i), queue.ReasonAuth)
	}
	c.deadLetter(t, q, "inv-0", queue.ReasonInvalid)
	return c, q
}

func deadCount(t *testing.T, q *queue.Queue, reason queue.Reason) int64 {
	t.Helper()
	n, err := q.DeadLetters().Count(context.Background(), reason)
	require.NoError(t, err)
	return n
}

func TestDLQ_BulkWithoutTerminalOrYes_RefusesExit2(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	for _, verb := range []string{"redrive", "discard"} {
		for _, sel := range [][]string{{"--all"}, {"--reason", "auth"}, {"--all", "--json"}} {
			args := append([]string{"dlq", verb}, sel...)
			r := c.runIn(t, strings.NewReader("y\n"), args...)
			require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
			require.Contains(t, r.stderr, "--yes", "%v", args)
			require.Contains(t, r.stderr, "--dry-run", "%v", args)
			require.Contains(t, r.stderr, verb+" "+sel[0], "%v", args)
			require.Empty(t, r.stdout)
		}
	}
	require.EqualValues(t, 4, deadCount(t, q, ""), "nothing done")

	// Refused before connecting: no Redis is needed to be told.
	off := &cli{env: map[string]string{"REDIS_URL": "unix://" + t.TempDir() + "/no-redis.sock", "FLEXLABEL_QUEUE": "x"}}
	r := off.runIn(t, strings.NewReader(""), "dlq", "discard", "--all")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--yes")

	// --yes is the confirmation of a script.
	r = c.runIn(t, strings.NewReader(""), "dlq", "discard", "--reason", "auth", "--yes")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "discarded 3 dead letter(s)\n", r.stdout)
	require.EqualValues(t, 1, deadCount(t, q, ""))
}

func TestDLQ_NamedKeys_NeedNoConfirmation(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	r := c.runIn(t, strings.NewReader(""), "dlq", "discard", "auth-0", "auth-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "discarded 2 dead letter(s)\n", r.stdout)
	require.EqualValues(t, 1, deadCount(t, q, queue.ReasonAuth))
	r = c.runIn(t, strings.NewReader(""), "dlq", "redrive", "auth-2")
	require.Equal(t, 0, r.code, r.stderr)
	require.EqualValues(t, 0, deadCount(t, q, queue.ReasonAuth))
}

func TestDLQ_DryRun_CountsAndChangesNothing(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "discard", "--reason", "auth", "--dry-run"}, "would discard 3 dead letters (reason auth); nothing done (--dry-run)\n"},
		{[]string{"dlq", "redrive", "--all", "--dry-run"}, "would redrive 4 dead letters (every reason); nothing done (--dry-run)\n"},
		{[]string{"dlq", "redrive", "--reason", "invalid", "--dry-run", "--yes"}, "would redrive 1 dead letter (reason invalid); nothing done (--dry-run)\n"},
		{[]string{"dlq", "discard", "--all", "--dry-run", "--json"}, `{"dryRun":true,"matched":4}` + "\n"},
		{[]string{"dlq", "redrive", "--reason", "rejected", "--dry-run", "--json"}, `{"dryRun":true,"matched":0}` + "\n"},
	} {
		// No terminal and no --yes: a dry run needs neither.
		r := c.runIn(t, strings.NewReader(""), tc.args...)
		require.Equal(t, 0, r.code, "%v: %s", tc.args, r.stderr)
		require.Equal(t, tc.want, r.stdout, "%v", tc.args)
	}
	require.EqualValues(t, 4, deadCount(t, q, ""), "a dry run does nothing")
	require.EqualValues(t, 0, queuetest.Pending(t, q.Redis(), q.Name(queue.Interactive)))

	r := c.runIn(t, strings.NewReader(""), "dlq", "discard", "auth-0", "--dry-run")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--dry-run: only with --all or --reason")
	require.EqualValues(t, 4, deadCount(t, q, ""))
}

func TestDLQ_Terminal_AsksWithTheCount(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	// No, or no answer: nothing done, exit 1.
	for _, answer := range []string{"n\n", "\n", "", "yess\n"} {
		r := c.runIn(t, ttyInput{strings.NewReader(answer)}, "dlq", "discard", "--reason", "auth")
		require.Equal(t, 1, r.code, "%q: %s", answer, r.stderr)
		require.True(t, strings.HasPrefix(r.stderr, "Discard 3 dead letters (reason auth)? [y/N] "), "%q: %s", answer, r.stderr)
		require.Contains(t, r.stderr, "not confirmed; nothing discarded")
		require.Empty(t, r.stdout)
	}
	require.EqualValues(t, 4, deadCount(t, q, ""))

	r := c.runIn(t, ttyInput{strings.NewReader("y\n")}, "dlq", "discard", "--reason", "auth")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "Discard 3 dead letters (reason auth)? [y/N] ", r.stderr)
	require.Equal(t, "discarded 3 dead letter(s)\n", r.stdout)
	require.EqualValues(t, 1, deadCount(t, q, ""))

	// --json: the prompt stays off stdout, which holds only results.
	r = c.runIn(t, ttyInput{strings.NewReader("YES\n")}, "dlq", "redrive", "--all", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "Redrive 1 dead letter (every reason)? [y/N] ", r.stderr)
	var res queue.OpResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, queue.OpResult{IdempotencyKey: "inv-0", Done: true}, res)
	require.EqualValues(t, 0, deadCount(t, q, ""))

	// Nothing to act on: nothing to ask.
	r = c.runIn(t, ttyInput{strings.NewReader("")}, "dlq", "discard", "--all")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	require.Equal(t, "discarded 0 dead letter(s)\n", r.stdout)
}
