package shardactor_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/bench/server"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// BenchmarkReader measures the reader path alone: the benchmark's frame server (package
// bench/server, in this process, on loopback) writes b.N MessageCreate frames into 100 channels
// as fast as the shard reads them, and the Sink does nothing but count. One op is one frame, from
// the Ready's delivery to the last message's; allocs/op and B/op are the process's per frame (the
// server writes frames encoded beforehand and allocates next to nothing), goroutines/frame is
// runtime/metrics' /sched/goroutines-created over the same span. Compare builds interleaved:
//
//	go test ./shardactor -run '^$' -bench 'Reader' -benchtime 300000x -count 3 -benchmem
func BenchmarkReader(b *testing.B) {
	for _, f := range formats {
		b.Run(f.String(), func(b *testing.B) { benchReader(b, f, nil) })
	}
}

// BenchmarkReaderRecording is BenchmarkReader with Config.Record set: a buffered writer into
// io.Discard, the cost of recording without the file system's.
func BenchmarkReaderRecording(b *testing.B) {
	for _, f := range formats {
		b.Run(f.String(), func(b *testing.B) { benchReader(b, f, bufio.NewWriterSize(io.Discard, 1<<20)) })
	}
}

// benchReader runs BenchmarkReader's measure for format f, recording into record if it is set.
func benchReader(b *testing.B, f bonfire.Format, record io.Writer) {
	spec := stream.Spec{Format: f, Seed: 1, Servers: 10, ChannelsPerServer: 10, Users: 1000,
		MembersPerServer: 100, Events: b.N}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- server.ListenAndServe(ctx, spec, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	var url string
	select {
	case url = <-addr:
	case err := <-served:
		b.Fatal(err)
	}

	// The Sink runs on the reader goroutine: the counter needs no lock. It holds the reader
	// at the Ready until the timer is reset, so that the timed span is the messages alone.
	ready, start, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	n := 0
	sink := func(_ context.Context, ev stoatpb.Event, _ int) error {
		switch ev.(type) {
		case *stoatpb.ReadyEvent:
			close(ready)
			<-start
		case *stoatpb.MessageCreateEvent:
			if n++; n == b.N {
				close(done)
			}
		}
		return nil
	}
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
	))
	defer sys.Shutdown()
	sh, err := shardactor.Spawn(ctx, sys, shardactor.Config{Name: "bench", URL: "ws://" + url + "/events",
		Token: "bench-token", WireFormat: f, MaxFrameSize: 64 << 20, Logger: slog.New(slog.DiscardHandler), Record: record}, sink)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		sh.Stop()
		<-sh.Done()
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		b.Fatalf("no Ready; stats %+v", sh.Stats())
	}
	created := goroutinesCreated()
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d messages; stats %+v", n, b.N, sh.Stats())
	}
	b.StopTimer()
	b.ReportMetric(float64(goroutinesCreated()-created)/float64(b.N), "goroutines/frame")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// goroutinesCreated returns how many goroutines the process has started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
