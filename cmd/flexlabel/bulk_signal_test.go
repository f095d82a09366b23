//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestBinary_Bulk_SignalWhileReadingStdin sends a real SIGINT or SIGTERM to
// the built binary while it is in the middle of a file on standard input
// that has gone idle: it stops, says how many rows it enqueued and how to
// resume, and exits 2.
func TestBinary_Bulk_SignalWhileReadingStdin(t *testing.T) {
	t.Parallel()
	bin := buildFlexlabel(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			stdinR, stdinW, err := os.Pipe()
			require.NoError(t, err)
			defer stdinR.Close()
			defer stdinW.Close()
			var stdout, stderr queuetest.Buffer
			cmd := exec.Command(bin, "bulk", "--format", "csv", "--json", "-")
			cmd.Env = []string{
				"REDIS_URL=" + queuetest.RedisURL(t),
				"FLEXLABEL_QUEUE=" + queuetest.Prefix(t),
			}
			cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, &stdout, &stderr
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
				}
			})

			// Half a file: the header and 20 rows, then nothing more, with
			// standard input left open.
			csv := mustRead(t, writeCSV(t, 20))
			_, err = stdinW.WriteString(csv)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return strings.Count(stdout.String(), "\n") == 20 }, 60*time.Second, 10*time.Millisecond,
				"every row written is reported; stderr:\n%s", stderr.String())

			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("flexlabel bulk did not exit after %s while its standard input was idle; stderr:\n%s", sig, stderr.String())
			}
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "stderr:\n%s", stderr.String())
			require.Equal(t, 2, exitErr.ExitCode(), "an interrupted run never exits 0; stderr:\n%s", stderr.String())
			require.Contains(t, stderr.String(), "bulk run interrupted after 20 row(s) (20 enqueued, 0 duplicate, 0 refused)")
			require.Contains(t, stderr.String(), "run the same file again to resume")
			got := lines(t, stdout.String())
			require.Len(t, got, 21)
			require.Equal(t, map[string]any{"enqueued": 20.0, "duplicate": 0.0, "conflict": 0.0, "invalid": 0.0, "dead": 0.0, "interrupted": true}, got[20],
				fmt.Sprintf("the summary of what was done; stderr:\n%s", stderr.String()))
		})
	}
}
