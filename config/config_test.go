package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
)

// parseOK parses env and fails the test on any problem.
func parseOK(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(env)
	require.NoError(t, err)
	require.NotNil(t, cfg)
	return cfg
}

// parseErr parses env and returns the *config.Error it must fail with.
func parseErr(t *testing.T, env map[string]string) *config.Error {
	t.Helper()
	cfg, err := config.Parse(env)
	require.Error(t, err)
	require.Nil(t, cfg)
	var cerr *config.Error
	require.True(t, errors.As(err, &cerr), "error %T is not a *config.Error", err)
	return cerr
}

// problemFor returns the one problem naming variable, failing if there is none.
func problemFor(t *testing.T, cerr *config.Error, variable string) string {
	t.Helper()
	for _, p := range cerr.Problems {
		if strings.HasPrefix(p, variable+":") {
			return p
		}
	}
	require.Failf(t, "variable not named", "no problem names %s; problems: %q", variable, cerr.Problems)
	return ""
}

func TestParse_EmptyEnvironment_Defaults(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{})

	require.Equal(t, "https://api.flexforwardship.com", cfg.FlexForwardBaseURL)
	require.Equal(t, flexapi.ProductionURL, cfg.FlexForwardBaseURL)
	require.Equal(t, "production", cfg.FlexForwardEnv)
	require.Equal(t, config.Secret(""), cfg.FlexForwardToken)
	require.Equal(t, "redis://127.0.0.1:6379/0", cfg.RedisURL.Reveal())
	require.NotNil(t, cfg.RedisOptions)
	require.Equal(t, "127.0.0.1:6379", cfg.RedisOptions.Addr)
	require.Equal(t, 0, cfg.RedisOptions.DB)
	require.Nil(t, cfg.RedisOptions.TLSConfig)
	require.Equal(t, 10, cfg.Concurrency)
	require.Equal(t, 25, cfg.MaxRetry)
	require.Equal(t, time.Second, cfg.RetryBase)
	require.Equal(t, 10*time.Minute, cfg.RetryMax)
	require.Equal(t, 168*time.Hour, cfg.ResultRetention)
	require.Equal(t, 60*time.Second, cfg.WebhookDocumentWait)
	require.Equal(t, 30*time.Second, cfg.APITimeout)
	require.Equal(t, 8.0, cfg.RateLimit)
	require.Equal(t, ":8080", cfg.HTTPAddr)
	require.Equal(t, "", cfg.MetricsAddr)
	require.Empty(t, cfg.APITokens)
	require.Equal(t, "info", cfg.LogLevel)
	require.Equal(t, "json", cfg.LogFormat)
	require.Equal(t, 30*time.Second, cfg.ShutdownTimeout)
	require.Equal(t, "flexlabel", cfg.Queue)
}

func TestParse_EmptyValues_TakeDefaults(t *testing.T) {
	t.Parallel()
	// A variable set to "" (a blank line in an env file) means "unset".
	cfg := parseOK(t, map[string]string{
		"FLEXFORWARD_ENV":       "",
		"FLEXFORWARD_BASE_URL":  "",
		"REDIS_URL":             "",
		"FLEXLABEL_CONCURRENCY": "",
	})
	require.Equal(t, flexapi.ProductionURL, cfg.FlexForwardBaseURL)
	require.Equal(t, "127.0.0.1:6379", cfg.RedisOptions.Addr)
	require.Equal(t, 10, cfg.Concurrency)
}

// TestParse_NilMap_DoesNotReadProcessEnvironment guards against
// caarlos0/env's fallback to os.Environ for a nil map. Not parallel: it sets
// process environment variables.
func TestParse_NilMap_DoesNotReadProcessEnvironment(t *testing.T) {
	t.Setenv("FLEXLABEL_CONCURRENCY", "7")
	t.Setenv("FLEXFORWARD_TOKEN", "from-the-process-environment")
	cfg := parseOK(t, nil)
	require.Equal(t, 10, cfg.Concurrency)
	require.Equal(t, config.Secret(""), cfg.FlexForwardToken)
}

