package queuetest_test

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// A child started with StartChild carries the parent-death signal, and done
// closes once it has exited.
func TestStartChild_ParentDeathSignalAndDone(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep") // coreutils
	require.NoError(t, err)
	cmd := exec.Command(sleep, "60")
	done, err := queuetest.StartChild(cmd)
	require.NoError(t, err)
	require.NotNil(t, cmd.SysProcAttr)
	require.Equal(t, syscall.SIGKILL, cmd.SysProcAttr.Pdeathsig)
	select {
	case <-done:
		t.Fatal("done closed while the child runs")
	default:
	}
	require.NoError(t, cmd.Process.Kill())
	<-done
}
