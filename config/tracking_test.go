package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

func TestParse_TrackingSettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(nil)
	require.NoError(t, err)
	require.True(t, cfg.TrackingOn(), "on by default")
	require.Empty(t, cfg.TrackingKeyPrefix)
	require.Equal(t, 720*time.Hour, cfg.TrackingMaxAge)
	require.Equal(t, 1.0, cfg.TrackingSpeedup)

	cfg, err = config.Parse(map[string]string{"FLEXLABEL_TRACKING": "off", "FLEXLABEL_TRACKING_KEY_PREFIX": "shop-",
		"FLEXLABEL_TRACKING_MAX_AGE": "48h", "FLEXLABEL_TRACKING_SPEEDUP": "3600"})
	require.NoError(t, err)
	require.False(t, cfg.TrackingOn())
	require.Equal(t, "shop-", cfg.TrackingKeyPrefix)
	require.Equal(t, 48*time.Hour, cfg.TrackingMaxAge)
	require.Equal(t, 3600.0, cfg.TrackingSpeedup)

	_, err = config.Parse(map[string]string{"FLEXLABEL_TRACKING": "yes", "FLEXLABEL_TRACKING_MAX_AGE": "-1h", "FLEXLABEL_TRACKING_SPEEDUP": "0.5"})
	require.ErrorContains(t, err, `FLEXLABEL_TRACKING: must be on or off, got "yes"`)
	require.ErrorContains(t, err, "FLEXLABEL_TRACKING_MAX_AGE: must be positive, got -1h0m0s")
	require.ErrorContains(t, err, "FLEXLABEL_TRACKING_SPEEDUP: must be a number of at least 1, got 0.5")
	_, err = config.Parse(map[string]string{"FLEXLABEL_TRACKING_SPEEDUP": "fast", "FLEXLABEL_TRACKING_MAX_AGE": "30 days"})
	require.ErrorContains(t, err, "FLEXLABEL_TRACKING_SPEEDUP: cannot be parsed")
	require.ErrorContains(t, err, "FLEXLABEL_TRACKING_MAX_AGE: cannot be parsed")
}

func TestTrackingSpeedup_ReadsTheVariableAlone(t *testing.T) {
	t.Parallel()
	f, err := config.TrackingSpeedup(map[string]string{"REDIS_URL": "not a url"})
	require.NoError(t, err)
	require.Equal(t, 1.0, f)
	f, err = config.TrackingSpeedup(map[string]string{"FLEXLABEL_TRACKING_SPEEDUP": "3600"})
	require.NoError(t, err)
	require.Equal(t, 3600.0, f)
	for _, bad := range []string{"0", "0.9", "NaN", "+Inf", "x"} {
		_, err = config.TrackingSpeedup(map[string]string{"FLEXLABEL_TRACKING_SPEEDUP": bad})
		require.ErrorContains(t, err, "FLEXLABEL_TRACKING_SPEEDUP: ", bad)
	}
}
