package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		want       int
		wantStderr string
	}{
		{name: "success", err: nil, want: 0, wantStderr: ""},
		{name: "refused", err: &refusedError{msg: "2 of 5 lines refused"}, want: 1, wantStderr: "flexlabel: 2 of 5 lines refused\n"},
		{name: "refused, details already printed", err: &refusedError{}, want: 1, wantStderr: ""},
		{name: "wrapped refusal", err: fmt.Errorf("enqueue: %w", &refusedError{msg: "x"}), want: 1, wantStderr: "flexlabel: x\n"},
		{name: "operational", err: errors.New("redis down"), want: 2, wantStderr: "flexlabel: redis down\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			require.Equal(t, tt.want, exitCode(tt.err, &stderr))
			require.Equal(t, tt.wantStderr, stderr.String())
		})
	}
}

// buildFlexlabel builds the command into a temporary directory.
func buildFlexlabel(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "flexlabel")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

func TestBinary_WorkerWithEmptyEnvironment_ExitsTwoAtOnce(t *testing.T) {
	t.Parallel()
	bin := buildFlexlabel(t)

	// Exiting within a second shows the worker refuses the configuration
	// before it tries to reach Redis or the API.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "worker")
	cmd.Env = []string{} // empty, not nil: nil would inherit ours
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "flexlabel worker did not exit within 1s; stderr:\n%s", stderr.String())

	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 2, exitErr.ExitCode(), "stderr:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "FLEXFORWARD_TOKEN")
	require.Empty(t, stdout.String())
}
