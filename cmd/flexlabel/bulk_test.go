package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// runCtx runs one command with ctx and stdin, collecting its output in
// buffers that may be read while it runs.
func (c *cli) runCtx(ctx context.Context, stdin io.Reader, stdout, stderr *queuetest.Buffer, args ...string) int {
	err := run(ctx, args, c.env, stdin, stdout, stderr)
	return exitCode(err, stderr)
}

// queue opens the CLI's namespace directly, to play the worker's part.
func (c *cli) queue(t *testing.T) *queue.Queue {
	t.Helper()
	opts, err := redis.ParseURL(c.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.Options{Namespace: c.env["FLEXLABEL_QUEUE"]})
	require.NoError(t, err)
	return q
}

// completeJob records a label for key as the worker would, without its URL.
func completeJob(t *testing.T, q *queue.Queue, key string) {
	t.Helper()
	require.NoError(t, queuetest.Store(t, q).Complete(context.Background(), &store.Job{Key: key}, &flexapi.Label{ID: "lbl-" + key, Status: "created"}))
}

// cancelAfter cancels once n bytes have been read through it, as a Ctrl-C
// in the middle of a file would, and reads on.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if c.n > 0 && len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func TestCLI_Bulk_CancelledMidFile_NeverExitsZero_RerunResumes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := writeCSV(t, 3000)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	enqueued := 0
	for i, cut := range []int{1, 300, 4096, 16 << 10, len(data) / 8, len(data) / 3, len(data) / 2, len(data) * 7 / 8, len(data) - 2} {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr queuetest.Buffer
		args := []string{"bulk", "--format", "csv", "-"}
		if i%2 == 1 {
			args = append(args, "--json")
		}
		report := filepath.Join(t.TempDir(), "report.csv")
		if i%3 == 2 {
			args = append(args, "--report", report)
		}
		code := c.runCtx(ctx, &cancelAfter{r: strings.NewReader(string(data)), n: cut, cancel: cancel}, &stdout, &stderr, args...)
		cancel()
		require.Equal(t, 2, code, "run %d, cancelled after %d bytes, must exit 2\n%s", i, cut, stderr.String())
		if strings.Contains(stderr.String(), "bulk run interrupted before the CSV header was read: nothing was enqueued") {
			continue
		}
		require.Contains(t, stderr.String(), "bulk run interrupted after ")
		require.Contains(t, stderr.String(), "run the same file again to resume")
		var n, e int
		_, err := fmt.Sscanf(stderr.String()[strings.Index(stderr.String(), "interrupted after "):], "interrupted after %d row(s) (%d enqueued", &n, &e)
		require.NoError(t, err, stderr.String())
		require.Less(t, n, 3000, "cancelled mid-file")
		if i%2 == 1 {
			got := lines(t, stdout.String())
			sum := got[len(got)-1]
			require.Equal(t, true, sum["interrupted"])
			require.EqualValues(t, e, sum["enqueued"])
			require.Len(t, got, n+1, "one line per row handled, and the summary")
		}
		if i%3 == 2 {
			rep := strings.Split(strings.TrimSpace(mustRead(t, report)), "\n")
			require.Len(t, rep, 1+n, "the report of an interrupted run has the rows handled")
		}
		enqueued += e
	}
	require.Positive(t, enqueued)

	r := c.run(t, "", "bulk", path, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	got := lines(t, r.stdout)
	sum := got[len(got)-1]
	require.EqualValues(t, 3000, sum["enqueued"].(float64)+sum["duplicate"].(float64), "the re-run resumed: every row once")
	require.LessOrEqual(t, enqueued+int(sum["enqueued"].(float64)), 3000, "nothing enqueued twice")
	require.NotContains(t, sum, "interrupted")
}

func TestCLI_Bulk_InterruptedWhileWaiting_WritesReportAndExitsTwo(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	q := c.queue(t)
	path := writeCSV(t, 10)
	report := filepath.Join(t.TempDir(), "report.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr queuetest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- c.runCtx(ctx, strings.NewReader(""), &stdout, &stderr, "bulk", path, "--wait", "--json", "--report", report)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for 10 label(s)") }, 30*time.Second, 10*time.Millisecond)
	for _, k := range []string{"bulk-00000", "bulk-00001", "bulk-00002"} {
		completeJob(t, q, k)
		require.NoError(t, queuetest.Store(t, q).SetURLs(context.Background(), map[string]string{k: "https://cdn.example/" + k + ".pdf"}))
	}
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bulk --wait did not stop after its context was cancelled")
	}
	require.Equal(t, 2, code, stderr.String())
	require.Contains(t, stderr.String(), "bulk run interrupted while waiting")
	require.Contains(t, stderr.String(), "run the same bulk command again")
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "labels") {
			require.NotContains(t, l, "100%", "an interrupted wait is not drawn as done")
		}
	}

	got := lines(t, stdout.String())
	sum := got[len(got)-1]
	require.Equal(t, true, sum["interrupted"])
	require.EqualValues(t, 10, sum["completed"].(float64)+sum["failed"].(float64)+sum["unfinished"].(float64), "the counts add up")

	rep := lines(t, mustRead(t, report))
	require.Len(t, rep, 10, "the report has every key, finished or not")
	states := map[string]int{}
	for _, row := range rep {
		states[row["state"].(string)]++
		if row["state"] == "completed" {
			require.NotEmpty(t, row["labelUrl"])
		}
	}
	require.Equal(t, map[string]int{"completed": 3, "pending": 7}, states)
}

