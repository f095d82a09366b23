package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/webhook"
	"github.com/flexlabel/flexlabel/worker"
)

// redacted is what a secret prints as.
const redacted = "[redacted]"

// Secret is a string that never prints its value.
type Secret string

// String redacts the secret; an empty secret prints as "" so that "unset"
// stays visible.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret under %#v.
func (s Secret) GoString() string { return s.String() }

// Format redacts the secret under every fmt verb, including ones (%x, %d)
// that would otherwise bypass String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue redacts the secret in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// Config is every setting flexlabel reads from the environment.
//
// A Config prints (fmt, slog) only through String and LogValue, which redact
// secrets; it is safe to log.
type Config struct {
	FlexForwardToken   Secret        `env:"FLEXFORWARD_TOKEN"`
	FlexForwardBaseURL string        `env:"FLEXFORWARD_BASE_URL"`
	FlexForwardEnv     string        `env:"FLEXFORWARD_ENV" envDefault:"production"`
	RedisURL           Secret        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	Concurrency        int           `env:"FLEXLABEL_CONCURRENCY" envDefault:"10"`
	MaxRetry           int           `env:"FLEXLABEL_MAX_RETRY"`  // default queue.DefaultMaxRetry, set by Parse
	RetryBase          time.Duration `env:"FLEXLABEL_RETRY_BASE"` // default worker.DefaultRetryBase, set by Parse
	RetryMax           time.Duration `env:"FLEXLABEL_RETRY_MAX"`  // default worker.DefaultRetryMax, set by Parse
	ResultRetention    time.Duration `env:"FLEXLABEL_RESULT_RETENTION" envDefault:"168h"`
	APITimeout         time.Duration `env:"FLEXLABEL_API_TIMEOUT" envDefault:"30s"`
	RateLimit          float64       `env:"FLEXLABEL_RATE_LIMIT" envDefault:"8"`
	HTTPAddr           string        `env:"FLEXLABEL_HTTP_ADDR" envDefault:":8080"`
	MetricsAddr        string        `env:"FLEXLABEL_METRICS_ADDR"`
	MetricsAuth        bool          `env:"FLEXLABEL_METRICS_AUTH" envDefault:"false"`
	APITokens          []Secret      `env:"FLEXLABEL_API_TOKENS" envSeparator:","`
	APITokensFile      string        `env:"FLEXLABEL_API_TOKENS_FILE"`
	// AccountsFile is the YAML of the fleet's Flex Forward accounts
	// (internal/accounts, docs/ACCOUNTS.md); read by the worker and dev.
	AccountsFile    string        `env:"FLEXLABEL_ACCOUNTS_FILE"`
	LogLevel        string        `env:"FLEXLABEL_LOG_LEVEL" envDefault:"info"`
	LogFormat       string        `env:"FLEXLABEL_LOG_FORMAT" envDefault:"json"`
	ShutdownTimeout time.Duration `env:"FLEXLABEL_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	Queue           string        `env:"FLEXLABEL_QUEUE" envDefault:"flexlabel"`

	// Durable acknowledgements (issue 18): an enqueue, and each outcome the
	// worker records, is acknowledged once Redis's WAIT counts this many
	// replicas holding it; 0 is off. The timeout bounds each WAIT; default
	// queue.DefaultReplicaTimeout, set by Parse.
	RedisMinReplicas        int           `env:"FLEXLABEL_REDIS_MIN_REPLICAS" envDefault:"0"`
	RedisMinReplicasTimeout time.Duration `env:"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT"`

	// Webhook endpoints (issue 15, part A). The signing key derives every
	// endpoint's secret (internal/hooks.Keyring); without it webhooks are
	// off. AllowPrivate lets endpoints point into the internal network.
	WebhookSigningKey   Secret `env:"FLEXLABEL_WEBHOOK_SIGNING_KEY"`
	WebhookAllowPrivate bool   `env:"FLEXLABEL_WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`

	// Webhooks, part B (issue 15): events.
	// WebhookDocumentWait is how long label.completed waits for the label's
	// document URL; default worker.DefaultDocumentWait, set by Parse.
	WebhookDocumentWait time.Duration `env:"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT"`

	// Webhook delivery (issue 15, part C); defaults are hooks.Default*, set by Parse.
	WebhookConcurrency  int           `env:"FLEXLABEL_WEBHOOK_CONCURRENCY"`
	WebhookTimeout      time.Duration `env:"FLEXLABEL_WEBHOOK_TIMEOUT"`
	WebhookRetryFor     time.Duration `env:"FLEXLABEL_WEBHOOK_RETRY_FOR"`
	WebhookDisableAfter time.Duration `env:"FLEXLABEL_WEBHOOK_DISABLE_AFTER"`

	// RedisOptions is REDIS_URL parsed when it names one server; set by
	// Parse, nil in the Sentinel form. RedisFailover is REDIS_URL parsed in
	// the Sentinel form (it has master_name); nil otherwise. Exactly one is
	// set. Both hold passwords, so String, LogValue and JSON leave them
	// out. Build clients with NewRedisClient, not from these.
	RedisOptions  *redis.Options         `env:"-" json:"-"`
	RedisFailover *redis.FailoverOptions `env:"-" json:"-"`

	// Tracking follow-up (issue 16): every completed label whose key has
	// the prefix is followed by GET /tracking/{id} for at most MaxAge after
	// its creation; Speedup divides every cadence interval (tests, demos).
	Tracking          string        `env:"FLEXLABEL_TRACKING" envDefault:"on"`
	TrackingKeyPrefix string        `env:"FLEXLABEL_TRACKING_KEY_PREFIX"`
	TrackingMaxAge    time.Duration `env:"FLEXLABEL_TRACKING_MAX_AGE"` // default worker.DefaultTrackingMaxAge, set by Parse
	TrackingSpeedup   float64       `env:"FLEXLABEL_TRACKING_SPEEDUP" envDefault:"1"`
}

