package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse_MetricsAuth(t *testing.T) {
	t.Parallel()
	require.False(t, parseOK(t, map[string]string{}).MetricsAuth, "off by default")
	for _, v := range []string{"true", "1", "TRUE"} {
		require.True(t, parseOK(t, map[string]string{"FLEXLABEL_METRICS_AUTH": v}).MetricsAuth, v)
	}
	require.False(t, parseOK(t, map[string]string{"FLEXLABEL_METRICS_AUTH": "false"}).MetricsAuth)
	for _, v := range []string{"yes", "on", "maybe"} {
		p := problemFor(t, parseErr(t, map[string]string{"FLEXLABEL_METRICS_AUTH": v}), "FLEXLABEL_METRICS_AUTH")
		require.Equal(t, "FLEXLABEL_METRICS_AUTH: cannot be parsed as bool", p)
	}
}
