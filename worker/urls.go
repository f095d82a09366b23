package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/queue"
)

// urlBatcher fetches document URLs of created labels in batches
// (GET /labels/{id1,id2,…}), so that a label costs about one API call. It is
// best effort: a URL not fetched (worker killed) leaves the label without one.
//
// Handlers send on in and nobody ever closes it: when asynq's shutdown
// timeout expires it abandons a running handler, which may still complete
// after Shutdown has stopped the batcher. stop sets closed (under mu, so no
// add is between its check and its send) and then the loop drains in, so
// every URL added before stop is fetched and every one after is dropped
// with a warning. A dropped URL is not fetched later by anyone (the job is
// completed, so no run of it calls the API again): its label stays without
// a document URL, which status shows as it is and `bulk` names on stderr.
type urlBatcher struct {
	w      *Worker
	in     chan urlItem
	quit   chan struct{} // closed by stop: drain in, flush, end
	done   chan struct{} // closed when the loop has ended
	once   sync.Once
	mu     sync.RWMutex
	closed bool // set by stop, under mu; add then drops the URL
}

type urlItem struct{ key, id string }

func newURLBatcher(w *Worker) *urlBatcher {
	return &urlBatcher{w: w, in: make(chan urlItem, 4096), quit: make(chan struct{}), done: make(chan struct{})}
}

func (b *urlBatcher) add(key, id string) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.w.log.Warn("document URL not fetched: the worker has stopped (a job completed after the shutdown timeout); label stays without URL",
			slog.String("idempotency_key", key))
		return
	}
	select {
	case b.in <- urlItem{key, id}:
	default:
		b.w.log.Warn("document URL queue full; label stays without URL", slog.String("idempotency_key", key))
	}
}

func (b *urlBatcher) start() { go b.loop() }

func (b *urlBatcher) stop() {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.quit)
	})
	<-b.done
}

func (b *urlBatcher) loop() {
	defer close(b.done)
	var batch []urlItem
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case it := <-b.in:
			if len(batch) == 0 {
				timer.Reset(b.w.cfg.URLBatchWindow)
			}
			batch = append(batch, it)
			if len(batch) >= b.w.cfg.URLBatchSize {
				timer.Stop()
				b.flush(batch)
				batch = nil
			}
		case <-timer.C:
			b.flush(batch)
			batch = nil
		case <-b.quit:
			// closed is set: nothing more arrives, so in holds the rest.
			for {
				select {
				case it := <-b.in:
					batch = append(batch, it)
					if len(batch) >= b.w.cfg.URLBatchSize {
						b.flush(batch)
						batch = nil
					}
				default:
					b.flush(batch)
					return
				}
			}
		}
	}
}

func (b *urlBatcher) flush(batch []urlItem) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited, err := b.w.cfg.Budget.wait(ctx, queue.Bulk)
	b.w.obs.BudgetWait(waited)
	if err != nil {
		b.w.log.Warn("document URLs not fetched: no budget", slog.String("error", err.Error()), slog.Int("labels", len(batch)))
		return
	}
	ids := make([]string, len(batch))
	byID := make(map[string]string, len(batch))
	for i, it := range batch {
		ids[i] = it.id
		byID[it.id] = it.key
	}
	start := time.Now()
	docs, err := b.w.cfg.API.GetLabels(ctx, ids...)
	status := 200
	if err != nil {
		status = 0
	}
	b.w.obs.APICall("get_labels", status, time.Since(start))
	if err != nil {
		b.w.log.Warn("document URLs not fetched", slog.String("error", err.Error()), slog.Int("labels", len(batch)))
		return
	}
	urls := make(map[string]string, len(docs))
	for _, d := range docs {
		if key, ok := byID[d.ID]; ok && d.URL != "" {
			urls[key] = d.URL
		}
	}
	if err := b.w.st.SetURLs(ctx, urls); err != nil {
		b.w.log.Warn("document URLs not stored", slog.Int("labels", len(urls)), slog.String("error", err.Error()))
	}
}
