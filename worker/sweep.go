package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// documentSweeper sends label.completed, without a document URL, for
// labels whose URL did not arrive within Config.DocumentWait of their
// completion (a batch that failed, a worker killed before fetching), so an
// order system hears of every label: when the URL does come,
// label.document follows. The waiting labels are in Redis, so any worker
// of the namespace sends them, and several sweeping at once send each
// label's event once (store.SweepDocumentWaits). With webhooks off the set
// is empty and a sweep is one read.
type documentSweeper struct {
	w        *Worker
	interval time.Duration
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// sweepBatch bounds one sweep's round trip; a full batch is followed at
// once by the next.
const sweepBatch = 500

func newDocumentSweeper(w *Worker) *documentSweeper {
	// A tenth of the wait, so an event is late by at most that, within
	// bounds that keep an idle worker's reads negligible.
	iv := min(max(w.cfg.DocumentWait/10, 10*time.Millisecond), time.Second)
	return &documentSweeper{w: w, interval: iv, quit: make(chan struct{}), done: make(chan struct{})}
}

func (s *documentSweeper) start() { go s.loop() }

func (s *documentSweeper) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.done
}

func (s *documentSweeper) loop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.quit; cancel() }()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		for {
			n, err := s.w.st.SweepDocumentWaits(ctx, time.Now(), sweepBatch)
			if err != nil {
				// Redis away: asynq's health check says so already; say
				// it here once, not every tick.
				if !failing && ctx.Err() == nil {
					s.w.log.Warn("could not send label.completed for labels past their document wait; retrying",
						slog.String("error", err.Error()))
				}
				failing = true
				break
			}
			failing = false
			if n > 0 {
				s.w.log.Debug("label.completed sent without document URL", slog.Int("labels", n))
			}
			if n < sweepBatch {
				break
			}
		}
	}
}