func TestParse_Overrides(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{
		"FLEXFORWARD_TOKEN":          "tok",
		"REDIS_URL":                  "redis://cache.internal:6390/3",
		"FLEXLABEL_CONCURRENCY":      "50",
		"FLEXLABEL_MAX_RETRY":        "3",
		"FLEXLABEL_RETRY_BASE":       "250ms",
		"FLEXLABEL_RETRY_MAX":        "1m",
		"FLEXLABEL_RESULT_RETENTION": "72h",
		"FLEXLABEL_API_TIMEOUT":      "5s",
		"FLEXLABEL_RATE_LIMIT":       "2.5",
		"FLEXLABEL_HTTP_ADDR":        "127.0.0.1:9000",
		"FLEXLABEL_METRICS_ADDR":     ":9100",
		"FLEXLABEL_API_TOKENS":       "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb",
		"FLEXLABEL_LOG_LEVEL":        "debug",
		"FLEXLABEL_LOG_FORMAT":       "text",
		"FLEXLABEL_SHUTDOWN_TIMEOUT": "1m",
		"FLEXLABEL_QUEUE":            "labels-eu_1",

		"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT": "5s",
	})
	require.Equal(t, 5*time.Second, cfg.WebhookDocumentWait)
	require.Equal(t, "tok", cfg.FlexForwardToken.Reveal())
	require.Equal(t, "cache.internal:6390", cfg.RedisOptions.Addr)
	require.Equal(t, 3, cfg.RedisOptions.DB)
	require.Equal(t, 50, cfg.Concurrency)
	require.Equal(t, 3, cfg.MaxRetry)
	require.Equal(t, 250*time.Millisecond, cfg.RetryBase)
	require.Equal(t, time.Minute, cfg.RetryMax)
	require.Equal(t, config.MinResultRetention, cfg.ResultRetention)
	require.Equal(t, 5*time.Second, cfg.APITimeout)
	require.Equal(t, 2.5, cfg.RateLimit)
	require.Equal(t, "127.0.0.1:9000", cfg.HTTPAddr)
	require.Equal(t, ":9100", cfg.MetricsAddr)
	// Whitespace around the separator is not part of a token.
	require.Equal(t, []config.Secret{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}, cfg.APITokens)
	require.Equal(t, "debug", cfg.LogLevel)
	require.Equal(t, "text", cfg.LogFormat)
	require.Equal(t, time.Minute, cfg.ShutdownTimeout)
	require.Equal(t, "labels-eu_1", cfg.Queue)
}