// MinWebhookSigningKey is the shortest FLEXLABEL_WEBHOOK_SIGNING_KEY
// accepted, in bytes: the key of HMAC-SHA256 should be as long as its output.
const MinWebhookSigningKey = 32

// MinResultRetention is the shortest FLEXLABEL_RESULT_RETENTION accepted.
const MinResultRetention = 72 * time.Hour

// MaxWebhookDocumentWait bounds FLEXLABEL_WEBHOOK_DOCUMENT_WAIT: an order
// system waiting longer than this to hear of its label is not helped.
const MaxWebhookDocumentWait = time.Hour

// Parse reads the configuration from environ (a map, so tests never read the
// real environment; nil means an empty environment) and validates it,
// reporting every problem at once in an *Error.
// FLEXFORWARD_TOKEN is checked by RequireToken, since only the worker needs it.
func Parse(environ map[string]string) (*Config, error) {
	if environ == nil {
		// caarlos0/env falls back to os.Environ for a nil map.
		environ = map[string]string{}
	}
	var problems []string
	// The retry policy's defaults are the worker's and the queue's own
	// constants, so the numbers are written once; an unset (or empty)
	// variable leaves them in place, as envDefault would.
	cfg := Config{MaxRetry: queue.DefaultMaxRetry, RetryBase: worker.DefaultRetryBase, RetryMax: worker.DefaultRetryMax,
		WebhookDocumentWait: worker.DefaultDocumentWait, RedisMinReplicasTimeout: queue.DefaultReplicaTimeout, TrackingMaxAge: worker.DefaultTrackingMaxAge,

		WebhookConcurrency: hooks.DefaultConcurrency, WebhookTimeout: webhook.DefaultTimeout,
		WebhookRetryFor: hooks.DefaultRetryFor, WebhookDisableAfter: hooks.DefaultDisableAfter}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		problems = append(problems, parseErrors(err)...)
	}
	// Variables that failed to parse hold zero values (the retry settings
	// their defaults), not what was meant;
	// validation below only reports variables that parsed.
	failed := make(map[string]bool)
	for _, p := range problems {
		name, _, _ := strings.Cut(p, ":")
		failed[name] = true
	}
	check := func(name string, bad bool, msg string) {
		if bad && !failed[name] {
			problems = append(problems, name+": "+msg)
		}
	}

	// Tokens often come from files or templated manifests with a stray
	// newline or space, which would make every API call fail with 401.
	cfg.FlexForwardToken = Secret(strings.TrimSpace(string(cfg.FlexForwardToken)))
	for i, t := range cfg.APITokens {
		cfg.APITokens[i] = Secret(strings.TrimSpace(string(t)))
	}

	_, envErr := flexapi.BaseURLFor(cfg.FlexForwardEnv)
	check("FLEXFORWARD_ENV", envErr != nil, fmt.Sprintf("must be production or staging, got %q", cfg.FlexForwardEnv))
	if cfg.FlexForwardBaseURL == "" {
		cfg.FlexForwardBaseURL, _ = flexapi.BaseURLFor(cfg.FlexForwardEnv)
	} else if msg := checkBaseURL(cfg.FlexForwardBaseURL); msg != "" {
		check("FLEXFORWARD_BASE_URL", true, msg)
	}
	if opts, fo, msg := parseRedisURL(string(cfg.RedisURL)); msg != "" {
		check("REDIS_URL", true, msg)
	} else {
		cfg.RedisOptions, cfg.RedisFailover = opts, fo
	}
	check("FLEXLABEL_REDIS_MIN_REPLICAS", cfg.RedisMinReplicas < 0 || cfg.RedisMinReplicas > queue.MaxMinReplicas,
		fmt.Sprintf("must be between 0 (off) and %d, got %d", queue.MaxMinReplicas, cfg.RedisMinReplicas))
	check("FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", cfg.RedisMinReplicasTimeout <= 0,
		fmt.Sprintf("must be positive, got %s", cfg.RedisMinReplicasTimeout))
	if rt := redisReadTimeout(cfg.RedisOptions); rt > 0 && cfg.RedisMinReplicasTimeout >= rt {
		// The WAIT runs in a pipeline, under the client's read timeout.
		check("FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", true,
			fmt.Sprintf("must be below REDIS_URL's read_timeout (%s), got %s", rt, cfg.RedisMinReplicasTimeout))
	}
	check("FLEXLABEL_CONCURRENCY", cfg.Concurrency < 1 || cfg.Concurrency > 1000, fmt.Sprintf("must be between 1 and 1000, got %d", cfg.Concurrency))
	check("FLEXLABEL_MAX_RETRY", cfg.MaxRetry < 1, fmt.Sprintf("must be at least 1, got %d", cfg.MaxRetry))
	check("FLEXLABEL_RETRY_BASE", cfg.RetryBase <= 0, fmt.Sprintf("must be positive, got %s", cfg.RetryBase))
	check("FLEXLABEL_RETRY_MAX", !failed["FLEXLABEL_RETRY_BASE"] && cfg.RetryMax < cfg.RetryBase, fmt.Sprintf("must be at least FLEXLABEL_RETRY_BASE (%s), got %s", cfg.RetryBase, cfg.RetryMax))
	check("FLEXLABEL_RESULT_RETENTION", cfg.ResultRetention < MinResultRetention, fmt.Sprintf("must be at least %s, got %s", MinResultRetention, cfg.ResultRetention))
	check("FLEXLABEL_API_TIMEOUT", cfg.APITimeout <= 0, fmt.Sprintf("must be positive, got %s", cfg.APITimeout))
	check("FLEXLABEL_RATE_LIMIT", !(cfg.RateLimit > 0) || cfg.RateLimit > worker.MaxRate, fmt.Sprintf("must be a positive number of calls per second up to %d, got %v", worker.MaxRate, cfg.RateLimit))
	check("FLEXLABEL_SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout <= 0, fmt.Sprintf("must be positive, got %s", cfg.ShutdownTimeout))
	if _, _, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
		check("FLEXLABEL_HTTP_ADDR", true, fmt.Sprintf("must be host:port or :port, got %q", cfg.HTTPAddr))
	}
	if cfg.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
			check("FLEXLABEL_METRICS_ADDR", true, fmt.Sprintf("must be host:port or :port, got %q", cfg.MetricsAddr))
		}
	}
	for i, t := range cfg.APITokens {
		check("FLEXLABEL_API_TOKENS", t == "", fmt.Sprintf("token %d is empty", i+1))
		check("FLEXLABEL_API_TOKENS", t != "" && len(t) < 16, fmt.Sprintf("token %d is shorter than 16 characters", i+1))
	}
	if _, err := ParseLevel(cfg.LogLevel); err != nil {
		check("FLEXLABEL_LOG_LEVEL", true, fmt.Sprintf("must be debug, info, warn or error, got %q", cfg.LogLevel))
	}
	check("FLEXLABEL_LOG_FORMAT", cfg.LogFormat != "json" && cfg.LogFormat != "text", fmt.Sprintf("must be json or text, got %q", cfg.LogFormat))
	// Webhook endpoints (issue 15, part A).
	cfg.WebhookSigningKey = Secret(strings.TrimSpace(string(cfg.WebhookSigningKey)))
	check("FLEXLABEL_WEBHOOK_SIGNING_KEY", cfg.WebhookSigningKey != "" && len(cfg.WebhookSigningKey) < MinWebhookSigningKey,
		fmt.Sprintf("must be at least %d bytes (e.g. openssl rand -base64 48), got %d", MinWebhookSigningKey, len(cfg.WebhookSigningKey)))
	check("FLEXLABEL_WEBHOOK_DOCUMENT_WAIT", cfg.WebhookDocumentWait <= 0 || cfg.WebhookDocumentWait > MaxWebhookDocumentWait,
		fmt.Sprintf("must be positive and at most %s, got %s", MaxWebhookDocumentWait, cfg.WebhookDocumentWait))
	check("FLEXLABEL_QUEUE", !validQueueName(cfg.Queue), fmt.Sprintf("must be 1-64 letters, digits, '-' or '_', got %q", cfg.Queue))
	// Webhook delivery (issue 15, part C).
	check("FLEXLABEL_WEBHOOK_CONCURRENCY", cfg.WebhookConcurrency < 1 || cfg.WebhookConcurrency > 1000, fmt.Sprintf("must be between 1 and 1000, got %d", cfg.WebhookConcurrency))
	check("FLEXLABEL_WEBHOOK_TIMEOUT", cfg.WebhookTimeout <= 0 || cfg.WebhookTimeout > 5*time.Minute, fmt.Sprintf("must be positive and at most 5m, got %s", cfg.WebhookTimeout))
	check("FLEXLABEL_WEBHOOK_RETRY_FOR", cfg.WebhookRetryFor <= 0 || cfg.WebhookRetryFor > hooks.DefaultLogTTL, fmt.Sprintf("must be positive and at most %s (how long the delivery log is kept), got %s", hooks.DefaultLogTTL, cfg.WebhookRetryFor))
	check("FLEXLABEL_WEBHOOK_DISABLE_AFTER", cfg.WebhookDisableAfter <= 0, fmt.Sprintf("must be positive, got %s", cfg.WebhookDisableAfter))
	// Tracking (issue 16).
	check("FLEXLABEL_TRACKING", cfg.Tracking != "on" && cfg.Tracking != "off", fmt.Sprintf("must be on or off, got %q", cfg.Tracking))
	check("FLEXLABEL_TRACKING_KEY_PREFIX", len(cfg.TrackingKeyPrefix) > 200, fmt.Sprintf("must be at most 200 bytes, got %d", len(cfg.TrackingKeyPrefix)))
	check("FLEXLABEL_TRACKING_MAX_AGE", cfg.TrackingMaxAge <= 0, fmt.Sprintf("must be positive, got %s", cfg.TrackingMaxAge))
	check("FLEXLABEL_TRACKING_SPEEDUP", !validSpeedup(cfg.TrackingSpeedup), fmt.Sprintf("must be a number of at least 1, got %v", cfg.TrackingSpeedup))
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{Problems: problems}
	}
	return &cfg, nil
}

