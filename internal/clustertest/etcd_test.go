package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 5)
	if len(ports) != 5 {
		t.Fatalf("FreePorts(5) = %v", ports)
	}
	for i, p := range ports {
		if p <= 0 || slices.Contains(ports[i+1:], p) {
			t.Fatalf("FreePorts(5) = %v: want 5 distinct ports", ports)
		}
	}
	if p := FreePort(t); p <= 0 {
		t.Fatalf("FreePort = %d", p)
	}
}

// endTB records how a helper ended the test: Skipf and Fatalf end the goroutine, as testing's do.
type endTB struct {
	testing.TB
	skipped, fatal string
}

func (r *endTB) Helper() {}

func (r *endTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *endTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runStartEtcd runs StartEtcd on a recording TB and returns how it ended the test.
func runStartEtcd(t *testing.T) *endTB {
	r := &endTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartEtcd(r)
	}()
	<-done
	return r
}

func TestStartEtcdWithoutBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no etcd there
	t.Setenv("CI", "")
	if r := runStartEtcd(t); r.fatal == "" || r.skipped != "" {
		t.Errorf("CI set: skipped %q, fatal %q; want a failure", r.skipped, r.fatal)
	}
	if err := os.Unsetenv("CI"); err != nil { // t.Setenv restores it
		t.Fatal(err)
	}
	if r := runStartEtcd(t); r.skipped == "" || r.fatal != "" || !strings.Contains(r.skipped, "install-tools.sh") {
		t.Errorf("CI unset: skipped %q, fatal %q; want a skip that names install-tools.sh", r.skipped, r.fatal)
	}
}

func TestStartEtcdThatExits(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'listen tcp 127.0.0.1:1: bind: address already in use' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	r := runStartEtcd(t)
	if strings.Count(r.fatal, "exited before it was healthy") != etcdStartAttempts || !strings.Contains(r.fatal, "address already in use") {
		t.Fatalf("fatal %q: want %d attempts, each with etcd's log", r.fatal, etcdStartAttempts)
	}
}

func TestStartEtcd(t *testing.T) {
	endpoint := StartEtcd(t)
	c := EtcdClient(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Status(ctx, endpoint); err != nil {
		t.Fatalf("status of %s: %v", endpoint, err)
	}
	// Registrations as protoactor's etcd provider writes them, and a neighbour cluster whose
	// name starts the same.
	for key, id := range map[string]string{
		"/protoactor/chat/chat@a":  "chat@a",
		"/protoactor/chat/chat@b":  "chat@b",
		"/protoactor/chat2/chat@c": "chat2@c",
	} {
		if _, err := c.Put(ctx, key, fmt.Sprintf(`{"id":%q,"host":"127.0.0.1","port":1,"alive":true}`, id)); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := EtcdMemberIDs(ctx, c, "/protoactor", "chat")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"chat@a", "chat@b"}; !slices.Equal(ids, want) {
		t.Fatalf("EtcdMemberIDs = %v, want %v", ids, want)
	}

	// Poll reports a view that lacks a registration on two reads in a row, and not one that
	// caught up in between.
	complete, lagging := &Topology{changed: make(chan struct{})}, &Topology{changed: make(chan struct{})}
	complete.ids, lagging.ids = []string{"chat@a", "chat@b"}, []string{"chat@a"}
	check := &MembershipCheck{Client: c, BaseKey: "/protoactor", ClusterName: "chat",
		Views: map[string]*Topology{"chat@a": complete, "chat@b": lagging}}
	reports := make(chan []Divergence, 10)
	go check.Poll(ctx, 20*time.Millisecond, func(divs []Divergence, err error) {
		if err != nil {
			t.Errorf("poll: %v", err)
		}
		reports <- divs
	})
	want := []Divergence{{Member: "chat@b", Missing: []string{"chat@b"}}}
	if got := <-reports; !equalDivergences(got, want) {
		t.Fatalf("Poll reported %v, want %v", got, want)
	}
	lagging.mu.Lock()
	lagging.ids = []string{"chat@a", "chat@b"}
	lagging.mu.Unlock()
	for got := range reports {
		if len(got) == 0 {
			break
		}
		if !equalDivergences(got, want) {
			t.Fatalf("Poll reported %v while the view caught up", got)
		}
	}
	cancel()
}