func TestParse_FlexForwardEnvAndBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantURL string
		wantErr string // substring of the FLEXFORWARD_* problem; "" means valid
		varName string
	}{
		{name: "production by default", env: map[string]string{}, wantURL: "https://api.flexforwardship.com"},
		{name: "production", env: map[string]string{"FLEXFORWARD_ENV": "production"}, wantURL: "https://api.flexforwardship.com"},
		{name: "staging", env: map[string]string{"FLEXFORWARD_ENV": "staging"}, wantURL: "https://api-staging.flexforwardship.com"},
		{name: "unknown env", env: map[string]string{"FLEXFORWARD_ENV": "prod"}, varName: "FLEXFORWARD_ENV", wantErr: `got "prod"`},
		{name: "unknown env with base URL", env: map[string]string{"FLEXFORWARD_ENV": "qa", "FLEXFORWARD_BASE_URL": "https://x.example"}, varName: "FLEXFORWARD_ENV", wantErr: `got "qa"`},
		{name: "base URL wins over env", env: map[string]string{"FLEXFORWARD_ENV": "staging", "FLEXFORWARD_BASE_URL": "https://flex.example.com/v2"}, wantURL: "https://flex.example.com/v2"},
		{name: "http to 127.0.0.1", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://127.0.0.1:8081"}, wantURL: "http://127.0.0.1:8081"},
		{name: "http to localhost", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://localhost:8081"}, wantURL: "http://localhost:8081"},
		{name: "http to ::1", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://[::1]:8081"}, wantURL: "http://[::1]:8081"},
		{name: "http to a remote host", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://api.flexforwardship.com"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "loopback"},
		{name: "http to a private address", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://10.0.0.5:8081"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "loopback"},
		{name: "http to a name that only starts like loopback", env: map[string]string{"FLEXFORWARD_BASE_URL": "http://127.0.0.1.evil.example"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "loopback"},
		{name: "other scheme", env: map[string]string{"FLEXFORWARD_BASE_URL": "ftp://flex.example.com"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "https"},
		{name: "relative", env: map[string]string{"FLEXFORWARD_BASE_URL": "api.flexforwardship.com"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "absolute URL"},
		{name: "user info", env: map[string]string{"FLEXFORWARD_BASE_URL": "https://me:hunter2hunter2@flex.example.com"}, varName: "FLEXFORWARD_BASE_URL", wantErr: "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.wantErr == "" {
				cfg := parseOK(t, tt.env)
				require.Equal(t, tt.wantURL, cfg.FlexForwardBaseURL)
				return
			}
			cerr := parseErr(t, tt.env)
			require.Len(t, cerr.Problems, 1, "problems: %q", cerr.Problems)
			require.Contains(t, problemFor(t, cerr, tt.varName), tt.wantErr)
			require.NotContains(t, cerr.Error(), "hunter2")
		})
	}
}

func TestParse_ManyProblems_ReportsEveryVariableAtOnce(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"FLEXFORWARD_ENV":            "moon",
		"REDIS_URL":                  "http://127.0.0.1:6379",
		"FLEXLABEL_CONCURRENCY":      "0",
		"FLEXLABEL_MAX_RETRY":        "0",
		"FLEXLABEL_RETRY_BASE":       "-1s",
		"FLEXLABEL_RESULT_RETENTION": "24h",
		"FLEXLABEL_API_TIMEOUT":      "0s",
		"FLEXLABEL_RATE_LIMIT":       "NaN",
		"FLEXLABEL_HTTP_ADDR":        "8080",
		"FLEXLABEL_METRICS_ADDR":     "metrics",
		"FLEXLABEL_API_TOKENS":       "short",
		"FLEXLABEL_LOG_LEVEL":        "loud",
		"FLEXLABEL_LOG_FORMAT":       "xml",
		"FLEXLABEL_SHUTDOWN_TIMEOUT": "notaduration",
		"FLEXLABEL_QUEUE":            "has space",
	}
	cerr := parseErr(t, bad)
	for name := range bad {
		p := problemFor(t, cerr, name)
		require.Contains(t, cerr.Error(), p)
	}
	require.Len(t, cerr.Problems, len(bad), "one problem per variable: %q", cerr.Problems)
	require.True(t, strings.HasPrefix(cerr.Error(), "configuration: "))
}

func TestParse_Validation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		variable, value string
		want            string // substring of the problem; "" means accepted
	}{
		{"FLEXLABEL_MAX_RETRY", "0", "at least 1"},
		{"FLEXLABEL_MAX_RETRY", "-3", "at least 1"},
		{"FLEXLABEL_MAX_RETRY", "1", ""},
		{"FLEXLABEL_MAX_RETRY", "many", "cannot be parsed as int"},
		{"FLEXLABEL_RESULT_RETENTION", "71h59m", "at least 72h"},
		{"FLEXLABEL_RESULT_RETENTION", "1h", "at least 72h"},
		{"FLEXLABEL_RESULT_RETENTION", "72h", ""},
		{"FLEXLABEL_RESULT_RETENTION", "720h", ""},
		{"FLEXLABEL_CONCURRENCY", "0", "between 1 and 1000"},
		{"FLEXLABEL_CONCURRENCY", "1001", "between 1 and 1000"},
		{"FLEXLABEL_CONCURRENCY", "1", ""},
		{"FLEXLABEL_CONCURRENCY", "ten", "cannot be parsed as int"},
		{"FLEXLABEL_RETRY_BASE", "0s", "positive"},
		{"FLEXLABEL_RETRY_BASE", "1", "cannot be parsed as time.Duration"},
		{"FLEXLABEL_RETRY_MAX", "500ms", "at least FLEXLABEL_RETRY_BASE"},
		{"FLEXLABEL_RETRY_MAX", "1s", ""},
		{"FLEXLABEL_API_TIMEOUT", "-1s", "positive"},
		{"FLEXLABEL_RATE_LIMIT", "0", "positive"},
		{"FLEXLABEL_RATE_LIMIT", "-1", "positive"},
		{"FLEXLABEL_RATE_LIMIT", "+Inf", "positive"},
		{"FLEXLABEL_RATE_LIMIT", "0.5", ""},
		{"FLEXLABEL_SHUTDOWN_TIMEOUT", "0s", "positive"},
		{"FLEXLABEL_HTTP_ADDR", "localhost", "host:port"},
		{"FLEXLABEL_HTTP_ADDR", "127.0.0.1:0", ""},
		{"FLEXLABEL_METRICS_ADDR", "9100", "host:port"},
		{"FLEXLABEL_API_TOKENS", "aaaaaaaaaaaaaaaa,,bbbbbbbbbbbbbbbb", "token 2 is empty"},
		{"FLEXLABEL_API_TOKENS", "aaaaaaaaaaaaaaaa,   ", "token 2 is empty"},
		{"FLEXLABEL_API_TOKENS", "aaaaaaaaaaaaaaaa,bbbb", "token 2 is shorter than 16"},
		{"FLEXLABEL_LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"FLEXLABEL_LOG_LEVEL", "warn", ""},
		{"FLEXLABEL_LOG_FORMAT", "logfmt", "json or text"},
		{"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT", "0s", "positive and at most 1h0m0s"},
		{"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT", "61m", "positive and at most 1h0m0s"},
		{"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT", "soon", "cannot be parsed as time.Duration"},
		{"FLEXLABEL_WEBHOOK_DOCUMENT_WAIT", "5s", ""},
		{"FLEXLABEL_QUEUE", "", ""}, // empty means the default
		{"FLEXLABEL_QUEUE", "a:b", "letters, digits"},
		{"FLEXLABEL_QUEUE", strings.Repeat("q", 65), "letters, digits"},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{tt.variable: tt.value}
			if tt.want == "" {
				parseOK(t, env)
				return
			}
			cerr := parseErr(t, env)
			require.Len(t, cerr.Problems, 1, "problems: %q", cerr.Problems)
			require.Contains(t, problemFor(t, cerr, tt.variable), tt.want)
		})
	}
}

func TestParse_UnparsableValue_NotEchoed(t *testing.T) {
	t.Parallel()
	// A value that fails to parse may be a secret pasted into the wrong
	// variable; the problem names the variable and the type, not the value.
	cerr := parseErr(t, map[string]string{"FLEXLABEL_CONCURRENCY": "s3cr3t-token-value"})
	require.NotContains(t, cerr.Error(), "s3cr3t")
	require.Contains(t, problemFor(t, cerr, "FLEXLABEL_CONCURRENCY"), "cannot be parsed")
}

func TestParse_RedissURL_TLSAndCredentials(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{"REDIS_URL": "rediss://labeler:p%40ss%2Fword@redis.example.com:6380/2"})
	o := cfg.RedisOptions
	require.NotNil(t, o)
	require.NotNil(t, o.TLSConfig, "rediss:// must turn TLS on")
	require.Equal(t, "redis.example.com", o.TLSConfig.ServerName)
	require.Equal(t, "redis.example.com:6380", o.Addr)
	require.Equal(t, "labeler", o.Username)
	require.Equal(t, "p@ss/word", o.Password)
	require.Equal(t, 2, o.DB)
}

