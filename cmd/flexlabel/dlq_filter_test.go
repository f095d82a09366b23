package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// deadLetterBulk is deadLetter on the bulk queue.
func (c *cli) deadLetterBulk(t *testing.T, q *queue.Queue, key string, reason queue.Reason) {
	t.Helper()
	ctx := context.Background()
	res, err := q.EnqueueLine(ctx, queuetest.RequestJSON(key, ""), queue.Bulk)
	require.NoError(t, err)
	require.True(t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(t, q, key, "", queue.Bulk)
	n := queuetest.Attempt(t, q, j)
	require.NoError(t, queuetest.Store(t, q).DeadLetter(ctx, j, store.Failure{Reason: reason, HTTPStatus: 401, Message: "Unauthorized", Attempts: n}))
	queuetest.Dequeue(t, q.Redis(), q.Name(queue.Bulk), key)
}

// jsonKeys is the idempotencyKey of each JSON line of out.
func jsonKeys(t *testing.T, out string) []string {
	t.Helper()
	keys := []string{}
	for _, l := range lines(t, out) {
		keys = append(keys, l["idempotencyKey"].(string))
	}
	return keys
}

func TestDLQ_Filter_ListAndExport(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	c.deadLetterBulk(t, q, "bulk-0", queue.ReasonAuth)
	for args, want := range map[string][]string{
		"":                                      {"auth-0", "auth-1", "auth-2", "inv-0", "bulk-0"},
		"--prefix auth-":                        {"auth-0", "auth-1", "auth-2"},
		"--queue bulk":                          {"bulk-0"},
		"--reason auth --queue interactive":     {"auth-0", "auth-1", "auth-2"},
		"--prefix inv --since 2000-01-01T00:00": {"inv-0"},
		"--until 2000-01-01":                    {},
	} {
		r := c.run(t, "", append([]string{"dlq", "list", "--json"}, strings.Fields(args)...)...)
		require.Equal(t, 0, r.code, "%s: %s", args, r.stderr)
		// As sets: dead letters of one millisecond are in key order.
		require.ElementsMatch(t, want, jsonKeys(t, r.stdout), "list %s", args)

		r = c.run(t, "", append([]string{"dlq", "export"}, strings.Fields(args)...)...)
		require.Equal(t, 0, r.code, "%s: %s", args, r.stderr)
		require.ElementsMatch(t, want, jsonKeys(t, r.stdout), "export %s", args)
	}
	// The table's total is the filter's.
	r := c.run(t, "", "dlq", "list", "--prefix", "auth-", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 of 3 dead letter(s)")
}

// TestDLQ_Filter_ActsLikeReason: a filter on redrive or discard needs the
// confirmation --reason needs, and its dry run counts what is then done.
func TestDLQ_Filter_ActsLikeReason(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	c.deadLetterBulk(t, q, "bulk-0", queue.ReasonAuth)

	r := c.runIn(t, strings.NewReader("y\n"), "dlq", "discard", "--prefix", "auth-", "--queue", "interactive")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "discard --prefix auth- --queue interactive")
	require.Contains(t, r.stderr, "--yes")
	require.Contains(t, r.stderr, "--dry-run")
	require.EqualValues(t, 5, deadCount(t, q, ""), "nothing done")

	r = c.runIn(t, strings.NewReader(""), "dlq", "discard", "--prefix", "auth-", "--queue", "interactive", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, `would discard 3 dead letters (key starting with "auth-", queue interactive); nothing done (--dry-run)`+"\n", r.stdout)

	r = c.runIn(t, ttyInput{strings.NewReader("n\n")}, "dlq", "discard", "--prefix", "auth-1")
	require.Equal(t, 1, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stderr, `Discard 1 dead letter (key starting with "auth-1")? [y/N] `), r.stderr)
	require.EqualValues(t, 5, deadCount(t, q, ""))

	r = c.runIn(t, strings.NewReader(""), "dlq", "discard", "--prefix", "auth-", "--queue", "interactive", "--yes")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "discarded 3 dead letter(s)\n", r.stdout)
	require.EqualValues(t, 2, deadCount(t, q, ""))

	r = c.runIn(t, ttyInput{strings.NewReader("y\n")}, "dlq", "redrive", "--queue", "bulk", "--reason", "auth")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "Redrive 1 dead letter (reason auth, queue bulk)? [y/N] ", r.stderr)
	require.Equal(t, "redriven 1 dead letter(s)\n", r.stdout)
	require.EqualValues(t, 1, queuetest.Pending(t, q.Redis(), q.Name(queue.Bulk)))
	require.EqualValues(t, 1, deadCount(t, q, ""), "inv-0 is left")
}

func TestDLQ_Filter_BadFlags_NameThem(t *testing.T) {
	t.Parallel()
	c, q := dlqFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "list", "--queue", "fast"}, "--queue: want interactive or bulk"},
		{[]string{"dlq", "list", "--since", "yesterday"}, "--since: want a time"},
		{[]string{"dlq", "export", "--until", "soon"}, "--until: want a time"},
		{[]string{"dlq", "export", "--reason", "Auth"}, "--reason: unknown reason"},
		{[]string{"dlq", "export", "--prefix", "auth-", "--new-keys"}, "--new-keys: needs --reason courier_rejected"},
		{[]string{"dlq", "redrive", "--queue", "slow", "--yes"}, "--queue: want interactive or bulk"},
		{[]string{"dlq", "discard", "--prefix", "auth-", "--all", "--yes"}, "exactly one"},
		{[]string{"dlq", "discard", "auth-0", "--queue", "bulk"}, "exactly one"},
		{[]string{"dlq", "redrive", "auth-0", "--dry-run"}, "--dry-run: only with --all or --reason R (or another filter)"},
	} {
		r := c.runIn(t, strings.NewReader(""), tc.args...)
		require.Equal(t, 2, r.code, "%v: %s", tc.args, r.stderr)
		require.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
	require.EqualValues(t, 4, deadCount(t, q, ""), "nothing done")
}
