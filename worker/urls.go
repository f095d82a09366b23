package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
)

// documentFetcher fetches the document URLs of created labels for the whole
// fleet, in batches of up to URLBatchSize ids per GET /labels/{id1,id2,…},
// so that a label costs about one API call however many workers share the
// budget (issue 16: when each worker batched its own labels, 8 workers made
// 11 % of their calls for documents).
//
// The labels waiting for their URL are in Redis (store's docs:pending),
// put there by the same script that records the label completed, so a
// worker killed right after creating labels loses none of their URLs: any
// worker's fetcher takes them. Every worker runs a fetcher; in each round,
// one of them gets the turn for the next batch once one is due (a full
// batch pending, or the oldest pending for URLBatchWindow), takes its
// budget slot, and only then claims up to a batch of ids — the oldest
// first, leased, so that a fetcher dying mid-call leaves them to the next
// after the lease. A label the API answers without a URL is tried again
// later with a backoff, and given up (a warning naming it, and the
// flexlabel_document_urls_given_up_total metric) after documentRetry.MaxTries.
type documentFetcher struct {
	w *Worker
	// the account's store, API and budget (an account's labels are
	// fetched with its own token, on its own budget)
	st     *store.Store
	api    LabelAPI
	budget *Budget
	acct   string // the account's name, for the observer
	token  string // this fetcher's turn token
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	// started is set by start: stop waits for a loop only if one runs.
	started atomic.Bool
}

// The fetch's timings. The turn outlasts a normal wait for a slot; one that
// runs out (a long 429 pause) is asked for again. The lease outlasts the
// call's own timeout.
const (
	documentTurnTTL   = 10 * time.Second
	documentCallLimit = 30 * time.Second
	documentLease     = 2 * documentCallLimit
	// documentPollMax is the sleep between asks for the turn while Redis
	// fails.
	documentPollMax = time.Second
	// documentPollMin is the least sleep between two asks without a batch
	// between them.
	documentPollMin = 10 * time.Millisecond
)

// documentRetry: a label answered without its URL is asked again after
// 5 s, doubling up to 5 min (each plus up to a window, to join a batch);
// the 10th answer without one gives it up, about 20 minutes after its
// label was created.
var documentRetry = store.DocumentRetry{Base: 5 * time.Second, Cap: 5 * time.Minute, MaxTries: 10}

// documentObserver is an Observer that also counts labels whose document
// URL was given up, by account (*metrics.Recorder is one).
type documentObserver interface{ DocumentsGivenUp(account string, n int) }

func newDocumentFetcher(w *Worker, acc *account) *documentFetcher {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return &documentFetcher{w: w, st: acc.st, api: acc.api, budget: acc.budget, acct: acc.name,
		token: hex.EncodeToString(b[:]), quit: make(chan struct{}), done: make(chan struct{})}
}

// start starts the loop; a second start does nothing.
func (f *documentFetcher) start() {
	if f.started.CompareAndSwap(false, true) {
		go f.loop()
	}
}

// stop ends the loop after the batch in hand, if any, is stored: its ids
// are leased to this worker, and would otherwise wait for the lease's end.
// A fetcher never started (Start failed) has nothing to stop.
func (f *documentFetcher) stop() {
	if !f.started.Load() {
		return
	}
	f.once.Do(func() { close(f.quit) })
	<-f.done
}

func (f *documentFetcher) loop() {
	defer close(f.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-f.quit; cancel() }()
	failing := false
	for {
		wait, err := f.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Redis away: asynq's health check says so already; say it
			// here once, not every round.
			if !failing {
				f.w.log.Warn("document URLs not fetched; retrying", slog.String("error", err.Error()))
			}
			failing = true
			wait = documentPollMax
		} else {
			failing = false
		}
		switch {
		case wait < 0:
			wait = f.idleWait()
		case wait > 0: // 0: a batch went; ask again at once
			wait = max(wait, documentPollMin)
		}
		if sleep(ctx, wait) != nil {
			return
		}
	}
}

// idleWait is how long the fetch sleeps when no label waits for its
// document URL: a label completed from now on makes a batch due only once
// it has waited the window, or once a batch's worth of labels came after
// it, which the account's budget spaces at least size ÷ rate apart. So
// looking again after the shorter of the two misses nothing, and an idle
// account costs a read per window, not ten (measured: 200 idle accounts'
// fetches made 333 reads a second per worker at the window's tenth).
func (f *documentFetcher) idleWait() time.Duration {
	cfg := f.w.cfg
	fill := time.Duration(float64(cfg.URLBatchSize) / f.budget.rate() * float64(time.Second))
	return max(min(cfg.URLBatchWindow, fill), documentPollMin)
}

