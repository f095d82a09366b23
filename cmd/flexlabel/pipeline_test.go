package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const cliToken = "tok-CLI-SECRET-5f3e9a7b"

// cli runs flexlabel commands against a private Redis namespace.
type cli struct {
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{env: map[string]string{
		"REDIS_URL":            queuetest.RedisURL(t),
		"FLEXLABEL_QUEUE":      queuetest.Prefix(t),
		"FLEXLABEL_RETRY_BASE": "100ms",
		"FLEXLABEL_RETRY_MAX":  "1s",
		"FLEXLABEL_LOG_FORMAT": "text",
	}}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, c.env, strings.NewReader(stdin), &out, &errb)
	code := exitCode(err, &errb)
	return result{out.String(), errb.String(), code}
}

func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// startWorker runs `flexlabel worker` in-process against a fake API until the test ends.
func (c *cli) startWorker(t *testing.T) *flexapitest.Server {
	t.Helper()
	fake := flexapitest.NewTestServer(t, cliToken)
	env := map[string]string{}
	for k, v := range c.env {
		env[k] = v
	}
	env["FLEXFORWARD_TOKEN"] = cliToken
	env["FLEXFORWARD_BASE_URL"] = fake.URL()
	env["FLEXLABEL_RATE_LIMIT"] = "1000"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var errb queuetest.Buffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := run(ctx, []string{"worker"}, env, strings.NewReader(""), &errb, &errb)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		require.NotContains(t, errb.String(), cliToken, "token in worker logs")
	})
	return fake
}

func (c *cli) waitState(t *testing.T, key, state string) map[string]any {
	t.Helper()
	var last map[string]any
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r := c.run(t, "", "status", "--json", key)
		require.Equal(ct, 0, r.code, r.stderr)
		first, _, _ := strings.Cut(r.stdout, "\n")
		last = nil
		require.NoError(ct, json.Unmarshal([]byte(first), &last), r.stdout)
		assert.Equal(ct, state, last["state"])
	}, 10*time.Second, 50*time.Millisecond, "%s never became %s", key, state)
	return last
}

func TestCLI_Enqueue_OutcomesAndExitCodes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	in := string(queuetest.RequestJSON("o-1", "")) + "\n" + string(queuetest.RequestJSON("o-2", "")) + "\n"
	r := c.run(t, in, "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, 2)
	require.Equal(t, "enqueued", got[0]["outcome"])
	require.Equal(t, "o-1", got[0]["idempotencyKey"])
	require.Equal(t, "pending", got[0]["state"])
	require.Contains(t, got[0], "error")
	require.Contains(t, got[0], "details")

	// duplicate + conflict + invalid + not JSON, in order; exit 1
	in = string(queuetest.RequestJSON("o-1", "")) + "\n" +
		string(queuetest.RequestJSON("o-2", "OTHER")) + "\n" +
		strings.Replace(string(queuetest.RequestJSON("o-3", "")), `"US"`, `"ZZ"`, 1) + "\n" +
		"this is not json\n"
	r = c.run(t, in, "enqueue", "-")
	require.Equal(t, 1, r.code)
	got = lines(t, r.stdout)
	require.Len(t, got, 4)
	require.Equal(t, []any{"duplicate", "conflict", "invalid", "invalid"}, []any{got[0]["outcome"], got[1]["outcome"], got[2]["outcome"], got[3]["outcome"]})
	details := got[2]["details"].([]any)
	require.Equal(t, "shipment.shipTo.address.countryCode", details[0].(map[string]any)["field"])
	require.Contains(t, got[3]["error"], "not valid JSON")

	// one pretty-printed object from a file
	var v map[string]any
	require.NoError(t, json.Unmarshal(queuetest.RequestJSON("o-4", ""), &v))
	pretty, _ := json.MarshalIndent(v, "", "  ")
	path := filepath.Join(t.TempDir(), "one.json")
	require.NoError(t, os.WriteFile(path, pretty, 0o600))
	r = c.run(t, "", "enqueue", path)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "enqueued", lines(t, r.stdout)[0]["outcome"])
}

func TestCLI_Enqueue_RedisUnreachable_Exit2(t *testing.T) {
	t.Parallel()
	c := &cli{env: map[string]string{"REDIS_URL": "redis://:hunter2secret@127.0.0.1:1/0"}}
	r := c.run(t, string(queuetest.RequestJSON("x", "")), "enqueue")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "redis")
	require.NotContains(t, r.stderr, "hunter2secret")
}