// TrackingOn reports FLEXLABEL_TRACKING=on.
func (c *Config) TrackingOn() bool { return c.Tracking == "on" }

func validSpeedup(f float64) bool { return f >= 1 && !math.IsInf(f, 0) }

// TrackingSpeedup reads FLEXLABEL_TRACKING_SPEEDUP alone (default 1), for
// commands that need nothing else of the configuration (`fakeapi`).
func TrackingSpeedup(environ map[string]string) (float64, error) {
	const name = "FLEXLABEL_TRACKING_SPEEDUP"
	raw := strings.TrimSpace(environ[name])
	if raw == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, &Error{Problems: []string{name + ": cannot be parsed as float64"}}
	}
	if !validSpeedup(f) {
		return 0, &Error{Problems: []string{fmt.Sprintf("%s: must be a number of at least 1, got %v", name, f)}}
	}
	return f, nil
}

// APITokens are the tokens serve accepts.
type APITokens struct {
	// Env are FLEXLABEL_API_TOKENS, each with scope all.
	Env []auth.Token
	// File are the lines of FLEXLABEL_API_TOKENS_FILE; FileSum is the
	// SHA-256 of the content they were read from (auth.Watcher.Loaded).
	File    []auth.Token
	FileSum [sha256.Size]byte
}