// round fetches one batch if one is due and this fetcher gets its turn,
// and says how long to wait before the next round (0: at once).
func (f *documentFetcher) round(ctx context.Context) (time.Duration, error) {
	cfg := f.w.cfg
	// The wait without the turn is until the oldest label's window ends,
	// or the time the batch's missing labels take at the account's budget,
	// if sooner: each is a label created with one of its calls. Asking a
	// tenth of the window apart instead cost 4 workers of 200 busy
	// accounts 1,333 scripts a second (docs/PERFORMANCE.md).
	ok, wait, err := f.st.DocumentTurn(ctx, f.token, cfg.URLBatchWindow, cfg.URLBatchSize, f.budget.interval, documentTurnTTL)
	if err != nil || !ok {
		return wait, err
	}
	// The slot first, then the claim: ids that come while this waits join
	// the batch, and a worker killed while waiting holds none. The batch is
	// due (its window has run out, or it is full), so it goes before bulk
	// labels, in the interactive lane: at bulk priority it waited behind
	// every bulk caller of its process, 10 s with 8 workers (measured,
	// docs/PERFORMANCE.md). It costs an order system's label at most one
	// slot per batch, that is per ≥ 50 labels.
	wctx, cancel := context.WithTimeout(ctx, documentTurnTTL)
	waited, err := f.budget.wait(wctx, queue.Interactive)
	cancel()
	f.w.obs.BudgetWait(waited)
	if err != nil {
		_ = f.st.ReleaseDocumentTurn(context.WithoutCancel(ctx), f.token)
		if ctx.Err() != nil {
			return 0, nil
		}
		f.w.log.Debug("no budget slot for the document batch in time; asking again", slog.String("error", err.Error()))
		return 0, nil
	}
	// From the claim on, finish the batch even if the worker is stopping.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), documentCallLimit)
	defer cancel()
	batch, err := f.st.ClaimDocuments(cctx, f.token, cfg.URLBatchSize, documentLease)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	f.fetch(cctx, batch)
	return 0, nil
}

// fetch makes the batch's one call and stores what it answered; the rest
// goes back to pending.
func (f *documentFetcher) fetch(ctx context.Context, batch []store.PendingDocument) {
	ids := make([]string, len(batch))
	keyOf := make(map[string]string, len(batch))
	for i, d := range batch {
		ids[i] = d.LabelID
		keyOf[d.LabelID] = d.Key
	}
	start := time.Now()
	docs, err := f.api.GetLabels(ctx, ids...)
	status := 200
	if err != nil {
		status = 0
	}
	f.w.obs.APICall(f.st.Account(), "get_labels", status, time.Since(start))
	if err != nil {
		f.w.log.Warn("document URLs not fetched; trying again later", slog.String("error", err.Error()), slog.Int("labels", len(batch)))
		f.retry(ctx, batch, nil, false)
		return
	}
	urls := make(map[string]string, len(docs))
	for _, d := range docs {
		if key, ok := keyOf[d.ID]; ok && d.URL != "" {
			urls[key] = d.URL
		}
	}
	if err := f.st.SetURLs(ctx, urls); err != nil {
		// Still leased: they come back to pending at the lease's end.
		f.w.log.Warn("document URLs not stored; fetching them again after the lease", slog.Int("labels", len(urls)), slog.String("error", err.Error()))
		return
	}
	f.w.log.Debug("document URLs fetched", slog.Int("labels", len(batch)), slog.Int("urls", len(urls)))
	if len(urls) < len(batch) {
		f.retry(ctx, batch, urls, true)
	}
}

// retry puts the batch's labels without a URL back to pending.
func (f *documentFetcher) retry(ctx context.Context, batch []store.PendingDocument, got map[string]string, counted bool) {
	keys := make([]string, 0, len(batch)-len(got))
	for _, d := range batch {
		if _, ok := got[d.Key]; !ok {
			keys = append(keys, d.Key)
		}
	}
	givenUp, err := f.st.RetryDocuments(ctx, keys, counted, documentRetry)
	if err != nil {
		f.w.log.Warn("document ids not returned to pending; fetching them again after the lease", slog.Int("labels", len(keys)), slog.String("error", err.Error()))
		return
	}
	log := f.w.log
	if f.acct != queue.DefaultAccount {
		log = log.With(slog.String("account", f.acct))
	}
	for _, k := range givenUp {
		log.Warn("document URL given up: the API answered without it every time; the label stays without URL",
			slog.String("idempotency_key", k), slog.Int("tries", documentRetry.MaxTries))
	}
	if o, ok := f.w.obs.(documentObserver); ok && len(givenUp) > 0 {
		o.DocumentsGivenUp(f.acct, len(givenUp))
	}
}
