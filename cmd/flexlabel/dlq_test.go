package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The way out of a courier rejection, end to end: the API keeps the failed
// label under the key, so the same key only comes back dead; export
// --new-keys gives the request a new key, which makes the label, and the old
// dead letter names it.
func TestCLI_CourierRejected_ExportNewKeys_LabelUnderTheNewKey(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := c.startWorker(t)
	r := c.run(t, string(queuetest.RequestJSON("cr-1", flexapitest.RejectProductCode))+"\n", "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
	c.waitState(t, "cr-1", "dead")

	// The dead end: exported and enqueued again under the same key, it is dead.
	r = c.run(t, "", "dlq", "export", "--reason", "courier_rejected")
	require.Equal(t, 0, r.code, r.stderr)
	back := c.run(t, r.stdout, "enqueue")
	require.Equal(t, 1, back.code)
	require.Equal(t, "dead", lines(t, back.stdout)[0]["outcome"])

	r = c.run(t, "", "dlq", "export", "--new-keys")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--new-keys")
	require.Contains(t, r.stderr, "--reason courier_rejected")
	require.Empty(t, r.stdout)

	r = c.run(t, "", "dlq", "export", "--reason", "courier_rejected", "--new-keys")
	require.Equal(t, 0, r.code, r.stderr)
	exported := lines(t, r.stdout)
	require.Len(t, exported, 1)
	require.Equal(t, "cr-1-r1", exported[0]["idempotencyKey"])
	require.Equal(t, "cr-1", exported[0]["_deadLetter"].(map[string]any)["supersedes"])
	require.Contains(t, r.stderr, "exported 1 dead letter(s) under new keys")
	// Exporting again before enqueueing gives the same new key.
	again := c.run(t, "", "dlq", "export", "--reason", "courier_rejected", "--new-keys")
	require.Equal(t, 0, again.code, again.stderr)
	require.Equal(t, r.stdout, again.stdout)

	// The courier's cause fixed (the fake rejects by product code).
	fixed := strings.Replace(r.stdout, `"productCode":"`+flexapitest.RejectProductCode+`"`, `"productCode":"HKMUZXR"`, 1)
	require.NotEqual(t, r.stdout, fixed)
	in := c.run(t, fixed, "enqueue")
	require.Equal(t, 0, in.code, in.stderr)
	require.Equal(t, "enqueued", lines(t, in.stdout)[0]["outcome"])
	st := c.waitState(t, "cr-1-r1", "completed")
	require.Equal(t, "created", st["label"].(map[string]any)["status"])
	require.Equal(t, 1, fake.Ledger().CreatedPerKey["cr-1-r1"])

	show := c.run(t, "", "dlq", "show", "cr-1")
	require.Equal(t, 0, show.code, show.stderr)
	require.Regexp(t, `Superseded by:\s+cr-1-r1 `, show.stdout)
	js := c.run(t, "", "dlq", "show", "--json", "cr-1")
	require.Equal(t, 0, js.code, js.stderr)
	require.Equal(t, "cr-1-r1", lines(t, js.stdout)[0]["supersededBy"])

	// A plain export names the new key, for the runbook's discard step.
	plain := c.run(t, "", "dlq", "export", "--reason", "courier_rejected")
	require.Equal(t, 0, plain.code, plain.stderr)
	require.Equal(t, "cr-1-r1", lines(t, plain.stdout)[0]["_deadLetter"].(map[string]any)["supersededBy"])

	// Its new key enqueued, the line is left out of later exports.
	r = c.run(t, "", "dlq", "export", "--reason", "courier_rejected", "--new-keys")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "left out 1")
	require.Equal(t, 1, fake.Ledger().CreatedPerKey["cr-1-r1"])
}

func TestCLI_DLQShow_ReadableViewAndJSON(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := c.startWorker(t)
	fake.FailFirst(1)
	r := c.run(t, string(queuetest.RequestJSON("sh-1", flexapitest.RejectProductCode))+"\n", "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
	c.waitState(t, "sh-1", "dead")

	show := c.run(t, "", "dlq", "show", "sh-1")
	require.Equal(t, 0, show.code, show.stderr)
	out := show.stdout
	for _, want := range []string{`Key:\s+sh-1\n`, `Reason:\s+courier_rejected\n`, `HTTP status:\s+502\n`,
		`Message:\s+COURIER_ERROR: the courier rejected`, `Attempts:\s+2\n`, `Shipment:\s+yunexpress, REJECT, to Edison 08817 US, 1 parcel\(s\), order N-sh-1\n`, `First failure:\s+20\d\d-`, `Last failure:\s+20\d\d-`,
		`History \(failed attempts, oldest first; the last 20 are kept\):`,
		`\n\s+1\s+20\S+ \S+\s+500\s+\S`, `\n\s+2\s+20\S+ \S+\s+502\s+COURIER_ERROR`,
		`Request:\n  \{\n    "idempotencyKey": "sh-1",`} {
		require.Regexp(t, want, out)
	}
	require.NotContains(t, out, "Superseded by")
	require.False(t, strings.HasPrefix(strings.TrimSpace(out), "{"), "not JSON without --json")

	js := c.run(t, "", "dlq", "show", "--json", "sh-1")
	require.Equal(t, 0, js.code, js.stderr)
	got := lines(t, js.stdout)
	require.Len(t, got, 1)
	for _, f := range []string{"idempotencyKey", "reason", "httpStatus", "message", "attempts", "firstFailedAt", "failedAt", "queue", "request", "history"} {
		require.Contains(t, got[0], f)
	}
	require.Len(t, got[0]["history"], 2)

	miss := c.run(t, "", "dlq", "show", "nope")
	require.Equal(t, 1, miss.code)
	require.Contains(t, miss.stderr, "not in the dead-letter queue")
}
