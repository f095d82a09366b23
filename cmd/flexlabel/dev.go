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

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
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
generated one) and commands to try. --seed N enqueues N sample labels, a few of
which end in the dead-letter queue. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seed < 0 {
				return fmt.Errorf("--seed: must be 0 or more, got %d", seed)
			}
			return a.dev(cmd.Context(), seed)
		},
	}
	cmd.Flags().IntVar(&seed, "seed", 0, "enqueue N sample labels (some end dead, so the UI shows every state)")
	return cmd
}

func randomToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
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
	setDefault("FLEXLABEL_RETRY_BASE", "200ms")
	setDefault("FLEXLABEL_RETRY_MAX", "5s")
	realRedis := env["REDIS_URL"] != ""
	var mr *miniredis.Miniredis
	if !realRedis {
		mr = miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("starting the in-process Redis: %w", err)
		}
		defer mr.Close()
		env["REDIS_URL"] = "redis://" + mr.Addr() + "/0"
		go tickMiniredis(ctx, mr)
	}
	cfg, err := config.Parse(env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, a.stderr, "")

	// The fake Flex Forward API, with a token of its own.
	apiToken := randomToken("dev-flexforward-")
	fake := flexapitest.New(flexapitest.WithToken(apiToken, "dev"))
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

	tokens := make([]string, len(cfg.APITokens))
	for i, t := range cfg.APITokens {
		tokens[i] = t.Reveal()
	}
	generated := len(tokens) == 0
	if generated {
		tokens = []string{randomToken("dev-producer-")}
	}

	d, reg, rec, err := a.openObserved(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := a.startWorker(ctx, cfg, d, log, rec)
	if err != nil {
		return err
	}
	defer w.Shutdown()

	h, err := newHTTPHandler(d, tokens, false, false, false, reg, log)
	if err != nil {
		return err
	}
	return runHTTP(ctx, cfg.HTTPAddr, h, log, func(addr net.Addr) {
		a.devBanner(cfg, env, addr, tokens[0], generated, realRedis)
		if seed > 0 {
			if err := seedLabels(ctx, d.q, seed); err != nil {
				log.Error("seeding sample labels", slog.String("error", err.Error()))
			} else {
				log.Info("seeded sample labels", slog.Int("count", seed))
			}
		}
	})
}

// devBanner prints where everything is and what to try.
func (a *app) devBanner(cfg *config.Config, env map[string]string, addr net.Addr, token string, generated, realRedis bool) {
	base := "http://" + addr.String()
	redisNote := "in-process (miniredis; data is gone when dev stops)"
	if realRedis {
		redisNote = redisAddr(cfg)
	}
	tokenNote := "(generated; set FLEXLABEL_API_TOKENS to choose)"
	if !generated {
		tokenNote = "(from FLEXLABEL_API_TOKENS)"
	}
	fmt.Fprintf(a.stdout, `flexlabel dev is running. Ctrl-C stops it.

  HTTP API     %[1]s/v1/labels            (OpenAPI: %[1]s/openapi.yaml)
  UI           %[1]s/ui/                  (queues and dead letters; open in dev)
  Metrics      %[1]s/metrics
  Health       %[1]s/healthz  %[1]s/readyz
  Fake API     %[2]s  (Flex Forward stand-in; admin at /_fake/ledger)
  Redis        %[3]s
  Token        %[4]s %[5]s

Try:
  curl -s -H 'Authorization: Bearer %[4]s' -H 'Content-Type: application/json' \
    --data-binary @docs/examples/request.json %[1]s/v1/labels
  curl -s -H 'Authorization: Bearer %[4]s' %[1]s/v1/labels/ord-20260527-0001
  curl -s -H 'Authorization: Bearer %[4]s' '%[1]s/v1/dead-letters?limit=10'
  REDIS_URL=%[6]s FLEXLABEL_QUEUE=%[7]s go run ./cmd/flexlabel bulk docs/examples/orders.csv --wait
  REDIS_URL=%[6]s FLEXLABEL_QUEUE=%[7]s go run ./cmd/flexlabel dlq list

`, base, cfg.FlexForwardBaseURL, redisNote, token, tokenNote, redactedRedisURL(env["REDIS_URL"], realRedis), cfg.Queue)

}

// redactedRedisURL is REDIS_URL for the banner: the in-process one as is, a
// real one without its password.
func redactedRedisURL(u string, real bool) string {
	if !real {
		return u
	}
	opts, err := redis.ParseURL(u)
	if err != nil || opts.Password == "" {
		return u
	}
	return strings.Replace(u, opts.Password, "REDACTED", 1)
}

// tickMiniredis advances miniredis's clock for TTLs, which it does not
// expire on its own (the fleet pause and result retention rely on them).
func tickMiniredis(ctx context.Context, mr *miniredis.Miniredis) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// seedLabels enqueues n sample labels; every 10th is rejected by the courier
// and every 25th has no shipping account, so they end dead.
func seedLabels(ctx context.Context, q *queue.Queue, n int) error {
	lines := make([][]byte, n)
	for i := range lines {
		product := "HKMUZXR"
		switch {
		case i%25 == 24:
			product = flexapitest.NoAccountProductCode
		case i%10 == 9:
			product = flexapitest.RejectProductCode
		}
		lines[i] = sampleRequest(fmt.Sprintf("sample-%05d", i+1), product, i)
	}
	for _, l := range lines {
		if _, err := q.EnqueueLine(ctx, l, queue.Bulk); err != nil {
			return err
		}
	}
	return nil
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
