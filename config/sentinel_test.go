package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

// The two passwords of the Sentinel form, distinctive so a leak is found.
const (
	redisPW    = "redisPWsent7"
	sentinelPW = "sentPWtinel8"
)

func TestParse_SentinelURL_FailoverOptions(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{"REDIS_URL": "redis://app:" + redisPW + "@s1.internal:26379/3?master_name=mymaster" +
		"&addr=s2.internal:26379&addr=s3.internal:26380&sentinel_username=sentuser&sentinel_password=" + sentinelPW + "&dial_timeout=2s"})
	require.Nil(t, cfg.RedisOptions, "the Sentinel form sets RedisFailover only")
	fo := cfg.RedisFailover
	require.NotNil(t, fo)
	require.Equal(t, "mymaster", fo.MasterName)
	require.Equal(t, []string{"s1.internal:26379", "s2.internal:26379", "s3.internal:26380"}, fo.SentinelAddrs)
	require.Equal(t, 3, fo.DB)
	require.Equal(t, 3, cfg.RedisDB())
	// user:password@ is Redis's own, as in the one-server form; the
	// sentinels' credentials are the sentinel_* parameters.
	require.Equal(t, "app", fo.Username)
	require.Equal(t, redisPW, fo.Password)
	require.Equal(t, "sentuser", fo.SentinelUsername)
	require.Equal(t, sentinelPW, fo.SentinelPassword)
	require.Equal(t, "2s", fo.DialTimeout.String(), "go-redis's own parameters still apply")
	require.Nil(t, fo.TLSConfig)
	require.Equal(t, "master mymaster via sentinels s1.internal:26379,s2.internal:26379,s3.internal:26380", cfg.RedisAddr())
}

func TestParse_SentinelURL_PasswordParameterIsRedis(t *testing.T) {
	t.Parallel()
	// go-redis's own way to give Redis's password in this form is accepted.
	cfg := parseOK(t, map[string]string{"REDIS_URL": "redis://s1:26379?master_name=m&password=" + redisPW})
	require.Equal(t, redisPW, cfg.RedisFailover.Password)
	require.Equal(t, "", cfg.RedisFailover.SentinelPassword)
	require.Equal(t, 0, cfg.RedisFailover.DB)
}

func TestParse_SentinelURL_RedissTLSPerHost(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{"REDIS_URL": "rediss://:" + redisPW + "@s1.example.com:26379/0?master_name=m&addr=s2.example.com:26379"})
	tc := cfg.RedisFailover.TLSConfig
	require.NotNil(t, tc, "rediss:// must turn TLS on")
	// Each connection checks the name of the host it dials, not the first
	// sentinel's: the primary has a certificate of its own.
	require.Equal(t, "", tc.ServerName)
}

func TestParse_MalformedSentinelURL_NamedWithoutPasswords(t *testing.T) {
	t.Parallel()
	auth := "redis://u:" + redisPW + "@s1:26379/0?"
	tests := []struct{ name, url, want string }{
		{"empty master name", auth + "master_name=", "master_name is empty"},
		{"bad addr", auth + "master_name=m&addr=nope&sentinel_password=" + sentinelPW, "Sentinel form"},
		{"bad addr no secret param", auth + "master_name=m&addr=nope", "unable to parse addr"},
		{"unknown option", auth + "master_name=m&bogus=1", "unexpected option: bogus"},
		{"bad db", auth + "master_name=m&db=zero", "invalid database number"},
		{"bad db path", "redis://u:" + redisPW + "@s1:26379/zero?master_name=m", "invalid database number"},
		{"credentials twice", auth + "master_name=m&password=" + sentinelPW, "given twice"},
		{"master name twice", auth + "master_name=m&master_name=n", "master_name is given more than once"},
		{"unencoded & in sentinel password", auth + "master_name=m&sentinel_password=" + sentinelPW + "&" + redisPW + "=1", "not shown"},
		{"unencoded & in password", "redis://s1:26379?master_name=m&password=" + redisPW + "&" + sentinelPW, "not shown"},
		{"unencoded slash in user info", "redis://u:" + redisPW + "/x@s1:26379/0?master_name=m", "must be percent-encoded"},
		{"unencoded hash in user info", "redis://u:" + redisPW + "#x@s1:26379/0?master_name=m&sentinel_password=" + sentinelPW, "Sentinel form"},
		{"wrong scheme", "unix://u:" + redisPW + "@/tmp/s.sock?master_name=m", "invalid URL scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cerr := parseErr(t, map[string]string{"REDIS_URL": tt.url})
			require.Len(t, cerr.Problems, 1, "problems: %q", cerr.Problems)
			p := problemFor(t, cerr, "REDIS_URL")
			require.Contains(t, p, tt.want)
			all := fmt.Sprintf("%v %+v %#v %q", cerr, cerr, cerr, cerr.Problems)
			require.NotContains(t, all, redisPW)
			require.NotContains(t, all, sentinelPW)
		})
	}
}

func TestConfig_SentinelSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REDIS_URL": "rediss://app:" + redisPW + "@s1.example.com:26379/2?master_name=mymaster&addr=s2.example.com:26379" +
		"&sentinel_password=" + sentinelPW + "&dial_timeout=3s"}
	cfg := parseOK(t, env)
	noSecret := func(what, s string) {
		t.Helper()
		require.NotContains(t, s, redisPW, "%s leaks Redis's password: %s", what, s)
		require.NotContains(t, s, sentinelPW, "%s leaks the sentinels' password: %s", what, s)
	}
	s := cfg.String()
	require.Contains(t, s, "REDIS_URL=rediss://xxxxx:xxxxx@s1.example.com:26379/2?master_name=mymaster&addr=s2.example.com:26379&sentinel_password=xxxxx&dial_timeout=3s")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		noSecret("fmt "+verb, fmt.Sprintf(verb, cfg))
		noSecret("fmt "+verb+" of Config", fmt.Sprintf(verb, *cfg))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", slog.Any("config", cfg), "redis_url", cfg.RedisURL, "redis", cfg.RedisAddr())
	require.Contains(t, buf.String(), "s1.example.com")
	noSecret("slog", buf.String())
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	noSecret("json.Marshal", string(b))
}

func TestMaskRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw@h:1/0", "redis://xxxxx:xxxxx@h:1/0"},
		{"redis://h:1?master_name=m&password=pw&addr=h2:1", "redis://h:1?master_name=m&password=xxxxx&addr=h2:1"},
		// An unencoded '&' in a password: the piece split off is masked too,
		// up to the next parameter flexlabel or go-redis knows.
		{"redis://h:1?master_name=m&sentinel_password=a&b&c=d&db=2", "redis://h:1?master_name=m&sentinel_password=xxxxx&db=2"},
		// An unencoded '@' in a password parameter does not make the host
		// look like user info.
		{"redis://h:1?master_name=m&password=p@ss", "redis://h:1?master_name=m&password=xxxxx"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, config.MaskRedisURL(tt.in), tt.in)
	}
}

func TestNewRedisClient_OneKindPerForm(t *testing.T) {
	t.Parallel()
	plain := parseOK(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}).NewRedisClient()
	defer plain.Close()
	require.Equal(t, "127.0.0.1:1", plain.Options().Addr)
	// go-redis names the failover client's address "FailoverClient": it
	// asks the sentinels for the primary on every dial.
	fo := parseOK(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0?master_name=m"}).NewRedisClient()
	defer fo.Close()
	require.Equal(t, "FailoverClient", fo.Options().Addr)
}
