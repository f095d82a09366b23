package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const minimalCSV = "../../docs/examples/minimal.csv"

// startBinary starts the flexlabel binary with env and args and stops it
// when the test ends; its stdout and stderr go to the returned buffer.
func startBinary(t *testing.T, bin string, env []string, args ...string) *queuetest.Buffer {
	t.Helper()
	var out queuetest.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return &out
}

// The Done-when check of issue 11: a CSV in the docs' older minimal shape
// (no shipFrom, dimension, descriptionLocal, email or state) runs end to end
// with the real binary — bulk --wait, a worker, flexlabel fakeapi — and
// makes exactly one label per row.
func TestBinary_Bulk_DocsMinimalCSV_OneLabelPerRow(t *testing.T) {
	t.Parallel()
	bin := buildFlexlabel(t)

	f, err := os.Open(minimalCSV)
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	header, rows := rows[0], rows[1:]
	require.GreaterOrEqual(t, len(rows), 3)
	for _, col := range header {
		for _, absent := range []string{"shipFrom", "dimension", "descriptionLocal", "email", "state"} {
			require.NotContains(t, col, absent, "minimal.csv must keep the docs' minimal shape")
		}
	}

	const token = "tok-MINIMAL-7c1d0e"
	fakeOut := startBinary(t, bin, []string{}, "fakeapi", "--addr", "127.0.0.1:0", "--token", token)
	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var apiURL string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		m := listening.FindStringSubmatch(fakeOut.String())
		if assert.True(c, m != nil, "fakeapi not listening yet: %s", fakeOut.String()) {
			apiURL = m[1]
		}
	}, 20*time.Second, 20*time.Millisecond)

	env := []string{"REDIS_URL=" + queuetest.RedisURL(t), "FLEXLABEL_QUEUE=" + queuetest.Prefix(t), "FLEXLABEL_LOG_FORMAT=text"}
	workerOut := startBinary(t, bin, append([]string{
		"FLEXFORWARD_TOKEN=" + token,
		"FLEXFORWARD_BASE_URL=" + apiURL,
		"FLEXLABEL_RETRY_BASE=100ms",
		"FLEXLABEL_RETRY_MAX=1s",
		"FLEXLABEL_RATE_LIMIT=200",
	}, env...), "worker")

	cmd := exec.Command(bin, "bulk", minimalCSV, "--wait", "--json")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "flexlabel bulk --wait: %s\nstdout: %s\nworker: %s", stderr.String(), stdout.String(), workerOut.String())
	got := lines(t, stdout.String())
	require.Len(t, got, len(rows)+1, "a line per row and the summary")
	for i, row := range rows {
		require.Equal(t, row[0], got[i]["idempotencyKey"])
		require.Equal(t, "enqueued", got[i]["outcome"], "%v", got[i])
	}
	sum := got[len(rows)]
	require.EqualValues(t, len(rows), sum["enqueued"])
	require.EqualValues(t, len(rows), sum["completed"])

	resp, err := http.Get(apiURL + "/_fake/ledger")
	require.NoError(t, err)
	defer resp.Body.Close()
	var ledger flexapitest.Ledger
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	require.Equal(t, len(rows), ledger.LabelsCreated, "one label per row")
	require.Zero(t, ledger.LabelsFailed)
	for _, row := range rows {
		require.Equal(t, 1, ledger.CreatedPerKey[row[0]], "labels for %s", row[0])
	}
	require.NotContains(t, workerOut.String()+stderr.String()+stdout.String(), token)
	require.False(t, strings.Contains(stderr.String(), "invalid"), "stderr: %s", stderr.String())
}
