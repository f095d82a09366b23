package config_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

func TestParse_MinReplicas_DefaultsOff(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{})
	require.Equal(t, 0, cfg.RedisMinReplicas)
	require.Equal(t, time.Second, cfg.RedisMinReplicasTimeout)
	cfg = parseOK(t, map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS": "2", "FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "250ms"})
	require.Equal(t, 2, cfg.RedisMinReplicas)
	require.Equal(t, 250*time.Millisecond, cfg.RedisMinReplicasTimeout)
	require.Contains(t, cfg.String(), "FLEXLABEL_REDIS_MIN_REPLICAS=2 FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT=250ms")
}

func TestParse_MinReplicas_Validation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env      map[string]string
		variable string
		want     string // substring of the problem; "" means accepted
	}{
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS": "-1"}, "FLEXLABEL_REDIS_MIN_REPLICAS", "between 0 (off) and 16, got -1"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS": "17"}, "FLEXLABEL_REDIS_MIN_REPLICAS", "between 0 (off) and 16"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS": "one"}, "FLEXLABEL_REDIS_MIN_REPLICAS", "cannot be parsed as int"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS": "16"}, "", ""},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "0s"}, "FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", "positive"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "soon"}, "FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", "cannot be parsed as time.Duration"},
		// The WAIT runs in a pipeline, under the client's read timeout (5s by default).
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "5s"}, "FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", "below REDIS_URL's read_timeout (5s), got 5s"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "4900ms"}, "", ""},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "1s", "REDIS_URL": "redis://r:6379/0?read_timeout=500ms"},
			"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT", "below REDIS_URL's read_timeout (500ms), got 1s"},
		{map[string]string{"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "10s", "REDIS_URL": "redis://r:6379/0?read_timeout=-1"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.variable+tt.want, func(t *testing.T) {
			t.Parallel()
			if tt.want == "" {
				parseOK(t, tt.env)
				return
			}
			cerr := parseErr(t, tt.env)
			require.Len(t, cerr.Problems, 1, "problems: %q", cerr.Problems)
			require.Contains(t, problemFor(t, cerr, tt.variable), tt.want)
		})
	}
}

// The default the validation assumes is go-redis's own.
func TestGoRedisReadTimeout_IsGoRedisDefault(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { c.Close() })
	require.Equal(t, c.Options().ReadTimeout, config.GoRedisReadTimeout)
}
