//go:build chaos && !linux

package main

import (
	"syscall"
	"time"
)

// chaosSysProcAttr: no parent-death signal outside Linux; t.Cleanup kills
// the children.
func chaosSysProcAttr() *syscall.SysProcAttr { return nil }

// cpuTime is not measured outside Linux.
func cpuTime(int) time.Duration { return -1 }
