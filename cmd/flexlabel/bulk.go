package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/bulkfile"
	"github.com/flexlabel/flexlabel/queue/bulkrun"
)

type bulkFlags struct {
	format string
	wait   bool
	report string
	asJSON bool
	lane   string
}

func (a *app) bulkCmd() *cobra.Command {
	var f bulkFlags
	cmd := &cobra.Command{
		Use:   "bulk FILE [--format csv|ndjson] [--wait] [--report FILE] [--json]",
		Short: "Enqueue a bulk label run from a CSV or NDJSON file",
		Long: `Enqueue every order of FILE (CSV with a header of JSON paths, or NDJSON) on the
bulk queue, fast, reporting each row's outcome as 'enqueue' does. Re-running the same
file is safe: finished keys come back duplicate and nothing is created twice.

--wait returns when every key of the run is completed or dead; --report writes one
row per key (CSV, or NDJSON if the name ends in .ndjson). With --json, stdout has
one JSON line per row and the last line is the summary
{"enqueued":N,"duplicate":N,"conflict":N,"invalid":N,"dead":N[,"completed":N,"failed":N]}.
Exit 0 if every row was enqueued or duplicate, 1 if any was refused, 2 on operational errors.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bulk(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "", "csv or ndjson (default: from the file name)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until every key is completed or dead")
	cmd.Flags().StringVar(&f.report, "report", "", "write a report of every key to this file (.csv or .ndjson)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print one JSON line per row and a JSON summary")
	cmd.Flags().StringVar(&f.lane, "queue", "bulk", "bulk or interactive")
	return cmd
}

// countingReader counts bytes read, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// keyInfo is what the run learnt of one key, for --wait and --report.
type keyInfo struct {
	outcome queue.Outcome
	err     string
}

func (a *app) bulk(ctx context.Context, name string, f bulkFlags) error {
	format, err := bulkfile.Detect(name, f.format)
	if err != nil {
		return err
	}
	lane := queue.Bulk
	switch f.lane {
	case "bulk":
	case "interactive":
		lane = queue.Interactive
	default:
		return fmt.Errorf("--queue: must be bulk or interactive, got %q", f.lane)
	}
	if f.report != "" {
		if dir := filepath.Dir(f.report); dir != "" {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return fmt.Errorf("--report: directory %s does not exist", dir)
			}
		}
	}
	var (
		in   io.Reader
		size int64 = -1
	)
	if name == "-" {
		in = a.stdin
	} else {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		if st, err := file.Stat(); err == nil {
			size = st.Size()
		}
		in = file
	}
	cr := &countingReader{r: in}
	var rd bulkfile.Reader
	if format == bulkfile.FormatCSV {
		if rd, err = bulkfile.NewCSV(cr); err != nil {
			var he *bulkfile.HeaderError
			if errors.As(err, &he) {
				return &refusedError{msg: fmt.Sprintf("%s: %v (nothing was enqueued)", name, err)}
			}
			return err
		}
	} else {
		rd = bulkfile.NewNDJSON(cr)
	}

	d, err := a.openQueue(ctx)
	if err != nil {
		return err
	}
	defer d.Close()

	prog := a.newProgress(size, "enqueueing", true)
	stopTicker := prog.track(func() (int64, string) {
		return cr.n.Load(), ""
	})
	out := newJSONLines(a.stdout)
	keys := map[string]*keyInfo{}
	var order []string
	sum, runErr := bulkrun.Run(ctx, d.q, rd, bulkrun.Options{Lane: lane}, func(row bulkrun.Row) error {
		r := row.Result
		if k := r.IdempotencyKey; k != "" && (f.wait || f.report != "") {
			if _, seen := keys[k]; !seen {
				ki := &keyInfo{outcome: r.Outcome}
				if r.Error != nil {
					ki.err = *r.Error
				}
				keys[k] = ki
				order = append(order, k)
			}
		}
		if f.asJSON {
			return out.write(r)
		}
		if !r.Outcome.Accepted() {
			prog.clear()
			fmt.Fprintf(a.stdout, "line %d: %s %s: %s\n", row.Line, r.IdempotencyKey, r.Outcome, strOr(r.Error, ""))
		}
		return nil
	})
	stopTicker()
	prog.finish()
	if runErr != nil {
		return fmt.Errorf("bulk run stopped after %d row(s): %w (run the same file again to resume)", sum.Total(), runErr)
	}

	type summary struct {
		bulkrun.Summary
		Completed *int `json:"completed,omitempty"`
		Failed    *int `json:"failed,omitempty"`
	}
	s := summary{Summary: sum}
	if f.wait {
		completed, failed, err := a.waitRun(ctx, d.q, order, keys)
		if err != nil {
			return err
		}
		s.Completed, s.Failed = &completed, &failed
	}
	if f.report != "" {
		if err := writeReport(ctx, d.q, f.report, order, keys); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	if f.asJSON {
		if err := out.write(s); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%d row(s): %d enqueued, %d duplicate, %d conflict, %d invalid, %d dead\n",
			sum.Total(), sum.Enqueued, sum.Duplicate, sum.Conflict, sum.Invalid, sum.Dead)
		if s.Completed != nil {
			fmt.Fprintf(a.stdout, "finished: %d completed, %d failed (dead)\n", *s.Completed, *s.Failed)
		}
	}
	if sum.Refused() > 0 {
		return &refusedError{msg: fmt.Sprintf("%d row(s) refused", sum.Refused())}
	}
	return nil
}

// waitRun polls until every accepted key of the run is completed or dead.
func (a *app) waitRun(ctx context.Context, q *queue.Queue, order []string, keys map[string]*keyInfo) (completed, failed int, err error) {
	var open []string
	for _, k := range order {
		if keys[k].outcome.Accepted() {
			open = append(open, k)
		}
	}
	total := int64(len(open))
	prog := a.newProgress(total, "labels", false)
	var done atomic.Int64
	var status atomic.Value
	status.Store("")
	stop := prog.track(func() (int64, string) { return done.Load(), status.Load().(string) })
	defer func() { stop(); prog.finish() }()
	for {
		var still []string
		for i := 0; i < len(open); i += 1000 {
			batch := open[i:min(i+1000, len(open))]
			states, err := q.States(ctx, batch)
			if err != nil {
				return 0, 0, err
			}
			for j, st := range states {
				switch st {
				case queue.StateCompleted:
					completed++
				case queue.StateDead:
					failed++
				default:
					still = append(still, batch[j])
				}
			}
		}
		open = still
		done.Store(total - int64(len(open)))
		status.Store(fmt.Sprintf("%d completed, %d dead, %d remaining", completed, failed, len(open)))
		if len(open) == 0 {
			return completed, failed, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("stopped waiting with %d label(s) unfinished: %w", len(open), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeReport writes one row per key: CSV, or NDJSON for a .ndjson name.
func writeReport(ctx context.Context, q *queue.Queue, path string, order []string, keys map[string]*keyInfo) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	asNDJSON := strings.HasSuffix(path, ".ndjson")
	cols := []string{"idempotencyKey", "state", "labelId", "courierOrderNumber", "courierTrackingNumber", "labelUrl", "reason", "error"}
	cw := csv.NewWriter(f)
	jw := newJSONLines(f)
	if !asNDJSON {
		if err := cw.Write(cols); err != nil {
			return err
		}
	}
	for i := 0; i < len(order); i += 500 {
		batch := order[i:min(i+500, len(order))]
		sts, err := q.Status(ctx, batch...)
		if err != nil {
			return err
		}
		for j, st := range sts {
			ki := keys[batch[j]]
			row := map[string]string{"idempotencyKey": st.IdempotencyKey, "state": string(st.State)}
			switch {
			case ki.outcome == queue.Invalid && st.State == queue.StateUnknown:
				row["state"] = "invalid"
				row["error"] = ki.err
			case ki.outcome == queue.Conflict:
				row["error"] = ki.err
			}
			if st.Label != nil {
				row["labelId"] = st.Label.ID
				row["courierOrderNumber"] = strOr(st.Label.CourierOrderNumber, "")
				row["courierTrackingNumber"] = strOr(st.Label.CourierTrackingNumber, "")
				row["labelUrl"] = st.Label.URL
			}
			if st.DeadLetter != nil {
				row["reason"] = st.DeadLetter.Reason
				row["error"] = st.DeadLetter.Message
			} else if row["error"] == "" && st.LastError != nil {
				row["error"] = *st.LastError
			}
			if asNDJSON {
				obj := make(map[string]string, len(cols))
				for _, c := range cols {
					obj[c] = row[c]
				}
				if err := jw.write(obj); err != nil {
					return err
				}
				continue
			}
			rec := make([]string, len(cols))
			for n, c := range cols {
				rec[n] = row[c]
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progress shows a bar on a terminal, and a plain status line at most every
// few seconds otherwise.
type progress struct {
	bar      *progressbar.ProgressBar
	a        *app
	label    string
	total    int64
	interval time.Duration
}

func (a *app) newProgress(total int64, label string, bytes bool) *progress {
	p := &progress{a: a, label: label, total: total, interval: 5 * time.Second}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowElapsedTimeOnFinish(),
		}
		if bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("labels"))
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	}
	return p
}

// track polls value every so often and shows it; the returned func stops it.
func (p *progress) track(value func() (int64, string)) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		every := p.interval
		if p.bar != nil {
			every = 200 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				n, s := value()
				p.show(n, s, start)
				return
			case <-t.C:
				n, s := value()
				p.show(n, s, start)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

func (p *progress) show(n int64, status string, start time.Time) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
		if status != "" {
			p.bar.Describe(p.label + ": " + status)
		}
		return
	}
	el := time.Since(start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(n) / el
	}
	line := fmt.Sprintf("%s: %d", p.label, n)
	if p.total > 0 {
		line += fmt.Sprintf("/%d (%.0f%%)", p.total, 100*float64(n)/float64(p.total))
	}
	line += fmt.Sprintf(", %.0f/s", rate)
	if status != "" {
		line += ", " + status
	}
	fmt.Fprintln(p.a.stderr, line)
}

func (p *progress) clear() {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.a.stderr)
	}
}
