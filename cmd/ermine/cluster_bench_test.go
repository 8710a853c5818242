package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// BenchmarkClusterThroughput streams b.N MessageCreate events into 60 channels to a bot run as
// 1 or 3 `ermine node` processes on this machine, and reports events/s until the last handler
// has run, and the CPU time all the node processes spent per event (user + system, from
// /proc/PID/stat): what an owner on another node costs over one in the reader's process.
//
//	go test -run '^$' -bench ClusterThroughput -benchtime 200000x ./cmd/ermine
func BenchmarkClusterThroughput(b *testing.B) {
	bin, err := buildErmine()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			srv := stoattest.NewServer(b, stoattest.WithWorld(clusterWorld()), stoattest.WithoutRateLimits(), stoattest.WithQueueSize(b.N+1000))
			nodes := startNodes(b, bin, srv, n, "")
			waitConnected(b, nodes)
			w := srv.World()
			chans := w.Servers[0].Channels
			author := w.Self.GetId()
			events := make([]stoatpb.Event, b.N)
			for i := range events {
				events[i] = &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: fmt.Sprintf("01BENCH%019d", i), Channel: chans[i%len(chans)], Author: author, Content: "hello"}}
			}
			cpu0 := nodesCPU(nodes)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < len(events); i += 1000 {
				if err := srv.Push(events[i:min(i+1000, len(events))]...); err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, 5*time.Minute, "every event handled", func() (bool, string) {
				total := 0.0
				for _, nd := range nodes {
					total += handledCount(nd.admin)
				}
				return int(total) >= b.N, fmt.Sprintf("%v of %d", total, b.N)
			})
			elapsed := time.Since(start)
			b.StopTimer()
			cpu := nodesCPU(nodes) - cpu0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/event")
		})
	}
}

// nodesCPU sums the user and system CPU time of the nodes' processes.
func nodesCPU(nodes []*node) time.Duration {
	var total time.Duration
	for _, n := range nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which is in parentheses): utime is the 14th field, stime the 15th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ = 100)
	}
	return total
}
