package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Webhook delivery settings (issue 15, part C).
func TestParse_WebhookDelivery_DefaultsAndProblems(t *testing.T) {
	t.Parallel()
	cfg := parseOK(t, map[string]string{})
	require.Equal(t, 10, cfg.WebhookConcurrency)
	require.Equal(t, 10*time.Second, cfg.WebhookTimeout)
	require.Equal(t, 72*time.Hour, cfg.WebhookRetryFor)
	require.Equal(t, 24*time.Hour, cfg.WebhookDisableAfter)

	cfg = parseOK(t, map[string]string{"FLEXLABEL_WEBHOOK_CONCURRENCY": "3", "FLEXLABEL_WEBHOOK_TIMEOUT": "2s",
		"FLEXLABEL_WEBHOOK_RETRY_FOR": "1h", "FLEXLABEL_WEBHOOK_DISABLE_AFTER": "30m"})
	require.Equal(t, 3, cfg.WebhookConcurrency)
	require.Equal(t, 2*time.Second, cfg.WebhookTimeout)
	require.Equal(t, time.Hour, cfg.WebhookRetryFor)
	require.Equal(t, 30*time.Minute, cfg.WebhookDisableAfter)

	cerr := parseErr(t, map[string]string{"FLEXLABEL_WEBHOOK_CONCURRENCY": "0", "FLEXLABEL_WEBHOOK_TIMEOUT": "10m",
		"FLEXLABEL_WEBHOOK_RETRY_FOR": "720h", "FLEXLABEL_WEBHOOK_DISABLE_AFTER": "-1s"})
	require.Contains(t, problemFor(t, cerr, "FLEXLABEL_WEBHOOK_CONCURRENCY"), "between 1 and 1000")
	require.Contains(t, problemFor(t, cerr, "FLEXLABEL_WEBHOOK_TIMEOUT"), "at most 5m")
	require.Contains(t, problemFor(t, cerr, "FLEXLABEL_WEBHOOK_RETRY_FOR"), "at most 168h")
	require.Contains(t, problemFor(t, cerr, "FLEXLABEL_WEBHOOK_DISABLE_AFTER"), "must be positive")
}
