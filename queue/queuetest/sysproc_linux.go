package queuetest

import "syscall"

// sysProcAttr makes the kernel kill redis-server when the test binary dies,
// however it dies (even SIGKILL from a go test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
