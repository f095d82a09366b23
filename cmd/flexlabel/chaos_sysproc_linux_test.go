//go:build chaos && linux

package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// chaosSysProcAttr makes the kernel kill a child when the test binary dies,
// however it dies (even SIGKILL from a go test timeout). The signal fires
// when the thread that started the child exits, so startProc holds that
// thread until the child is gone.
func chaosSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// cpuTime is the CPU time (user + system) a process has used so far, read
// from /proc/<pid>/stat; -1 if it cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may contain spaces; fields after it are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const clkTck = 100 // USER_HZ on every Linux we run on
	return time.Duration(utime+stime) * time.Second / clkTck
}