// All is Env and File together.
func (t *APITokens) All() []auth.Token { return append(append([]auth.Token(nil), t.Env...), t.File...) }

// LoadAPITokens reads the API tokens: FLEXLABEL_API_TOKENS and, when set,
// the file FLEXLABEL_API_TOKENS_FILE names (auth.ParseFile). A file that
// cannot be read or has bad lines is an *Error naming the variable and
// each bad line as file:line; no error shows a token.
func (c *Config) LoadAPITokens() (*APITokens, error) {
	out := &APITokens{Env: make([]auth.Token, len(c.APITokens))}
	for i, t := range c.APITokens {
		out.Env[i] = auth.Token{Scope: auth.All, Secret: t.Reveal()}
	}
	if c.APITokensFile == "" {
		return out, nil
	}
	const name = "FLEXLABEL_API_TOKENS_FILE"
	file, sum, err := auth.ReadFile(c.APITokensFile)
	var ferr *auth.FileError
	switch {
	case errors.As(err, &ferr):
		problems := make([]string, len(ferr.Problems))
		for i, p := range ferr.Problems {
			problems[i] = name + ": " + p
		}
		return nil, &Error{Problems: problems}
	case err != nil:
		return nil, &Error{Problems: []string{name + ": " + err.Error()}}
	}
	inEnv := make(map[string]bool, len(out.Env))
	for _, t := range out.Env {
		inEnv[t.Secret] = true
	}
	var problems []string
	for _, t := range file {
		if inEnv[t.Secret] {
			problems = append(problems, fmt.Sprintf("%s: %s: token %s is in FLEXLABEL_API_TOKENS too; give each token once", name, c.APITokensFile, t.ID()))
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	out.File, out.FileSum = file, sum
	return out, nil
}

// RequireToken reports a missing FLEXFORWARD_TOKEN (the worker needs it,
// unless FLEXLABEL_ACCOUNTS_FILE names its accounts).
func (c *Config) RequireToken() error {
	if c.FlexForwardToken == "" && c.AccountsFile == "" {
		return &Error{Problems: []string{"FLEXFORWARD_TOKEN: is required (the Flex Forward API bearer token), unless FLEXLABEL_ACCOUNTS_FILE names the accounts"}}
	}
	return nil
}

// String describes the configuration by variable name, with secrets
// redacted and the REDIS_URL password masked.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("config{")
	for i, f := range c.fields() {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(f.name)
		b.WriteString("=")
		b.WriteString(f.value)
	}
	b.WriteString("}")
	return b.String()
}

// Format prints String under every fmt verb, so %+v and %#v cannot reach
// RedisOptions or a token.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the configuration as a group keyed by variable name, with
// secrets redacted and the REDIS_URL password masked.
func (c Config) LogValue() slog.Value {
	fields := c.fields()
	attrs := make([]slog.Attr, len(fields))
	for i, f := range fields {
		attrs[i] = slog.String(f.name, f.value)
	}
	return slog.GroupValue(attrs...)
}

type field struct{ name, value string }

// fields lists every variable with its printable value. Redaction follows
// the field's type, so a new Secret field is redacted without more code.
func (c Config) fields() []field {
	v := reflect.ValueOf(c)
	t := v.Type()
	var out []field
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		var val string
		switch x := v.Field(i).Interface().(type) {
		case Secret:
			val = x.String()
			if name == "REDIS_URL" {
				val = MaskRedisURL(string(x))
			}
		case []Secret:
			val = fmt.Sprintf("[%d tokens]", len(x))
		case time.Duration:
			val = x.String()
		case string:
			val = x
		default:
			val = fmt.Sprint(x)
		}
		out = append(out, field{name, val})
	}
	return out
}