func TestCLI_EndToEnd_WorkerStatusAndDeadLetters(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := c.startWorker(t)
	in := string(queuetest.RequestJSON("e-ok", "")) + "\n" +
		string(queuetest.RequestJSON("e-rej", flexapitest.RejectProductCode)) + "\n" +
		string(queuetest.RequestJSON("e-404", flexapitest.NoAccountProductCode)) + "\n"
	r := c.run(t, in, "enqueue")
	require.Equal(t, 0, r.code, r.stderr)

	st := c.waitState(t, "e-ok", "completed")
	label := st["label"].(map[string]any)
	require.NotEmpty(t, label["id"])
	require.Equal(t, "created", label["status"])
	c.waitState(t, "e-rej", "dead")
	dead := c.waitState(t, "e-404", "dead")
	require.Equal(t, "not_found", dead["deadLetter"].(map[string]any)["reason"])
	require.EqualValues(t, 404, dead["deadLetter"].(map[string]any)["httpStatus"])

	r = c.run(t, "", "status", "nope", "e-ok")
	require.Equal(t, 1, r.code, "an unknown key exits 1, as GET answers 404")
	require.Contains(t, r.stderr, "1 key(s) unknown: nope")
	require.Contains(t, r.stdout, "unknown")
	require.Contains(t, r.stdout, "completed")

	r = c.run(t, "", "dlq", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	entries := lines(t, r.stdout)
	require.Len(t, entries, 2)
	for _, e := range entries {
		for _, f := range []string{"idempotencyKey", "reason", "httpStatus", "message", "attempts", "failedAt"} {
			require.Contains(t, e, f)
		}
	}
	r = c.run(t, "", "dlq", "list", "--reason", "courier_rejected", "--json")
	require.Len(t, lines(t, r.stdout), 1)
	r = c.run(t, "", "dlq", "list", "--reason", "bogus")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--reason")

	r = c.run(t, "", "dlq", "show", "--json", "e-404")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, `"request"`)

	// export → enqueue: the same requests are still dead
	r = c.run(t, "", "dlq", "export")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, lines(t, r.stdout), 2)
	require.NotContains(t, r.stdout, cliToken)
	back := c.run(t, r.stdout, "enqueue")
	require.Equal(t, 1, back.code)
	for _, l := range lines(t, back.stdout) {
		require.Equal(t, "dead", l["outcome"])
	}

	// discard one, redrive the other (it is rejected again: persisted courier failure)
	r = c.run(t, "", "dlq", "discard", "e-404")
	require.Equal(t, 0, r.code, r.stderr)
	r = c.run(t, "", "dlq", "redrive", "--reason", "courier_rejected", "--yes")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "redriven 1")
	require.Eventually(t, func() bool { return fake.Ledger().CallsPerKey["e-rej"] == 2 }, 10*time.Second, 20*time.Millisecond)
	c.waitState(t, "e-rej", "dead")
	r = c.run(t, "", "dlq", "redrive", "e-404")
	require.Equal(t, 1, r.code)
	r = c.run(t, "", "dlq", "redrive")
	require.Equal(t, 2, r.code, "redrive needs keys, --all or --reason")
	require.Equal(t, 1, fake.Ledger().CreatedPerKey["e-ok"])
}

