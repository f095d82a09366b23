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
type urlBatcher struct {
	w    *Worker
	in   chan urlItem
	done chan struct{}
	once sync.Once
}

type urlItem struct{ key, id string }

func newURLBatcher(w *Worker) *urlBatcher {
	return &urlBatcher{w: w, in: make(chan urlItem, 4096), done: make(chan struct{})}
}

func (b *urlBatcher) add(key, id string) {
	select {
	case b.in <- urlItem{key, id}:
	default:
		b.w.log.Warn("document URL queue full; label stays without URL", slog.String("idempotency_key", key))
	}
}

func (b *urlBatcher) start() { go b.loop() }

func (b *urlBatcher) stop() {
	b.once.Do(func() { close(b.in) })
	<-b.done
}

func (b *urlBatcher) loop() {
	defer close(b.done)
	var batch []urlItem
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case it, ok := <-b.in:
			if !ok {
				b.flush(batch)
				return
			}
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
		}
	}
}

func (b *urlBatcher) flush(batch []urlItem) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited, err := b.w.cfg.Budget.Wait(ctx, queue.Bulk)
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
	if err := b.w.cfg.Queue.SetURLs(ctx, urls); err != nil {
		b.w.log.Warn("document URLs not stored", slog.Int("labels", len(urls)), slog.String("error", err.Error()))
	}
}
