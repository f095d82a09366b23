package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/queue"
)

func (a *app) devCmd() *cobra.Command {
	var seed int
	cmd := &cobra.Command{
		Use:   "dev [--seed N]",
		Short: "Run everything in one process: in-process Redis, fake Flex Forward API, worker, HTTP API, metrics and UI",
		Long: `Run flexlabel on one machine with nothing installed and no network: an in-process
Redis (miniredis; set REDIS_URL to use a real one), the fake Flex Forward API, a
worker, the HTTP API, /metrics and the UI on FLEXLABEL_HTTP_ADDR (default
127.0.0.1:8080). Prints the URLs, a producer token (FLEXLABEL_API_TOKENS, or a
generated one), the fake API's token with how to revoke and restore it, and
commands to try.

So that dead letters arrive in seconds, dev retries less than production unless
the variables are set: FLEXLABEL_MAX_RETRY=5, FLEXLABEL_RETRY_BASE=200ms,
FLEXLABEL_RETRY_MAX=5s (production: 25, 1s, 10m).

--seed N enqueues N sample labels before the banner and summarises them
(their own log lines are at debug). Up to half of them, at most one per
reason, end dead: N >= 12 gives one dead letter of every reason (auth,
invalid, not_found, courier_rejected, rejected, retries_exhausted).
Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seed < 0 {
				return fmt.Errorf("--seed: must be 0 or more, got %d", seed)
			}
			return a.dev(cmd.Context(), seed)
		},
	}
	cmd.Flags().IntVar(&seed, "seed", 0, "enqueue N sample labels; with N >= 12 one of each dead-letter reason among them")
	return cmd
}

func randomToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// devRetryDefaults are the retry settings dev uses unless they are set, so
// that a retries_exhausted dead letter takes seconds, not hours.
var devRetryDefaults = []struct{ name, value string }{
	{"FLEXLABEL_MAX_RETRY", "5"},
	{"FLEXLABEL_RETRY_BASE", "200ms"},
	{"FLEXLABEL_RETRY_MAX", "5s"},
}

func (a *app) dev(ctx context.Context, seed int) error {
	env := make(map[string]string, len(a.env))
	for k, v := range a.env {
		env[k] = v
	}
	setDefault := func(k, v string) {
		if env[k] == "" {
			env[k] = v
		}
	}
	setDefault("FLEXLABEL_HTTP_ADDR", "127.0.0.1:8080")
	setDefault("FLEXLABEL_LOG_FORMAT", "text")
	for _, d := range devRetryDefaults {
		setDefault(d.name, d.value)
	}
	realRedis := env["REDIS_URL"] != ""
	if !realRedis {
		url, stop, err := startDevRedis(ctx)
		if err != nil {
			return err
		}
		defer stop()
		env["REDIS_URL"] = url
	}
	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, a.stderr, "")
	log = slog.New(quietSamples{log.Handler()})
	// Webhooks on in dev: with the in-process Redis nothing outlives dev,
	// so a generated signing key changes no secret anyone kept.
	generatedHookKey := cfg.WebhookSigningKey == "" && !realRedis
	if generatedHookKey {
		cfg.WebhookSigningKey = config.Secret(randomToken("dev-webhook-signing-key-"))
	}

	// The fake Flex Forward API, with a token of its own.
	apiToken := randomToken("dev-flexforward-")
	fake := flexapitest.New(flexapitest.WithToken(apiToken, "dev"), flexapitest.WithTrackingSpeedup(cfg.TrackingSpeedup))
	fln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("fake API: %w", err)
	}
	fakeCtx, stopFake := context.WithCancel(context.Background())
	fakeDone := make(chan error, 1)
	go func() { fakeDone <- fake.Serve(fakeCtx, fln) }()
	defer func() { stopFake(); <-fakeDone }()
	cfg.FlexForwardBaseURL = "http://" + fln.Addr().String()
	cfg.FlexForwardToken = config.Secret(apiToken)

	loaded, err := cfg.LoadAPITokens()
	if err != nil {
		return err
	}
	generated := len(loaded.Env) == 0
	if generated {
		loaded.Env = []auth.Token{{Scope: auth.All, Secret: randomToken("dev-producer-")}}
	}
	tokens, err := auth.NewSet(loaded.All())
	if err != nil {
		return &config.Error{Problems: []string{"FLEXLABEL_API_TOKENS: " + err.Error()}}
	}
	// The console opens without a token, acting with scope all, only where
	// no one else can reach it.
	host, _, _ := net.SplitHostPort(cfg.HTTPAddr)
	openUI := flexapi.IsLoopback(host)

	d, reg, rec, err := a.openObserved(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := a.startWorker(ctx, cfg, d, log, rec, nil)
	if err != nil {
		return err
	}
	defer w.Shutdown()
	hooksDl, err := a.startWebhooks(cfg, d, log, rec)
	if err != nil {
		return err
	}
	if hooksDl != nil {
		defer hooksDl.Shutdown()
	}

	// Seed before serving, so the banner comes last and can say what was seeded.
	var seeded *seedSummary
	if seed > 0 {
		seeded, err = seedLabels(ctx, d.q, fake, apiToken, seed)
		if ctx.Err() != nil {
			return nil // Ctrl-C while seeding
		}
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
	}
	stopWatch := func() {}
	defer func() { stopWatch() }()

	h, err := newHTTPHandler(d, tokens, false, !openUI, false, reg, log)
	if err != nil {
		return err
	}
	return runHTTP(ctx, cfg.HTTPAddr, h, log, func(addr net.Addr) {
		a.devBanner(devBannerInfo{
			cfg: cfg, env: env, addr: addr, token: loaded.Env[0].Secret, generated: generated, openUI: openUI, realRedis: realRedis,
			apiToken: apiToken, retriesFromEnv: a.env, seeded: seeded,
			hookKey: cfg.WebhookSigningKey.Reveal(), generatedHookKey: generatedHookKey,
		})
		if seeded != nil {
			// Started after the banner, so its one line always follows it.
			stopWatch = watchSeeded(ctx, d.q, seeded.keys, log)
		}
	})
}

type devBannerInfo struct {
	cfg            *config.Config
	env            map[string]string
	addr           net.Addr
	token          string // the first producer token
	generated      bool   // the producer token was generated
	openUI         bool   // the UI opens without a token (a loopback address)
	realRedis      bool
	apiToken       string            // the fake API's token, the worker's FLEXFORWARD_TOKEN
	retriesFromEnv map[string]string // the environment dev was started with
	seeded         *seedSummary      // nil without --seed
	// hookKey is FLEXLABEL_WEBHOOK_SIGNING_KEY ("" : webhooks off),
	// generated by dev when generatedHookKey.
	hookKey          string
	generatedHookKey bool
}

// devBanner prints where everything is and what to try.
func (a *app) devBanner(b devBannerInfo) {
	cfg := b.cfg
	base := "http://" + b.addr.String()
	redisNote := "in-process (miniredis; data is gone when dev stops)"
	if b.realRedis {
		redisNote = cfg.RedisAddr()
	}
	tokenNote := "(scope all; generated, set FLEXLABEL_API_TOKENS to choose)"
	if !b.generated {
		tokenNote = "(scope all; from FLEXLABEL_API_TOKENS)"
	}
	uiNote := "(open without a token on this loopback address, acting with scope all)"
	if !b.openUI {
		uiNote = "(log in with the token as password: not a loopback address)"
	}
	var retries []string
	for _, d := range devRetryDefaults {
		note := "dev default"
		if b.retriesFromEnv[d.name] != "" {
			note = "from the environment"
		}
		retries = append(retries, fmt.Sprintf("%s=%s (%s)", d.name, b.env[d.name], note))
	}
	cli := fmt.Sprintf("REDIS_URL=%s FLEXLABEL_QUEUE=%s go run ./cmd/flexlabel", redactedRedisURL(b.env["REDIS_URL"], b.realRedis), cfg.Queue)
	fmt.Fprintf(a.stdout, `flexlabel dev is running. Ctrl-C stops it.

  HTTP API     %[1]s/v1/labels            (OpenAPI: %[1]s/openapi.yaml)
  UI           %[1]s/ui/                  %[8]s
  Metrics      %[1]s/metrics
  Health       %[1]s/healthz  %[1]s/readyz
  Token        %[4]s %[5]s
  Fake API     %[2]s  (Flex Forward stand-in; admin at /_fake/ledger)
  API token    %[6]s  (the worker's FLEXFORWARD_TOKEN)
  Redis        %[3]s
  Retries      %[7]s
               (production defaults: 25, 1s, 10m)
`, base, cfg.FlexForwardBaseURL, redisNote, b.token, tokenNote, b.apiToken, strings.Join(retries, "\n               "), uiNote)
	switch {
	case b.generatedHookKey:
		fmt.Fprintf(a.stdout, "  Webhooks     %s/v1/webhook-endpoints  (signing key generated; for the CLI: FLEXLABEL_WEBHOOK_SIGNING_KEY=%s)\n", base, b.hookKey)
	case b.hookKey != "":
		fmt.Fprintf(a.stdout, "  Webhooks     %s/v1/webhook-endpoints  (signing key from FLEXLABEL_WEBHOOK_SIGNING_KEY)\n", base)
	default:
		fmt.Fprintln(a.stdout, "  Webhooks     off (set FLEXLABEL_WEBHOOK_SIGNING_KEY, at least 32 bytes)")
	}
	if b.seeded != nil {
		fmt.Fprintf(a.stdout, "  Seeded       %s\n", b.seeded)
	}
	fmt.Fprintf(a.stdout, `
Try:
  curl -s -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    --data-binary @docs/examples/request.json %[1]s/v1/labels
  curl -s -H 'Authorization: Bearer %[2]s' %[1]s/v1/labels/ord-20260527-0001
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/v1/dead-letters?limit=10'
  %[5]s bulk docs/examples/orders.csv --wait
  %[5]s dlq list

Rehearse a token rotation (docs/OPERATIONS.md#dead-letters-after-a-token-rotation):
  curl -s -X POST --data '{"token":"%[4]s","state":"revoked"}' %[3]s/_fake/tokens
      # revoke: the worker's calls now answer 401, new jobs dead-letter with reason auth
  curl -s -X POST --data '{"token":"%[4]s","state":"active"}' %[3]s/_fake/tokens
      # restore: the token works again (dev's stand-in for the new token and a worker restart)
  %[5]s dlq redrive --reason auth --yes

`, base, b.token, cfg.FlexForwardBaseURL, b.apiToken, cli)
}

// quietSamples logs the lines about sample labels (--seed) at debug: dev
// summarises them instead, so that hundreds of "label created" lines do not
// scroll the banner away. Errors stay errors.
type quietSamples struct{ slog.Handler }

func (h quietSamples) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError || !aboutSample(r) {
		return h.Handler.Handle(ctx, r)
	}
	if !h.Handler.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	q := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { q.AddAttrs(a); return true })
	return h.Handler.Handle(ctx, q)
}

func (h quietSamples) WithAttrs(as []slog.Attr) slog.Handler {
	return quietSamples{h.Handler.WithAttrs(as)}
}

func (h quietSamples) WithGroup(name string) slog.Handler {
	return quietSamples{h.Handler.WithGroup(name)}
}

// aboutSample reports whether a record is about a sample label: the
// worker's lines carry its idempotency_key, asynq's name the task id.
func aboutSample(r slog.Record) bool {
	if strings.Contains(r.Message, "id="+samplePrefix) {
		return true
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "idempotency_key" && strings.HasPrefix(a.Value.String(), samplePrefix) {
			found = true
			return false
		}
		return true
	})
	return found
}

// redactedRedisURL is REDIS_URL for the banner: the in-process one as is, a
// real one with its secrets masked (config.MaskRedisURL, which also covers
// the Sentinel form's password parameters).
func redactedRedisURL(u string, real bool) string {
	if !real {
		return u
	}
	return config.MaskRedisURL(u)
}

const samplePrefix = "sample-"

// sample is one label --seed enqueues, and the dead-letter reason it is
// made to end with ("" for a label that completes).
type sample struct {
	i            int
	key, product string
	reason       queue.Reason
}

// samplePlan spreads min(len(queue.Reasons), n/2) dead samples evenly over
// n, one per reason in order, so 12 or more samples give every reason.
func samplePlan(n int) []sample {
	products := map[queue.Reason]string{
		queue.ReasonAuth:             "HKMUZXR", // a good request; the token is revoked while it runs
		queue.ReasonInvalid:          flexapitest.InvalidProductCode,
		queue.ReasonNotFound:         flexapitest.NoAccountProductCode,
		queue.ReasonCourierRejected:  flexapitest.RejectProductCode,
		queue.ReasonRejected:         flexapitest.UnprocessableProductCode,
		queue.ReasonRetriesExhausted: flexapitest.UnavailableProductCode,
	}
	dead := min(len(queue.Reasons), n/2)
	step := n + 1
	if dead > 0 {
		step = n / dead
	}
	plan := make([]sample, n)
	for i := range plan {
		plan[i] = sample{i: i, key: fmt.Sprintf("%s%05d", samplePrefix, i+1), product: "HKMUZXR"}
		if k := i / step; i%step == step-1 && k < dead {
			plan[i].reason = queue.Reasons[k]
			plan[i].product = products[plan[i].reason]
		}
	}
	return plan
}

// seedSummary is what --seed enqueued and how it is meant to end.
type seedSummary struct {
	keys     []string
	outcomes map[queue.Outcome]int
	complete int                  // samples meant to complete
	dead     map[queue.Reason]int // samples meant to end dead, by reason
}

func (s *seedSummary) String() string {
	var outcomes []string
	for _, o := range []queue.Outcome{queue.Enqueued, queue.Duplicate, queue.Conflict, queue.Invalid, queue.Dead} {
		if n := s.outcomes[o]; n > 0 {
			outcomes = append(outcomes, fmt.Sprintf("%s %d", o, n))
		}
	}
	var dead []string
	for _, r := range queue.Reasons {
		if n := s.dead[r]; n > 0 {
			dead = append(dead, fmt.Sprintf("%s %d", r, n))
		}
	}
	line := fmt.Sprintf("%d sample labels (%s)\n               expected: completed %d", len(s.keys), strings.Join(outcomes, ", "), s.complete)
	if len(dead) > 0 {
		line += "; dead " + strings.Join(dead, ", ")
	}
	return line + "\n               (their log lines are at debug; one line says when all have finished)"
}

// seedLabels enqueues n sample labels (see samplePlan). The auth samples go
// first, while the fake API has the worker's token revoked, and the token is
// restored once they are dead: that is how an auth dead letter comes about,
// and redriving it later succeeds, as after a real token rotation.
func seedLabels(ctx context.Context, q *queue.Queue, fake *flexapitest.Server, apiToken string, n int) (*seedSummary, error) {
	plan := samplePlan(n)
	s := &seedSummary{outcomes: map[queue.Outcome]int{}, dead: map[queue.Reason]int{}}
	var auth, rest []sample
	for _, p := range plan {
		s.keys = append(s.keys, p.key)
		if p.reason == "" {
			s.complete++
		} else {
			s.dead[p.reason]++
		}
		if p.reason == queue.ReasonAuth {
			auth = append(auth, p)
		} else {
			rest = append(rest, p)
		}
	}
	enqueue := func(ps []sample, lane queue.Lane) ([]string, error) {
		var fresh []string
		for _, p := range ps {
			res, err := q.EnqueueLine(ctx, sampleRequest(p.key, p.product, p.i), lane)
			if err != nil {
				return nil, err
			}
			s.outcomes[res.Outcome]++
			if res.Outcome == queue.Enqueued {
				fresh = append(fresh, p.key)
			}
		}
		return fresh, nil
	}
	if len(auth) > 0 {
		// With a real Redis (REDIS_URL), jobs already waiting meet the
		// revoked token too, for the moment it lasts.
		fake.Revoke(apiToken)
		fresh, err := enqueue(auth, queue.Bulk)
		if err == nil {
			err = waitTerminal(ctx, q, fresh, 30*time.Second)
		}
		fake.Restore(apiToken)
		if err != nil {
			return nil, fmt.Errorf("seeding the auth samples: %w", err)
		}
	}
	if _, err := enqueue(rest, queue.Bulk); err != nil {
		return nil, err
	}
	return s, nil
}

// waitTerminal waits until every key is completed or dead.
func waitTerminal(ctx context.Context, q *queue.Queue, keys []string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		states, err := q.States(ctx, keys)
		if err == nil && allTerminal(states) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("waiting for %d job(s) to finish: %w", len(keys), err)
		case <-t.C:
		}
	}
}

func allTerminal(states []queue.State) bool {
	for _, s := range states {
		if !s.Terminal() {
			return false
		}
	}
	return true
}

// watchSeeded logs one line when every sample label has finished, with the
// counts by outcome. The returned func stops it.
func watchSeeded(ctx context.Context, q *queue.Queue, keys []string, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if waitTerminal(ctx, q, keys, time.Hour) != nil {
			return
		}
		sts, err := q.Status(ctx, keys...)
		if err != nil {
			return
		}
		completed, dead := 0, map[queue.Reason]int{}
		for _, st := range sts {
			switch {
			case st.State == queue.StateCompleted:
				completed++
			case st.DeadLetter != nil:
				dead[st.DeadLetter.Reason]++
			}
		}
		attrs := []any{slog.Int("completed", completed)}
		for _, r := range queue.Reasons {
			if dead[r] > 0 {
				attrs = append(attrs, slog.Int("dead_"+string(r), dead[r]))
			}
		}
		log.Info("sample labels finished", attrs...)
	}()
	return func() { cancel(); <-done }
}

var samplePostal = []string{"08817", "90001", "90002", "90003", "90004", "10001"}

func sampleRequest(key, product string, i int) []byte {
	return fmt.Appendf(nil, `{"idempotencyKey":%q,"courier":"yunexpress","service":{"productCode":%q},`+
		`"label":{"format":"PDF"},"units":{"weight":"KG","dimension":"CM"},`+
		`"order":{"customerOrderNumber":"N-%[1]s","orderNumbers":{"platformOrderNumber":"P-%[1]s"}},`+
		`"shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467"},`+
		`"address":{"streetLines":["%[4]d Distribution Blvd"],"city":"Edison","state":"NJ","postalCode":%[3]q,"countryCode":"US"}},`+
		`"shipFrom":{"contact":{"firstName":"John","lastName":"Doe","phone":"886900676877"},`+
		`"address":{"streetLines":["Habucho"],"city":"Kishiwada-Shi","state":"Osaka","postalCode":"596-0825","countryCode":"JP"}},`+
		`"parcels":[{"weight":0.5,"dimension":{"length":30,"width":20,"height":10},`+
		`"items":[{"descriptionEn":"Ink pen","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`,
		key, product, samplePostal[i%len(samplePostal)], 10+i)
}
