//go:build !linux

package queuetest

import "syscall"

// sysProcAttr is nil off Linux, which has no parent-death signal: a test
// binary that dies without running Main leaves its redis-server behind.
func sysProcAttr() *syscall.SysProcAttr { return nil }
