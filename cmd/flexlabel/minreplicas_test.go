package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// `flexlabel enqueue` with FLEXLABEL_REDIS_MIN_REPLICAS=1 and the one
// replica frozen exits 2, the operational error of an unreachable Redis,
// saying how many replicas acknowledged and that retrying is safe; with the
// replica back the same run succeeds, and nothing is enqueued twice.
func TestCLI_Enqueue_MinReplicas_ReplicaDown_Exit2(t *testing.T) {
	t.Parallel()
	primary := queuetest.StartRedis(t)
	replica := queuetest.StartReplica(t, primary.Addr())
	c := &cli{env: map[string]string{
		"REDIS_URL":                            primary.URL(),
		"FLEXLABEL_QUEUE":                      queuetest.Prefix(t),
		"FLEXLABEL_REDIS_MIN_REPLICAS":         "1",
		"FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT": "100ms",
	}}
	in := string(queuetest.RequestJSON("dur-cli", ""))

	replica.Pause()
	r := c.run(t, in, "enqueue")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "0 of 1 Redis replicas acknowledged the write within 100ms")
	require.Contains(t, r.stderr, "retrying is safe")
	require.Empty(t, r.stdout, "no line says enqueued")

	replica.Resume()
	c.env["FLEXLABEL_REDIS_MIN_REPLICAS_TIMEOUT"] = "2s" // a resumed replica on a busy machine
	r = c.run(t, in, "enqueue")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "duplicate", lines(t, r.stdout)[0]["outcome"])
}