func TestParse_RedisURLPasswordOnly(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{"REDIS_URL": "redis://:onlypass@10.1.2.3:6379/1"})
	require.Equal(t, "", cfg.RedisOptions.Username)
	require.Equal(t, "onlypass", cfg.RedisOptions.Password)
	require.Nil(t, cfg.RedisOptions.TLSConfig)
}

func TestParse_MalformedRedisURL_NamedWithoutPassword(t *testing.T) {
	t.Parallel()
	const pw = "Zq9pw"
	tests := []struct{ name, url string }{
		{"bad port", "redis://user:" + pw + "@host:notaport/0"},
		{"bad db", "redis://user:" + pw + "@host:6379/zero"},
		{"wrong scheme", "http://user:" + pw + "@host:6379/0"},
		{"quote in password", "redis://user:" + pw + `"x@host:bad/0`},
		{"backslash in password", `redis://user:` + pw + `\x@host:bad/0`},
		{"unencoded slash in password", "redis://user:" + pw + "/x@host:6379/0"},
		{"unencoded hash in password", "redis://user:" + pw + "#x@host:6379/0"},
		{"bad escape in password", "redis://user:%zz" + pw + "@host:6379/0"},
		{"space in password", "redis://user:" + pw + " x@host:6379/0"},
		{"no scheme", "user:" + pw + "@host:6379"},
		{"control character", "redis://user:" + pw + "\x7f@host:6379/0"},
		{"not a URL", "127.0.0.1:6379"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cerr := parseErr(t, map[string]string{"REDIS_URL": tt.url})
			require.Len(t, cerr.Problems, 1, "problems: %q", cerr.Problems)
			p := problemFor(t, cerr, "REDIS_URL")
			require.Contains(t, p, "must be redis://")
			require.NotContains(t, cerr.Error(), pw)
			require.NotContains(t, fmt.Sprintf("%+v %#v %q", cerr, cerr, cerr.Problems), pw)
		})
	}
}

