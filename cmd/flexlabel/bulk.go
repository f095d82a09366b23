package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/internal/bulkrun"
	"github.com/flexlabel/flexlabel/queue"
)

type bulkFlags struct {
	format     string
	wait       bool
	report     string
	asJSON     bool
	lane       string
	delimiter  string
	urlTimeout time.Duration
}

// defaultURLTimeout bounds how long --wait waits for document URLs once every
// label is finished. The worker fetches URLs in batches every few seconds
// (3 s by default) and gives a fetch 30 s; a fetch that failed is not tried
// again, so past this bound a missing URL is not coming.
const defaultURLTimeout = 45 * time.Second

func (a *app) bulkCmd() *cobra.Command {
	var f bulkFlags
	cmd := &cobra.Command{
		Use:   "bulk FILE|- [--format csv|ndjson] [--delimiter C] [--wait [--url-timeout D]] [--report FILE] [--json]",
		Short: "Enqueue a bulk label run from a CSV or NDJSON file",
		Long: `Enqueue every order of FILE (CSV with a header of JSON paths, or NDJSON; - reads
standard input) on the bulk queue, fast, reporting each row's outcome as 'enqueue'
does. Re-running the same file is safe: finished keys come back duplicate and nothing
is created twice, so an interrupted run is resumed by running it again.

--wait returns when every key of the run is completed or dead and every completed
label has its document URL (or --url-timeout has passed since the last label
finished; the keys still without one are named). --report writes one row per key
(CSV, or NDJSON if the name ends in .ndjson). With --json, stdout has one JSON line
per row and the last line is the summary
{"enqueued":N,"duplicate":N,"conflict":N,"invalid":N,"dead":N
 [,"completed":N,"failed":N,"unfinished":N,"deadByReason":{…},"withoutUrl":N][,"interrupted":true]}.

Exit 0 if every row was enqueued or duplicate (and, with --wait, made a label);
1 if any row was refused or, with --wait, not every row produced a label (some
ended dead); 2 on operational errors and when interrupted (SIGINT, SIGTERM).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return nil
			}
			fmt.Fprint(a.stderr, cmd.UsageString())
			if len(args) == 0 {
				return errors.New("bulk: name the FILE to read (or - for standard input)")
			}
			return fmt.Errorf("bulk: one FILE, got %d arguments", len(args))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bulk(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "", "csv or ndjson (default: from the file name)")
	cmd.Flags().StringVar(&f.delimiter, "delimiter", ",", `the CSV cell separator: one character, e.g. ';' or '\t' for a tab`)
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until every key is completed or dead, and completed labels have their URL")
	cmd.Flags().DurationVar(&f.urlTimeout, "url-timeout", defaultURLTimeout, "with --wait: how long to wait for document URLs once every label is finished (0: not at all)")
	cmd.Flags().StringVar(&f.report, "report", "", "write a report of every key to this file (.csv or .ndjson)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print one JSON line per row and a JSON summary")
	cmd.Flags().StringVar(&f.lane, "queue", "bulk", "bulk or interactive")
	a.accountFlag(cmd, accountWrite, false)
	return cmd
}

// parseDelimiter reads --delimiter: one character, or \t (or "tab") for a tab.
func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	r := []rune(s)
	if len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' || r[0] == utf8.RuneError {
		return 0, fmt.Errorf("--delimiter: want one character such as ';' or '\\t', got %q", s)
	}
	return r[0], nil
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
	delim, err := parseDelimiter(f.delimiter)
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
	if f.urlTimeout < 0 {
		return fmt.Errorf("--url-timeout: must not be negative, got %s", f.urlTimeout)
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
		in = interruptible(ctx, a.stdin)
	} else {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		} else {
			in = interruptible(ctx, file) // a FIFO or device may block
		}
	}
	cr := &countingReader{r: in}
	var rd bulkfile.Reader
	if format == bulkfile.FormatCSV {
		if rd, err = bulkfile.NewCSV(cr, bulkfile.WithDelimiter(delim)); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w before the CSV header was read: nothing was enqueued", bulkrun.ErrInterrupted)
			}
			var he *bulkfile.HeaderError
			if errors.As(err, &he) {
				hint := ""
				if he.Delimiter != 0 {
					hint = fmt.Sprintf("; run again with --delimiter '%s'", delimiterFlag(he.Delimiter))
				}
				return &refusedError{msg: fmt.Sprintf("%s: %v%s (nothing was enqueued)", name, err, hint)}
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

	prog := a.newProgress()
	var rows atomic.Int64
	stopBar := prog.track(func(el time.Duration, final bool) progressFrame {
		fr := progressFrame{label: "enqueueing", unit: "rows", done: rows.Load(), share: -1, final: final, elapsed: el}
		if size > 0 {
			fr.share = float64(cr.n.Load()) / float64(size)
		}
		return fr
	})
	out := newJSONLines(a.stdout)
	keys := map[string]*keyInfo{}
	var order []string
	sum, runErr := bulkrun.Run(ctx, d.q, rd, bulkrun.Options{Lane: lane}, func(row bulkrun.Row) error {
		rows.Add(1)
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
	stopBar(runErr == nil)
	interrupted := errors.Is(runErr, bulkrun.ErrInterrupted)
	if runErr != nil && !interrupted {
		return fmt.Errorf("bulk run stopped after %d row(s): %w (run the same file again to resume)", sum.Total(), runErr)
	}

	s := bulkSummary{Summary: sum, Interrupted: interrupted}
	var w waitResult
	if f.wait && !interrupted {
		var accepted []string
		for _, k := range order {
			if keys[k].outcome.Accepted() {
				accepted = append(accepted, k)
			}
		}
		if w, err = a.waitRun(ctx, d.q, accepted, f.urlTimeout); err != nil {
			return err
		}
		interrupted = w.interrupted
		s.Interrupted = interrupted
		s.Completed, s.Failed, s.Unfinished = &w.completed, &w.dead, &w.unfinished
		s.DeadByReason = w.deadByReason
		without := len(w.noURL)
		s.WithoutURL = &without
	}
	if f.report != "" {
		rctx := ctx
		if interrupted {
			// Write what is known so far even though ctx is done.
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
		}
		if err := writeReport(rctx, d.q, f.report, order, keys); err != nil {
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
			fmt.Fprintf(a.stdout, "labels: %d completed, %d dead%s, %d unfinished\n",
				w.completed, w.dead, reasonCounts(w.deadByReason), w.unfinished)
		}
	}
	if len(w.noURL) > 0 && !interrupted {
		fmt.Fprintf(a.stderr, "%d completed label(s) have no document URL after waiting %s: %s (flexlabel status KEY shows it once the worker has stored it)\n",
			len(w.noURL), f.urlTimeout, firstKeys(w.noURL, 20))
	}
	switch {
	case interrupted && s.Completed != nil:
		where := ""
		if f.report != "" {
			where = "; " + f.report + " lists every key, unfinished ones with their current state"
		}
		return fmt.Errorf("%w while waiting: %d completed, %d dead, %d not finished yet%s; the labels are still being made: "+
			"run the same bulk command again to wait for them (rows already enqueued come back duplicate)", bulkrun.ErrInterrupted,
			w.completed, w.dead, w.unfinished, where)
	case interrupted:
		return fmt.Errorf("%w after %d row(s) (%d enqueued, %d duplicate, %d refused); "+
			"run the same file again to resume: rows already enqueued come back duplicate, nothing is made twice",
			bulkrun.ErrInterrupted, sum.Total(), sum.Enqueued, sum.Duplicate, sum.Refused())
	case sum.Refused() > 0:
		return &refusedError{msg: fmt.Sprintf("%d row(s) refused", sum.Refused())}
	case w.dead > 0:
		return &refusedError{msg: fmt.Sprintf("not every row produced a label: %d dead%s (flexlabel dlq list shows why)",
			w.dead, reasonCounts(w.deadByReason))}
	}
	return nil
}

// bulkSummary is the last line of bulk --json.
type bulkSummary struct {
	bulkrun.Summary
	Completed    *int           `json:"completed,omitempty"`
	Failed       *int           `json:"failed,omitempty"`
	Unfinished   *int           `json:"unfinished,omitempty"`
	DeadByReason map[string]int `json:"deadByReason,omitempty"`
	WithoutURL   *int           `json:"withoutUrl,omitempty"`
	Interrupted  bool           `json:"interrupted,omitempty"`
}

// delimiterFlag writes a delimiter as --delimiter takes it.
func delimiterFlag(d rune) string {
	if d == '\t' {
		return `\t`
	}
	return string(d)
}

// reasonCounts is " (courier_rejected: 2, invalid: 1)", or "" for none.
func reasonCounts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	reasons := make([]string, 0, len(m))
	for r := range m {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s: %d", r, m[r])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// firstKeys lists up to n keys, saying how many more there are.
func firstKeys(keys []string, n int) string {
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:n], ", ") + fmt.Sprintf(" and %d more", len(keys)-n)
}

// waitResult is what --wait learnt.
type waitResult struct {
	completed, dead, unfinished int
	deadByReason                map[string]int
	noURL                       []string // completed keys still without a document URL
	interrupted                 bool
}

// waitRun polls until every key is completed or dead and every completed
// label has its document URL, or urlTimeout has passed since the last one
// finished. When ctx is done it stops with what it knows (interrupted set,
// no error): the bar is left as it stands, not drawn as done.
func (a *app) waitRun(ctx context.Context, q *queue.Queue, keys []string, urlTimeout time.Duration) (waitResult, error) {
	var (
		res      waitResult
		open     = keys   // neither completed nor dead
		needURL  []string // completed, no URL seen yet
		deadKeys []string
		mu       sync.Mutex // guards the counts the bar reads
		urlsFrom time.Time  // when every label was finished
	)
	total := len(keys)
	prog := a.newProgress()
	fmt.Fprintf(a.stderr, "waiting for %d label(s); Ctrl-C stops waiting, the labels are made anyway\n", total)
	stop := prog.track(func(el time.Duration, final bool) progressFrame {
		mu.Lock()
		defer mu.Unlock()
		return waitFrame(res.completed, res.dead, total, len(needURL), final, el)
	})
	ended := false
	defer func() { stop(ended) }()
	for {
		var still []string
		for i := 0; i < len(open); i += 1000 {
			batch := open[i:min(i+1000, len(open))]
			states, err := q.States(ctx, batch)
			if err != nil {
				if ctx.Err() != nil {
					still = append(still, open[i:]...) // not looked at: still open
					break
				}
				return res, err
			}
			mu.Lock()
			for j, st := range states {
				switch st {
				case queue.StateCompleted:
					res.completed++
					needURL = append(needURL, batch[j])
				case queue.StateDead:
					res.dead++
					deadKeys = append(deadKeys, batch[j])
				default:
					still = append(still, batch[j])
				}
			}
			mu.Unlock()
		}
		open = still
		var lacking []string
		for i := 0; i < len(needURL); i += 1000 {
			batch := needURL[i:min(i+1000, len(needURL))]
			urls, err := q.URLs(ctx, batch)
			if err != nil {
				if ctx.Err() != nil {
					lacking = append(lacking, needURL[i:]...)
					break
				}
				return res, err
			}
			for j, u := range urls {
				if u == "" {
					lacking = append(lacking, batch[j])
				}
			}
		}
		mu.Lock()
		needURL = lacking
		mu.Unlock()
		if ctx.Err() != nil {
			res.interrupted = true
			break
		}
		if len(open) == 0 {
			if urlsFrom.IsZero() {
				urlsFrom = time.Now()
				if len(needURL) > 0 && urlTimeout > 0 {
					prog.clear()
					fmt.Fprintf(a.stderr, "every label is finished; waiting up to %s for %d document URL(s)\n", urlTimeout, len(needURL))
				}
			}
			if len(needURL) == 0 || time.Since(urlsFrom) >= urlTimeout {
				ended = true
				break
			}
		}
		select {
		case <-ctx.Done():
			res.interrupted = true
		case <-time.After(500 * time.Millisecond):
		}
		if res.interrupted {
			break
		}
	}
	res.unfinished = len(open)
	res.noURL = needURL
	if len(deadKeys) > 0 {
		// Why they died, for the summary; after an interruption too.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		res.deadByReason = map[string]int{}
		for i := 0; i < len(deadKeys); i += 500 {
			sts, err := q.Status(rctx, deadKeys[i:min(i+500, len(deadKeys))]...)
			if err != nil {
				return res, err
			}
			for _, st := range sts {
				reason := "unknown"
				if st.DeadLetter != nil && st.DeadLetter.Reason != "" {
					reason = string(st.DeadLetter.Reason)
				}
				res.deadByReason[reason]++
			}
		}
	}
	return res, nil
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
				row["reason"] = string(st.DeadLetter.Reason)
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
