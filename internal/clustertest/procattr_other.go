//go:build !linux

package clustertest

import "syscall"

// childProcAttr is nil where there is no parent-death signal: a server that outlives a crashed
// test binary must be stopped by hand.
func childProcAttr() *syscall.SysProcAttr { return nil }