// secretEnv carries every kind of secret with distinctive values.
var secretEnv = map[string]string{
	"FLEXFORWARD_TOKEN":    "ffTOKENvalue1234",
	"FLEXLABEL_API_TOKENS": "apiTOKENone00000,apiTOKENtwo00000",
	"REDIS_URL":            "rediss://labeler:redisPASSWORD99@redis.example.com:6380/2",
}

var secretValues = []string{"ffTOKENvalue1234", "apiTOKENone00000", "apiTOKENtwo00000", "redisPASSWORD99"}

func requireNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range secretValues {
		require.NotContains(t, s, v, "%s leaks a secret: %s", what, s)
	}
}

func TestConfig_SecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, secretEnv)
	// The secrets are there, for the places that must send them.
	require.Equal(t, "ffTOKENvalue1234", cfg.FlexForwardToken.Reveal())
	require.Equal(t, "redisPASSWORD99", cfg.RedisOptions.Password)

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		requireNoSecret(t, "fmt "+verb+" of *Config", fmt.Sprintf(verb, cfg))
		requireNoSecret(t, "fmt "+verb+" of Config", fmt.Sprintf(verb, *cfg))
		requireNoSecret(t, "fmt "+verb+" of the token", fmt.Sprintf(verb, cfg.FlexForwardToken))
		requireNoSecret(t, "fmt "+verb+" of the API tokens", fmt.Sprintf(verb, cfg.APITokens))
		requireNoSecret(t, "fmt "+verb+" of REDIS_URL", fmt.Sprintf(verb, cfg.RedisURL))
	}
	requireNoSecret(t, "fmt of a struct holding a Config", fmt.Sprintf("%+v %#v", struct{ C config.Config }{*cfg}, struct{ C *config.Config }{cfg}))
	requireNoSecret(t, "String", cfg.String())

	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("config", slog.Any("config", cfg), slog.Any("value", *cfg),
			slog.Any("token", cfg.FlexForwardToken), slog.Any("tokens", cfg.APITokens), "redis_url", cfg.RedisURL)
		require.Contains(t, buf.String(), "redis.example.com", "the log must still describe the config")
		requireNoSecret(t, "slog", buf.String())
	}

	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	requireNoSecret(t, "json.Marshal", string(b))
	b, err = json.Marshal(struct{ C config.Config }{*cfg})
	require.NoError(t, err)
	requireNoSecret(t, "json.Marshal of a struct holding a Config", string(b))
}