func writeCSV(t *testing.T, rows int, extra ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("idempotencyKey,courier,service.productCode,shipment.shipTo.address.countryCode,shipment.shipTo.address.postalCode,shipment.shipTo.contact.phone,shipment.shipFrom.address.countryCode,shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity,shipment.parcels[0].items[0].unitPrice.amount\n")
	for i := range rows {
		fmt.Fprintf(&b, "bulk-%05d,yunexpress,HKMUZXR,US,08817,0123456,JP,0.5,1,29.99\n", i)
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	path := filepath.Join(t.TempDir(), "orders.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func TestCLI_Bulk_TenThousandRows_DuplicatesConflictsAndRerun(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := writeCSV(t, 10000,
		"bulk-00007,yunexpress,HKMUZXR,US,08817,0123456,JP,0.5,1,29.99", // duplicate within the file
		"bulk-00008,yunexpress,JPTHZXR,US,08817,0123456,JP,0.5,1,29.99", // conflict within the file
		"bad-weight,yunexpress,HKMUZXR,US,08817,0123456,JP,heavy,1,29.99",
		"bad-country,yunexpress,HKMUZXR,USA,08817,0123456,JP,0.5,1,29.99",
	)
	report := filepath.Join(t.TempDir(), "report.csv")
	r := c.run(t, "", "bulk", path, "--json", "--report", report)
	require.Equal(t, 1, r.code, r.stderr+r.stdout[max(0, len(r.stdout)-600):])
	got := lines(t, r.stdout)
	require.Equal(t, 10004+1, len(got))
	require.Equal(t, "bulk-00000", got[0]["idempotencyKey"])
	require.Equal(t, "duplicate", got[10000]["outcome"])
	require.Equal(t, "conflict", got[10001]["outcome"])
	require.Equal(t, "invalid", got[10002]["outcome"])
	require.Equal(t, "invalid", got[10003]["outcome"])
	sum := got[len(got)-1]
	require.EqualValues(t, map[string]any{"enqueued": 10000.0, "duplicate": 1.0, "conflict": 1.0, "invalid": 2.0, "dead": 0.0}, sum)
	rep, err := os.ReadFile(report)
	require.NoError(t, err)
	repLines := strings.Split(strings.TrimSpace(string(rep)), "\n")
	require.Equal(t, "idempotencyKey,state,labelId,courierOrderNumber,courierTrackingNumber,labelUrl,reason,error", repLines[0])
	require.Equal(t, 1+10000+2, len(repLines), "one row per key")
	require.Contains(t, string(rep), "bad-weight,invalid,")
	// the phone's leading zero survived the CSV
	st := c.run(t, "", "dlq", "list")
	require.Equal(t, 0, st.code)

	// re-run: nothing new
	r = c.run(t, "", "bulk", path, "--json")
	require.Equal(t, 1, r.code)
	got = lines(t, r.stdout)
	sum = got[len(got)-1]
	require.EqualValues(t, 0, sum["enqueued"])
	require.EqualValues(t, 10001, sum["duplicate"])
}

func TestCLI_Bulk_UnknownColumn_NothingEnqueued(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(path, []byte("idempotencyKey,shipment.shipTo.adress.city,service.productCod\nk1,x,y\n"), 0o600))
	r := c.run(t, "", "bulk", path)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "shipment.shipTo.adress.city")
	require.Contains(t, r.stderr, "service.productCod")
	r = c.run(t, "", "status", "--json", "k1")
	require.Equal(t, "unknown", lines(t, r.stdout)[0]["state"])
}

func TestCLI_Bulk_WaitAndReport(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	fake := c.startWorker(t)
	path := writeCSV(t, 30, "rej-1,yunexpress,REJECT,US,08817,0123456,JP,0.5,1,29.99")
	report := filepath.Join(t.TempDir(), "report.ndjson")
	r := c.run(t, "", "bulk", path, "--json", "--wait", "--report", report)
	require.Equal(t, 1, r.code, "a label ended dead: not every row produced a label\n%s", r.stderr)
	require.Contains(t, r.stderr, "not every row produced a label: 1 dead (courier_rejected: 1)")
	got := lines(t, r.stdout)
	sum := got[len(got)-1]
	require.EqualValues(t, 31, sum["enqueued"])
	require.EqualValues(t, 30, sum["completed"])
	require.EqualValues(t, 1, sum["failed"])
	require.EqualValues(t, 0, sum["unfinished"])
	require.EqualValues(t, map[string]any{"courier_rejected": 1.0}, sum["deadByReason"])
	require.EqualValues(t, 0, sum["withoutUrl"])
	rep := lines(t, mustRead(t, report))
	require.Len(t, rep, 31)
	byKey := map[string]map[string]any{}
	for _, l := range rep {
		byKey[l["idempotencyKey"].(string)] = l
	}
	require.Equal(t, "completed", byKey["bulk-00003"]["state"])
	require.NotEmpty(t, byKey["bulk-00003"]["labelId"])
	for k, row := range byKey {
		if row["state"] == "completed" {
			require.NotEmpty(t, row["labelUrl"], "--wait waits for the document URL of %s", k)
		}
	}
	require.Equal(t, "dead", byKey["rej-1"]["state"])
	require.Equal(t, "courier_rejected", byKey["rej-1"]["reason"])
	require.Equal(t, 31, fake.Ledger().LabelsCreated+fake.Ledger().LabelsFailed)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
