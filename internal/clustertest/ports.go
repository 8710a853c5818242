// Package clustertest is test support for ermine's cluster mode, built on protoactor-go's cluster:
// free loopback ports, a throw-away etcd server (StartEtcd), quiet actor systems whose logs are shown
// only when a test fails, and a check of each member's view of the cluster against etcd
// (CompareMembership, PollMembership) that covers the etcd provider's watch race.
//
// Its tests (protoactor_test.go) are probes: each one pins a failure path of the pinned protoactor-go
// version, so that an upgrade that fixes or changes one of them shows up as a failing probe.
package clustertest

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free when it was asked for.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free when they were asked for.
// Another process may still take one before the caller binds it; StartEtcd retries for that reason.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	// Every listener stays open until all n are taken, so that the kernel hands out n distinct ports.
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("clustertest: free port: %v", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
