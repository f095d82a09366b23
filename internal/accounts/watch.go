package accounts

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often a Live set reads its file.
const DefaultPollInterval = 2 * time.Second

// Live is a Set kept in step with its file: adding an account needs no
// restart. It re-reads the file (and every tokenFile: a rotated Kubernetes
// secret swaps a symlink and keeps the path's mtime, so the content is
// compared, not the time) every Interval and whenever Reload receives
// (SIGHUP). A file that is bad or cannot be read leaves the set as it was
// and logs an error, once per distinct problem; a good one that differs
// replaces the set and logs "accounts reloaded" with the names added and
// removed. Tokens are never logged.
type Live struct {
	Path     string
	Options  Options
	Log      *slog.Logger
	Interval time.Duration
	Reload   <-chan os.Signal

	set atomic.Pointer[Set]
}

// NewLive reads the file once: an error here is the caller's to report
// (the process should not start on a bad file).
func NewLive(path string, o Options, log *slog.Logger) (*Live, error) {
	s, err := ReadFile(path, o)
	if err != nil {
		return nil, err
	}
	l := &Live{Path: path, Options: o, Log: log}
	l.set.Store(s)
	return l, nil
}

// Set returns the accounts as last read.
func (l *Live) Set() *Set { return l.set.Load() }

// Run watches until ctx ends.
func (l *Live) Run(ctx context.Context) {
	interval := l.Interval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastErr string
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.Reload:
			forced = true
		}
		next, err := ReadFile(l.Path, l.Options)
		if err != nil {
			if msg := err.Error(); forced || msg != lastErr {
				lastErr = msg
				l.Log.LogAttrs(ctx, slog.LevelError, "accounts file not reloaded; the previous accounts stay",
					slog.String("file", l.Path), slog.String("error", msg))
			}
			continue
		}
		lastErr = ""
		prev := l.set.Load()
		if next.Sum == prev.Sum {
			continue
		}
		l.set.Store(next)
		added, removed := diff(prev.Names(), next.Names())
		l.Log.LogAttrs(ctx, slog.LevelInfo, "accounts reloaded",
			slog.String("file", l.Path), slog.Int("accounts", len(next.accounts)),
			slog.Any("added", added), slog.Any("removed", removed))
	}
}

// diff returns the names only in b (added) and only in a (removed); both
// are sorted.
func diff(a, b []string) (added, removed []string) {
	added, removed = []string{}, []string{}
	for _, n := range b {
		if _, ok := slices.BinarySearch(a, n); !ok {
			added = append(added, n)
		}
	}
	for _, n := range a {
		if _, ok := slices.BinarySearch(b, n); !ok {
			removed = append(removed, n)
		}
	}
	return added, removed
}
