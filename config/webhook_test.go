package config_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
)

func TestParse_WebhookSettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(nil)
	require.NoError(t, err)
	require.Empty(t, cfg.WebhookSigningKey, "webhooks off by default")
	require.False(t, cfg.WebhookAllowPrivate)

	const key = "  webhook-signing-key-0123456789abcdef-xyz \n"
	cfg, err = config.Parse(map[string]string{"FLEXLABEL_WEBHOOK_SIGNING_KEY": key, "FLEXLABEL_WEBHOOK_ALLOW_PRIVATE": "true"})
	require.NoError(t, err)
	require.Equal(t, "webhook-signing-key-0123456789abcdef-xyz", cfg.WebhookSigningKey.Reveal(), "trimmed like the tokens")
	require.True(t, cfg.WebhookAllowPrivate)
	for _, out := range []string{cfg.String(), fmt.Sprintf("%v %+v", cfg, cfg)} {
		require.NotContains(t, out, "webhook-signing-key")
		require.Contains(t, out, "FLEXLABEL_WEBHOOK_SIGNING_KEY=[redacted]")
	}

	_, err = config.Parse(map[string]string{"FLEXLABEL_WEBHOOK_SIGNING_KEY": "short-secret-value", "FLEXLABEL_WEBHOOK_ALLOW_PRIVATE": "maybe"})
	require.ErrorContains(t, err, "FLEXLABEL_WEBHOOK_SIGNING_KEY: must be at least 32 bytes")
	require.ErrorContains(t, err, "FLEXLABEL_WEBHOOK_ALLOW_PRIVATE: cannot be parsed as bool")
	require.NotContains(t, err.Error(), "short-secret-value")
}