// Error lists every configuration problem, each naming its variable.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ")
}

// parseErrors turns caarlos0/env's aggregate error into one line per variable,
// without echoing values (a value may be a secret).
func parseErrors(err error) []string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := envName(pe.Name)
			out = append(out, fmt.Sprintf("%s: cannot be parsed as %s", name, pe.Type))
			continue
		}
		out = append(out, e.Error())
	}
	return out
}

// envName maps a Config field name to its variable name.
func envName(field string) string {
	if f, ok := reflectField(field); ok {
		return f
	}
	return field
}

// checkBaseURL applies flexapi's rule for a base URL (ParseBaseURL) and
// refuses user info, describing a problem without the URL's user info.
func checkBaseURL(raw string) string {
	shown, _ := maskUserinfo(raw)
	_, err := flexapi.ParseBaseURL(raw)
	if errors.Is(err, flexapi.ErrBaseURLNotAbsolute) {
		return fmt.Sprintf("must be an absolute URL, got %q", shown)
	}
	if u, _ := url.Parse(raw); u.User != nil {
		return fmt.Sprintf("must not contain user info (the token belongs in FLEXFORWARD_TOKEN), got %q", shown)
	}
	switch {
	case errors.Is(err, flexapi.ErrBaseURLPlainHTTP):
		return fmt.Sprintf("plain http is allowed only to a loopback host (the token must not cross a network in clear), got %q", shown)
	case err != nil:
		return fmt.Sprintf("must use https, got %q", shown)
	}
	return ""
}

