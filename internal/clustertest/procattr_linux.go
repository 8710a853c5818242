package clustertest

import "syscall"

// childProcAttr has the kernel kill a server that a test starts when the test binary dies
// (a panic, a timeout, a kill) before its cleanup could stop it. Pdeathsig follows the thread
// that started the child, which Go keeps unless a goroutine exits locked to it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
