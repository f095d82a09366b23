package queuetest

import (
	"os/exec"
	"runtime"
)

// StartChild starts cmd so that the kernel kills it when the test binary
// dies (on Linux, a parent-death signal), as the servers this package
// starts are: a test that runs a redis-server of its own (deploy's
// redis.conf recipes) leaves no orphan when the binary is killed. It sets
// cmd.SysProcAttr. done is closed once the child has exited and cmd.Wait
// has returned; the caller must not call Wait itself.
func StartChild(cmd *exec.Cmd) (done <-chan struct{}, err error) {
	cmd.SysProcAttr = sysProcAttr()
	ch := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that started the
		// child exits, not the process, and the runtime may retire idle
		// threads: this goroutine keeps its thread until the child is gone.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
			close(ch)
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return ch, nil
}
