package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

// runWorker runs `flexlabel worker` in-process with env and returns the error,
// the exit code and what went to stderr (exitCode's message included).
func runWorker(t *testing.T, env map[string]string) (code int, stderrText string, err error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"worker"}, env, bytes.NewReader(nil), &stdout, &stderr)
	code = exitCode(err, &stderr)
	require.Empty(t, stdout.String(), "a refused configuration prints nothing on stdout")
	return code, stderr.String(), err
}

func TestWorker_NoToken_ExitsTwoNamingTheVariable(t *testing.T) {
	t.Parallel()
	code, stderr, err := runWorker(t, map[string]string{})
	require.Error(t, err)
	var cerr *config.Error
	require.True(t, errors.As(err, &cerr), "want a *config.Error, got %T: %v", err, err)
	require.Equal(t, exitOperational, code)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "FLEXFORWARD_TOKEN")
}

func TestWorker_BlankToken_IsMissing(t *testing.T) {
	t.Parallel()
	code, stderr, _ := runWorker(t, map[string]string{"FLEXFORWARD_TOKEN": "  \n"})
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "FLEXFORWARD_TOKEN")
}

func TestWorker_MalformedRedisURL_NamedWithoutSecrets(t *testing.T) {
	t.Parallel()
	const (
		token    = "ffTOKEN-do-not-print-7731"
		password = "redisPW-do-not-print-4410"
	)
	tests := map[string]string{
		"bad port":       "redis://worker:" + password + "@redis.internal:port/0",
		"wrong scheme":   "https://worker:" + password + "@redis.internal:6379/0",
		"slash in pw":    "redis://worker:" + password + "/x@redis.internal:6379/0",
		"bad db":         "redis://worker:" + password + "@redis.internal:6379/db",
		"no credentials": "redis://redis.internal:port/0",
	}
	for name, redisURL := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stderr, err := runWorker(t, map[string]string{
				"FLEXFORWARD_TOKEN": token,
				"REDIS_URL":         redisURL,
			})
			require.Error(t, err)
			require.Equal(t, 2, code)
			require.Contains(t, stderr, "REDIS_URL")
			require.NotContains(t, stderr, token)
			require.NotContains(t, stderr, password)
			require.NotContains(t, err.Error(), token)
			require.NotContains(t, err.Error(), password)
		})
	}
}

func TestWorker_EveryProblemAtOnce_TokenNotEchoed(t *testing.T) {
	t.Parallel()
	const token = "ffTOKEN-do-not-print-9924"
	code, stderr, _ := runWorker(t, map[string]string{
		"FLEXFORWARD_TOKEN":     token,
		"FLEXFORWARD_BASE_URL":  "http://flex.example.com",
		"FLEXLABEL_CONCURRENCY": "0",
		"FLEXLABEL_MAX_RETRY":   "0",
		"FLEXLABEL_API_TOKENS":  token + ",short",
		"REDIS_URL":             "redis://127.0.0.1:notaport/0",
	})
	require.Equal(t, 2, code)
	for _, name := range []string{"FLEXFORWARD_BASE_URL", "FLEXLABEL_CONCURRENCY", "FLEXLABEL_MAX_RETRY", "FLEXLABEL_API_TOKENS", "REDIS_URL"} {
		require.Contains(t, stderr, name)
	}
	require.NotContains(t, stderr, token)
}
