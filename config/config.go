// Package config reads flexlabel's configuration from the environment.
//
// Variable names are a fixed contract that users script against. Parse
// reports every problem at once, naming each variable; secrets are of type
// Secret, which prints as [redacted] in every format and log.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Secret is a string that never prints its value.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret under %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// Config is every setting flexlabel reads from the environment.
type Config struct {
	FlexForwardToken   Secret        `env:"FLEXFORWARD_TOKEN"`
	FlexForwardBaseURL string        `env:"FLEXFORWARD_BASE_URL"`
	FlexForwardEnv     string        `env:"FLEXFORWARD_ENV" envDefault:"production"`
	RedisURL           Secret        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	Concurrency        int           `env:"FLEXLABEL_CONCURRENCY" envDefault:"10"`
	MaxRetry           int           `env:"FLEXLABEL_MAX_RETRY" envDefault:"25"`
	RetryBase          time.Duration `env:"FLEXLABEL_RETRY_BASE" envDefault:"1s"`
	RetryMax           time.Duration `env:"FLEXLABEL_RETRY_MAX" envDefault:"10m"`
	ResultRetention    time.Duration `env:"FLEXLABEL_RESULT_RETENTION" envDefault:"168h"`
	APITimeout         time.Duration `env:"FLEXLABEL_API_TIMEOUT" envDefault:"30s"`
	RateLimit          float64       `env:"FLEXLABEL_RATE_LIMIT" envDefault:"8"`
	HTTPAddr           string        `env:"FLEXLABEL_HTTP_ADDR" envDefault:":8080"`
	MetricsAddr        string        `env:"FLEXLABEL_METRICS_ADDR"`
	APITokens          []Secret      `env:"FLEXLABEL_API_TOKENS" envSeparator:","`
	LogLevel           string        `env:"FLEXLABEL_LOG_LEVEL" envDefault:"info"`
	LogFormat          string        `env:"FLEXLABEL_LOG_FORMAT" envDefault:"json"`
	ShutdownTimeout    time.Duration `env:"FLEXLABEL_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	Queue              string        `env:"FLEXLABEL_QUEUE" envDefault:"flexlabel"`

	// RedisOptions is REDIS_URL parsed; set by Parse.
	RedisOptions *redis.Options `env:"-"`
}

// MinResultRetention is the shortest FLEXLABEL_RESULT_RETENTION accepted.
const MinResultRetention = 72 * time.Hour

// Parse reads the configuration from environ (a map, so tests never read the
// real environment) and validates it, reporting every problem at once.
// FLEXFORWARD_TOKEN is checked by RequireToken, since only the worker needs it.
func Parse(environ map[string]string) (*Config, error) {
	var problems []string
	cfg, err := env.ParseAsWithOptions[Config](env.Options{Environment: environ})
	if err != nil {
		problems = append(problems, parseErrors(err)...)
	}
	// Defaults of variables that failed to parse are not set; validation
	// below only reports variables that parsed.
	failed := strings.Join(problems, "\n")
	check := func(name string, bad bool, msg string) {
		if bad && !strings.Contains(failed, name) {
			problems = append(problems, name+": "+msg)
		}
	}
	if cfg.FlexForwardBaseURL == "" && cfg.FlexForwardEnv != "" {
		u, err := flexapi.BaseURLFor(cfg.FlexForwardEnv)
		check("FLEXFORWARD_ENV", err != nil, fmt.Sprintf("must be production or staging, got %q", cfg.FlexForwardEnv))
		cfg.FlexForwardBaseURL = u
	} else if cfg.FlexForwardBaseURL != "" {
		if msg := checkBaseURL(cfg.FlexForwardBaseURL); msg != "" {
			check("FLEXFORWARD_BASE_URL", true, msg)
		}
		if cfg.FlexForwardEnv != "" {
			_, err := flexapi.BaseURLFor(cfg.FlexForwardEnv)
			check("FLEXFORWARD_ENV", err != nil, fmt.Sprintf("must be production or staging, got %q", cfg.FlexForwardEnv))
		}
	}
	if opts, err := redis.ParseURL(string(cfg.RedisURL)); err != nil {
		check("REDIS_URL", true, "must be redis://[user:password@]host:port/db or rediss://… ("+redactURLError(err, cfg.RedisURL)+")")
	} else {
		cfg.RedisOptions = opts
	}
	check("FLEXLABEL_CONCURRENCY", cfg.Concurrency < 1 || cfg.Concurrency > 1000, fmt.Sprintf("must be between 1 and 1000, got %d", cfg.Concurrency))
	check("FLEXLABEL_MAX_RETRY", cfg.MaxRetry < 1, fmt.Sprintf("must be at least 1, got %d", cfg.MaxRetry))
	check("FLEXLABEL_RETRY_BASE", cfg.RetryBase <= 0, fmt.Sprintf("must be positive, got %s", cfg.RetryBase))
	check("FLEXLABEL_RETRY_MAX", cfg.RetryMax < cfg.RetryBase, fmt.Sprintf("must be at least FLEXLABEL_RETRY_BASE (%s), got %s", cfg.RetryBase, cfg.RetryMax))
	check("FLEXLABEL_RESULT_RETENTION", cfg.ResultRetention < MinResultRetention, fmt.Sprintf("must be at least %s, got %s", MinResultRetention, cfg.ResultRetention))
	check("FLEXLABEL_API_TIMEOUT", cfg.APITimeout <= 0, fmt.Sprintf("must be positive, got %s", cfg.APITimeout))
	check("FLEXLABEL_RATE_LIMIT", !(cfg.RateLimit > 0) || cfg.RateLimit > 10000, fmt.Sprintf("must be a positive number of calls per second, got %v", cfg.RateLimit))
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
		check("FLEXLABEL_API_TOKENS", strings.TrimSpace(string(t)) == "", fmt.Sprintf("token %d is empty", i+1))
		check("FLEXLABEL_API_TOKENS", strings.TrimSpace(string(t)) != "" && len(t) < 16, fmt.Sprintf("token %d is shorter than 16 characters", i+1))
	}
	if _, err := ParseLevel(cfg.LogLevel); err != nil {
		check("FLEXLABEL_LOG_LEVEL", true, fmt.Sprintf("must be debug, info, warn or error, got %q", cfg.LogLevel))
	}
	check("FLEXLABEL_LOG_FORMAT", cfg.LogFormat != "json" && cfg.LogFormat != "text", fmt.Sprintf("must be json or text, got %q", cfg.LogFormat))
	check("FLEXLABEL_QUEUE", !validQueueName(cfg.Queue), fmt.Sprintf("must be 1-64 letters, digits, '-' or '_', got %q", cfg.Queue))
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{Problems: problems}
	}
	return &cfg, nil
}

// RequireToken reports a missing FLEXFORWARD_TOKEN (the worker needs it).
func (c *Config) RequireToken() error {
	if c.FlexForwardToken == "" {
		return &Error{Problems: []string{"FLEXFORWARD_TOKEN: is required (the Flex Forward API bearer token)"}}
	}
	return nil
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

func checkBaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("must be an absolute URL, got %q", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !flexapi.IsLoopback(u.Hostname()) {
			return fmt.Sprintf("plain http is allowed only to a loopback host (the token must not cross a network in clear), got %q", raw)
		}
	default:
		return fmt.Sprintf("must use https, got %q", raw)
	}
	return ""
}

// redactURLError describes a REDIS_URL parse error without the password.
func redactURLError(err error, raw Secret) string {
	msg := err.Error()
	if u, perr := url.Parse(string(raw)); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	if s := string(raw); s != "" {
		msg = strings.ReplaceAll(msg, s, "[redacted URL]")
	}
	return msg
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