func TestCLI_Bulk_Wait_WaitsForDocumentURLs(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	q := c.queue(t)
	path := writeCSV(t, 5)
	keys := []string{"bulk-00000", "bulk-00001", "bulk-00002", "bulk-00003", "bulk-00004"}
	report := filepath.Join(t.TempDir(), "report.ndjson")
	var stdout, stderr queuetest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- c.runCtx(context.Background(), strings.NewReader(""), &stdout, &stderr, "bulk", path, "--wait", "--json", "--report", report, "--url-timeout", "10m")
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for 5 label(s)") }, 30*time.Second, 10*time.Millisecond)
	for _, k := range keys {
		completeJob(t, q, k)
	}
	// Every label is finished, none has its URL: --wait goes on waiting.
	require.Eventually(t, func() bool {
		return strings.Contains(stderr.String(), "every label is finished; waiting up to 10m0s for 5 document URL(s)")
	}, 30*time.Second, 10*time.Millisecond, stderr.String())
	for _, k := range keys {
		require.NoError(t, queuetest.Store(t, q).SetURLs(context.Background(), map[string]string{k: "https://cdn.example/" + k + ".pdf"}))
	}
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("bulk --wait did not end once every URL was stored")
	}
	for _, row := range lines(t, mustRead(t, report)) {
		require.Equal(t, "completed", row["state"])
		require.Equal(t, "https://cdn.example/"+row["idempotencyKey"].(string)+".pdf", row["labelUrl"])
	}
	got := lines(t, stdout.String())
	require.EqualValues(t, 0, got[len(got)-1]["withoutUrl"])
	require.NotContains(t, stderr.String(), "no document URL")
}

func TestCLI_Bulk_Wait_URLTimeout_NamesLabelsWithoutURL(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	q := c.queue(t)
	path := writeCSV(t, 3)
	var stdout, stderr queuetest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- c.runCtx(context.Background(), strings.NewReader(""), &stdout, &stderr, "bulk", path, "--wait", "--json", "--url-timeout", "1s")
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for 3 label(s)") }, 30*time.Second, 10*time.Millisecond)
	for _, k := range []string{"bulk-00000", "bulk-00001", "bulk-00002"} {
		completeJob(t, q, k)
	}
	require.NoError(t, queuetest.Store(t, q).SetURLs(context.Background(), map[string]string{"bulk-00001": "https://cdn.example/1.pdf"}))
	var code int
	select {
	case code = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("bulk --wait did not end after --url-timeout")
	}
	require.Equal(t, 0, code, "a missing URL is no failed label\n%s", stderr.String())
	require.Contains(t, stderr.String(), "2 completed label(s) have no document URL after waiting 1s: bulk-00000, bulk-00002")
	got := lines(t, stdout.String())
	require.EqualValues(t, 2, got[len(got)-1]["withoutUrl"])
}

func TestCLI_Bulk_NoArgument_ShowsUsage(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.run(t, "", "bulk")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "Usage:")
	require.Contains(t, r.stderr, "--delimiter")
	require.Contains(t, r.stderr, "name the FILE to read")
	require.Empty(t, r.stdout)
}

func TestCLI_Enqueue_CSV_SaysUseBulk(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := writeCSV(t, 2)
	r := c.run(t, "", "enqueue", path)
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "use flexlabel bulk "+path)
	require.Empty(t, r.stdout)

	// by content, on standard input
	r = c.run(t, mustRead(t, path), "enqueue")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "standard input starts with a CSV header")
	require.Contains(t, r.stderr, "use flexlabel bulk -")
	require.Empty(t, r.stdout)
	requireNothingWritten(t, c)

	// NDJSON still goes through
	r = c.run(t, "", "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
}

func TestCLI_Bulk_SemicolonCSV_SuggestsDelimiter(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	body := strings.ReplaceAll(mustRead(t, writeCSV(t, 4)), ",", ";")
	path := filepath.Join(t.TempDir(), "orders.csv")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))

	r := c.run(t, "", "bulk", path)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, `the header is a single column containing ';'`)
	require.Contains(t, r.stderr, "run again with --delimiter ';'")
	require.Contains(t, r.stderr, "nothing was enqueued")
	requireNothingWritten(t, c)

	r = c.run(t, "", "bulk", path, "--delimiter", ";", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.EqualValues(t, 4, got[len(got)-1]["enqueued"])

	r = c.run(t, "", "bulk", path, "--delimiter", ";;")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--delimiter")
}

func TestCLI_Enqueue_IdleStdin_StopsWhenCancelled(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	stdin, w := io.Pipe() // nobody writes
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr queuetest.Buffer
	done := make(chan int, 1)
	go func() { done <- c.runCtx(ctx, stdin, &stdout, &stderr, "enqueue") }()
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 2, code, stderr.String())
		require.Contains(t, stderr.String(), "enqueue from stdin: interrupted")
	case <-time.After(30 * time.Second):
		t.Fatal("enqueue went on waiting for standard input after its context was cancelled")
	}
}
