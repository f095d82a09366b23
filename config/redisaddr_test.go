package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

// RedisAddr names the server for messages without REDIS_URL's password;
// String masks the URL itself. Both live here, next to the secret.
func TestRedisAddr_NamesTheServerWithoutCredentials(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(map[string]string{"REDIS_URL": "redis://app:s3cret@redis.internal:6380/2"})
	require.NoError(t, err)
	require.Equal(t, "redis.internal:6380", cfg.RedisAddr())
	require.Contains(t, cfg.String(), "REDIS_URL=redis://xxxxx:xxxxx@redis.internal:6380/2")
	require.NotContains(t, cfg.String(), "s3cr")
	require.Equal(t, "?", (&config.Config{}).RedisAddr())
}