func TestParse_ErrorWithSecretsPresent_DoesNotEchoThem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"FLEXLABEL_CONCURRENCY": "-1",
		"FLEXLABEL_API_TOKENS":  "apiTOKENone00000,tinyTKN",
	}
	for k, v := range secretEnv {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	env["REDIS_URL"] = "rediss://labeler:redisPASSWORD99@redis.example.com:bad/2"
	cerr := parseErr(t, env)
	problemFor(t, cerr, "FLEXLABEL_CONCURRENCY")
	problemFor(t, cerr, "FLEXLABEL_API_TOKENS")
	problemFor(t, cerr, "REDIS_URL")
	requireNoSecret(t, "error", cerr.Error())
	requireNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", cerr, cerr, cerr))
	require.NotContains(t, cerr.Error(), "tinyTKN", "a too-short token is not echoed either")
}

func TestConfig_String_DescribesSettings(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, secretEnv)
	s := cfg.String()
	require.Contains(t, s, "FLEXFORWARD_TOKEN=[redacted]")
	require.Contains(t, s, "REDIS_URL=rediss://xxxxx:xxxxx@redis.example.com:6380/2")
	require.Contains(t, s, "FLEXLABEL_API_TOKENS=[2 tokens]")
	require.Contains(t, s, "FLEXLABEL_CONCURRENCY=10")
	require.Contains(t, s, "FLEXLABEL_RESULT_RETENTION=168h0m0s")
	require.Contains(t, s, "FLEXFORWARD_BASE_URL=https://api.flexforwardship.com")
	require.NotContains(t, s, "RedisOptions")
	require.Equal(t, s, fmt.Sprintf("%+v", cfg))

	// Unset secrets stay visibly unset.
	require.Contains(t, parseOK(t, map[string]string{}).String(), "FLEXFORWARD_TOKEN= ")
}

func TestSecret_RedactsUnderEveryVerb(t *testing.T) {
	t.Parallel()
	s := config.Secret("hunter2hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		require.NotContains(t, fmt.Sprintf(verb, s), "hunter2", verb)
	}
	require.Equal(t, "[redacted]", s.String())
	require.Equal(t, "hunter2hunter2", s.Reveal())
	require.Equal(t, "", config.Secret("").String())
	b, err := json.Marshal(map[string]config.Secret{"t": s})
	require.NoError(t, err)
	require.JSONEq(t, `{"t":"[redacted]"}`, string(b))
}

func TestRequireToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		present bool
		wantErr bool
	}{
		{name: "unset", wantErr: true},
		{name: "empty", present: true, token: "", wantErr: true},
		{name: "whitespace only", present: true, token: " \n", wantErr: true},
		{name: "set", present: true, token: "tok-123"},
		{name: "set with trailing newline", present: true, token: "tok-123\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if tt.present {
				env["FLEXFORWARD_TOKEN"] = tt.token
			}
			cfg := parseOK(t, env)
			err := cfg.RequireToken()
			if !tt.wantErr {
				require.NoError(t, err)
				require.Equal(t, "tok-123", cfg.FlexForwardToken.Reveal())
				return
			}
			var cerr *config.Error
			require.ErrorAs(t, err, &cerr)
			require.Len(t, cerr.Problems, 1)
			require.Contains(t, problemFor(t, cerr, "FLEXFORWARD_TOKEN"), "required")
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "WARN": slog.LevelWarn, "error": slog.LevelError} {
		got, err := config.ParseLevel(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := config.ParseLevel("chatty")
	require.Error(t, err)
}
