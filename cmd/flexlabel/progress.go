package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressFrame is one picture of a long operation, in the units a person
// counts (rows of the file, labels), never bytes.
type progressFrame struct {
	label string // what is going on: "enqueueing", "labels"
	unit  string // what done counts: "rows", "labels"
	done  int64
	// total is the number of units in all, or 0 when not known (rows of a
	// file not read to its end).
	total int64
	// share is how much is done when total is not known (the part of the
	// file read), or < 0 when that is not known either (standard input).
	share  float64
	detail string
	// final is set only once the operation has ended as a whole: only then
	// does the frame show 100 %.
	final   bool
	elapsed time.Duration
}

// percent is the share done as shown: floored, and below 100 until the end,
// so a bar never says "done" while something is still running.
func (f progressFrame) percent() (int, bool) {
	var share float64
	switch {
	case f.final:
		return 100, true
	case f.total > 0:
		share = float64(f.done) / float64(f.total)
	case f.share >= 0:
		share = f.share
	default:
		return 0, false
	}
	return min(99, max(0, int(share*100))), true
}

// render draws the frame on one line; bar adds a bar for a terminal.
func (f progressFrame) render(bar bool) string {
	var b strings.Builder
	b.WriteString(f.label)
	pct, known := f.percent()
	if bar {
		const width = 24
		fill := 0
		if known {
			fill = pct * width / 100
		}
		b.WriteString(" [" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "]")
	} else {
		b.WriteString(":")
	}
	if known {
		fmt.Fprintf(&b, " %3d%%", pct)
	}
	if f.total > 0 {
		fmt.Fprintf(&b, " %d/%d %s", f.done, f.total, f.unit)
	} else {
		fmt.Fprintf(&b, " %d %s", f.done, f.unit)
	}
	if secs := f.elapsed.Seconds(); secs >= 1 && f.done > 0 {
		rate := float64(f.done) / secs
		fmt.Fprintf(&b, ", %.0f %s/s", rate, f.unit)
		if f.total > f.done && !f.final {
			eta := time.Duration(float64(f.total-f.done) / rate * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(&b, ", ETA %s", eta)
		}
	}
	if f.detail != "" {
		b.WriteString(", " + f.detail)
	}
	return b.String()
}

// waitFrame is the frame of --wait: every label of the run is completed,
// dead or remaining, and the three add up to total. urlsPending counts
// completed labels whose document URL is still being waited for; the frame
// is final only when nothing remains of either.
func waitFrame(completed, dead, total, urlsPending int, final bool, elapsed time.Duration) progressFrame {
	remaining := total - completed - dead
	detail := fmt.Sprintf("%d completed, %d dead, %d remaining", completed, dead, remaining)
	if urlsPending > 0 {
		detail += fmt.Sprintf(", %d document URL(s) awaited", urlsPending)
	}
	return progressFrame{
		label:   "labels",
		unit:    "labels",
		done:    int64(completed + dead),
		total:   int64(total),
		share:   -1,
		detail:  detail,
		final:   final && remaining == 0,
		elapsed: elapsed,
	}
}

// progress redraws a frame in place on a terminal (every 200 ms) and
// otherwise prints a status line every few seconds.
type progress struct {
	w        io.Writer
	tty      bool
	width    int // terminal columns; lines are cut to fit, so \r redraws work
	interval time.Duration
	mu       sync.Mutex
	drawn    bool // a bar is on the current terminal line
}

func (a *app) newProgress() *progress {
	p := &progress{w: a.stderr, interval: 5 * time.Second}
	if isTerminal(a.stderr) {
		p.tty = true
		p.interval = 200 * time.Millisecond
		if f, ok := a.stderr.(*os.File); ok {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 1 {
				p.width = w - 1
			}
		}
	}
	return p
}

// show draws one frame.
func (p *progress) show(f progressFrame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := f.render(p.tty)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	if p.width > 0 && len(line) > p.width {
		line = line[:p.width]
	}
	fmt.Fprint(p.w, "\r"+line+"\x1b[K")
	p.drawn = true
}

// clear removes the bar, so a line can be printed; the next frame redraws it.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// track shows frame() every interval until the returned func is called; that
// func draws the last frame (final only if the operation ended as a whole)
// and ends the bar's line.
func (p *progress) track(frame func(elapsed time.Duration, final bool) progressFrame) (stop func(final bool)) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(stopped)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.show(frame(time.Since(start), false))
			}
		}
	}()
	return func(final bool) {
		close(done)
		<-stopped
		p.show(frame(time.Since(start), final))
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.tty {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
	}
}