// parseRedisURL parses REDIS_URL, or describes why it cannot: into
// *redis.Options for one server, or *redis.FailoverOptions for the Sentinel
// form (see parseFailoverURL). The description never contains a password:
// the failing URL is diagnosed again on a copy whose secrets are masked
// (MaskRedisURL), and only that diagnosis is reported.
func parseRedisURL(raw string) (*redis.Options, *redis.FailoverOptions, string) {
	if isFailoverURL(raw) {
		fo, msg := parseFailoverURL(raw)
		return nil, fo, msg
	}
	const want = "must be redis://[user:password@]host:port/db, rediss://…, unix://… or the Sentinel form redis://[user:password@]sentinel:port/db?master_name=NAME&addr=sentinel2:port…"
	opts, err := redis.ParseURL(raw)
	if err == nil {
		return opts, nil, ""
	}
	masked := MaskRedisURL(raw)
	if _, err := redis.ParseURL(masked); err != nil {
		return nil, nil, want + " (" + err.Error() + ")"
	}
	if masked != raw {
		return nil, nil, want + " (the user:password part is malformed; characters such as @ / : % # ? must be percent-encoded; not shown)"
	}
	return nil, nil, want
}

// isFailoverURL reports whether REDIS_URL is in the Sentinel form: the
// presence of master_name selects it, as in go-redis's ParseFailoverURL.
func isFailoverURL(raw string) bool {
	_, query, ok := strings.Cut(raw, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == "master_name" {
			return true
		}
	}
	return false
}

// The credentials of the Sentinel form. go-redis's ParseFailoverURL reads
// the URL's user info as the sentinels' credentials and the password
// parameter as Redis's; flexlabel keeps user:password@ meaning Redis's own
// credentials, as in the one-server form, so that adding master_name to a
// working REDIS_URL does not move its password to the sentinels (which,
// without requirepass, refuse an AUTH). The sentinels' credentials, when
// they have any, are these parameters, which go-redis does not know.
const (
	paramSentinelUser     = "sentinel_username"
	paramSentinelPassword = "sentinel_password"
)

