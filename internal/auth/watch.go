package auth

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"time"
)

// DefaultPollInterval is how often a Watcher reads the tokens file.
const DefaultPollInterval = 2 * time.Second

// Watcher keeps a Set in step with a tokens file: it re-reads the file
// when its content changes and whenever Reload receives (SIGHUP). The file
// is read and its content compared, not its modification time: a
// Kubernetes secret mount swaps a symlink, which leaves the mtime of the
// path as it was. A bad file (or one that cannot be read) leaves the set
// as it was and logs an error, once per distinct content; a good one
// replaces the set and logs "api tokens reloaded" with counts. Secrets are
// never logged.
type Watcher struct {
	// Path is the tokens file (FLEXLABEL_API_TOKENS_FILE).
	Path string
	// Fixed are tokens kept in every reload: FLEXLABEL_API_TOKENS.
	Fixed []Token
	// Set is the set the watcher replaces.
	Set *Set
	// Log receives the reload lines. Required.
	Log *slog.Logger
	// Interval between reads; DefaultPollInterval when zero.
	Interval time.Duration
	// Reload makes the watcher re-read the file at once, even when it
	// has not changed (serve sends SIGHUP here). May be nil.
	Reload <-chan os.Signal
	// Loaded is the content sum of the file the Set was built from, so
	// the first poll does not reload what is already loaded. The zero
	// value reloads on the first poll.
	Loaded [sha256.Size]byte
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := w.Loaded
	var lastErr string
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.Reload:
			forced = true
		}
		data, err := os.ReadFile(w.Path)
		if err != nil {
			// Once per distinct failure, not every poll.
			if msg := err.Error(); forced || msg != lastErr {
				lastErr = msg
				w.Log.LogAttrs(ctx, slog.LevelError, "api tokens file not reloaded; the previous tokens stay valid",
					slog.String("file", w.Path), slog.String("error", msg))
			}
			continue
		}
		sum := sha256.Sum256(data)
		if sum == last && !forced {
			continue
		}
		last, lastErr = sum, ""
		w.reload(ctx, data)
	}
}

func (w *Watcher) reload(ctx context.Context, data []byte) {
	tokens, err := ParseFile(w.Path, data)
	if err == nil {
		err = w.Set.Replace(append(append([]Token(nil), w.Fixed...), tokens...))
	}
	if err != nil {
		w.Log.LogAttrs(ctx, slog.LevelError, "api tokens file not reloaded; the previous tokens stay valid",
			slog.String("file", w.Path), slog.String("error", err.Error()))
		return
	}
	counts := map[Scope]int{}
	for _, t := range tokens {
		counts[t.Scope]++
	}
	w.Log.LogAttrs(ctx, slog.LevelInfo, "api tokens reloaded",
		slog.String("file", w.Path),
		slog.Int("tokens", len(tokens)),
		slog.Int("producer", counts[Producer]),
		slog.Int("operator", counts[Operator]),
		slog.Int("viewer", counts[Viewer]),
		slog.Int("metrics", counts[Metrics]),
		slog.Int("env_tokens", len(w.Fixed)))
}