// parseFailoverURL parses the Sentinel form of REDIS_URL:
//
//	redis[s]://[user:password@]SENTINEL1:PORT/DB?master_name=NAME&addr=SENTINEL2:PORT&addr=…
//	    [&sentinel_username=U][&sentinel_password=P]
//
// user:password (or go-redis's username= and password= parameters, not
// both) authenticates to Redis: the primary and its replicas. The
// sentinels' own credentials are sentinel_username and sentinel_password.
// rediss:// turns TLS on for the sentinels and Redis alike, each
// connection checking the certificate against the host it dials (go-redis
// would check every one against the first sentinel's name). The other
// parameters are go-redis's (dial_timeout, pool_size, …).
func parseFailoverURL(raw string) (*redis.FailoverOptions, string) {
	const want = "in the Sentinel form must be redis://[user:password@]sentinel:port/db?master_name=NAME&addr=sentinel2:port…, or rediss://…"
	const encode = "characters such as & # % + in a password must be percent-encoded"
	u, err := url.Parse(raw)
	if err != nil {
		masked := MaskRedisURL(raw)
		if _, err := url.Parse(masked); err != nil {
			return nil, want + " (" + err.Error() + ")"
		}
		return nil, want + " (a password is malformed; " + encode + "; not shown)"
	}
	q := u.Query()
	secretParam := q.Has("password") || q.Has(paramSentinelPassword)
	for _, k := range []string{"username", "password", paramSentinelUser, paramSentinelPassword, "master_name"} {
		if len(q[k]) > 1 {
			return nil, want + " (" + k + " is given more than once)"
		}
	}
	user, pass := q.Get("username"), q.Get("password")
	if u.User != nil {
		if q.Has("username") || q.Has("password") {
			return nil, want + " (Redis's credentials are given twice, as user:password@ and as username=/password=; give them once. user:password@ is Redis's own; the sentinels' go in sentinel_username= and sentinel_password=)"
		}
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	sentUser, sentPass := q.Get(paramSentinelUser), q.Get(paramSentinelPassword)
	for _, k := range []string{"username", "password", paramSentinelUser, paramSentinelPassword} {
		q.Del(k)
	}
	// What go-redis parses carries no secret, so its diagnosis may be
	// shown; unless a password parameter was present, whose unencoded '&'
	// would have split a piece of it off as a parameter of its own.
	u.User, u.RawQuery = nil, q.Encode()
	fo, err := redis.ParseFailoverURL(u.String())
	switch {
	case err != nil && secretParam:
		return nil, want + " (a parameter is malformed; not shown, since REDIS_URL has a password parameter; " + encode + ")"
	case err != nil:
		return nil, want + " (" + err.Error() + ")"
	case fo.MasterName == "":
		return nil, want + " (master_name is empty: give the name the sentinels monitor, such as mymaster)"
	}
	fo.Username, fo.Password = user, pass
	fo.SentinelUsername, fo.SentinelPassword = sentUser, sentPass
	if fo.TLSConfig != nil {
		fo.TLSConfig.ServerName = ""
	}
	return fo, ""
}

// MaskRedisURL is REDIS_URL with its secrets masked, for printing: the user
// info (maskUserinfo) and the values of the password and sentinel_password
// parameters of the Sentinel form. A password parameter's value is masked
// up to the next parameter flexlabel or go-redis knows, so a password with
// an unencoded '&' is masked whole.
func MaskRedisURL(raw string) string {
	masked, _ := maskUserinfo(maskSecretParams(raw))
	return masked
}

// knownParams are the REDIS_URL parameters that end a masked password
// value: go-redis's (ParseURL and ParseFailoverURL) and flexlabel's own.
var knownParams = map[string]bool{
	"master_name": true, "addr": true, "db": true, "username": true, "password": true,
	paramSentinelUser: true, paramSentinelPassword: true, "client_name": true, "protocol": true,
	"route_by_latency": true, "route_by_latency_tolerance": true, "route_randomly": true, "replica_only": true,
	"use_disconnected_replicas": true, "max_retries": true, "min_retry_backoff": true, "max_retry_backoff": true,
	"dial_timeout": true, "dialer_retries": true, "dialer_retry_timeout": true, "read_timeout": true,
	"write_timeout": true, "context_timeout_enabled": true, "pool_fifo": true, "pool_size": true,
	"max_concurrent_dials": true, "min_idle_conns": true, "max_idle_conns": true, "max_active_conns": true,
	"pipeline_pool_size": true, "pipeline_read_buffer_size": true, "pipeline_write_buffer_size": true,
	"conn_max_lifetime": true, "conn_max_lifetime_jitter": true, "conn_max_idle_time": true,
	"pool_timeout": true, "idle_timeout": true, "idle_check_frequency": true, "max_conn_age": true,
	"disableIdentity": true, "identitySuffix": true, "unstable_resp3": true, "skip_verify": true,
}

// maskSecretParams replaces the values of the password parameters in the
// raw query with "xxxxx", working on the string (like maskUserinfo) so it
// also covers URLs that do not parse.
func maskSecretParams(raw string) string {
	head, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	parts := strings.Split(query, "&")
	out := make([]string, 0, len(parts))
	inSecret := false
	for _, kv := range parts {
		k, _, hasValue := strings.Cut(kv, "=")
		if inSecret && !(hasValue && knownParams[k]) {
			continue // a piece of the password the unencoded '&' split off
		}
		inSecret = false
		if k == "password" || k == paramSentinelPassword {
			inSecret = true
			kv = k + "=xxxxx"
		}
		out = append(out, kv)
	}
	return head + "?" + strings.Join(out, "&")
}

// GoRedisReadTimeout is go-redis's read timeout for a REDIS_URL without
// read_timeout (a test checks it against go-redis).
const GoRedisReadTimeout = 5 * time.Second

// redisReadTimeout is the read timeout a client built from opts uses
// (GoRedisReadTimeout for 0), or 0 for none (or no opts).
func redisReadTimeout(opts *redis.Options) time.Duration {
	switch {
	case opts == nil || opts.ReadTimeout < 0:
		return 0
	case opts.ReadTimeout == 0:
		return GoRedisReadTimeout
	}
	return opts.ReadTimeout
}

// maskUserinfo replaces everything between the scheme and the last '@' with
// "xxxxx:xxxxx": the one masking of a URL's user info, for REDIS_URL and
// FLEXFORWARD_BASE_URL alike. It works on the raw string rather than a
// parsed URL because it must also cover URLs that do not parse, such as a
// password containing an unencoded '/' or '#' (url.URL.Redacted would print
// a password containing '#' as part of the host and fragment).
func maskUserinfo(raw string) (string, bool) {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(raw[start:], "@")
	if at < 0 {
		return raw, false
	}
	return raw[:start] + "xxxxx:xxxxx" + raw[start+at:], true
}

// RedisAddr names the Redis REDIS_URL points at, for messages and logs,
// never with credentials: its address (host:port, or a socket path), or in
// the Sentinel form "master NAME via sentinels HOST:PORT,…"; "?" before
// Parse filled it in.
func (c *Config) RedisAddr() string {
	switch {
	case c.RedisFailover != nil:
		return "master " + c.RedisFailover.MasterName + " via sentinels " + strings.Join(c.RedisFailover.SentinelAddrs, ",")
	case c.RedisOptions != nil:
		return c.RedisOptions.Addr
	}
	return "?"
}

// RedisDB is the Redis database number REDIS_URL selects.
func (c *Config) RedisDB() int {
	switch {
	case c.RedisFailover != nil:
		return c.RedisFailover.DB
	case c.RedisOptions != nil:
		return c.RedisOptions.DB
	}
	return 0
}

// NewRedisClient builds the one Redis client a process uses, for asynq and
// flexlabel's own keys alike: for the Sentinel form go-redis's failover
// client, which asks the sentinels for the primary, follows +switch-master
// and drops its connections to a demoted primary, so every process talks
// to the new primary after a failover without a restart. Both kinds are a
// *redis.Client. It does not talk to Redis.
func (c *Config) NewRedisClient() *redis.Client {
	if c.RedisFailover != nil {
		return redis.NewFailoverClient(c.RedisFailover)
	}
	return redis.NewClient(c.RedisOptions)
}

func validQueueName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseLevel maps FLEXLABEL_LOG_LEVEL to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}
