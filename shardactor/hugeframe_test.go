package shardactor_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// hugeMessage returns a MessageCreate frame of about size bytes and the length of its content.
// The content is lines of text, so that in JSON it carries escapes (\n) like a real long message.
func hugeMessage(t testing.TB, f bonfire.Format, size int) (frame []byte, contentLen int) {
	t.Helper()
	line := strings.Repeat("the quick brown fox jumps over the lazy dog ", 2) + "\n"
	content := strings.Repeat(line, size/len(line))
	frame, err := bonfire.AppendFrame(nil, f, &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
		Id: "01MESSAGE", Channel: "01CHANNEL", Author: "01AUTHOR", Content: content,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return frame, len(content)
}

// messageCounter is a Sink that keeps only the last message (as a bot caching it would) and
// reports the content length of each one.
type messageCounter struct {
	ready    chan struct{}
	messages chan int
	last     *stoatpb.MessageCreateEvent // owned by the shard's reader goroutine
}

func newMessageCounter() *messageCounter {
	return &messageCounter{ready: make(chan struct{}, 1), messages: make(chan int, 16)}
}

func (m *messageCounter) sink(_ context.Context, ev stoatpb.Event, _ int) error {
	switch e := ev.(type) {
	case *stoatpb.ReadyEvent:
		m.ready <- struct{}{}
	case *stoatpb.MessageCreateEvent:
		m.last = e
		m.messages <- len(e.GetMessage().GetContent())
	}
	return nil
}

// waitMessage waits for the next message and checks its content length.
func (m *messageCounter) waitMessage(t testing.TB, want int) {
	t.Helper()
	select {
	case n := <-m.messages:
		if n != want {
			t.Fatalf("content of %d bytes, want %d", n, want)
		}
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the message")
	}
}

// hugeShard connects a shard to a raw endpoint in format f and waits for its (empty) Ready.
func hugeShard(t testing.TB, f bonfire.Format, logger *slog.Logger) (*rawBonfire, *messageCounter, *shardactor.Shard) {
	t.Helper()
	ready, err := bonfire.AppendFrame(nil, f, &stoatpb.ReadyEvent{})
	if err != nil {
		t.Fatal(err)
	}
	rb := newRawBonfire(t, f, ready)
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger.With("lib", "protoactor") }),
	))
	t.Cleanup(sys.Shutdown)
	mc := newMessageCounter()
	sh, err := shardactor.Spawn(context.Background(), sys, rb.config(logger), mc.sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sh.Stop()
		<-sh.Done()
	})
	select {
	case <-mc.ready:
	case <-time.After(waitTimeout):
		t.Fatalf("no Ready; stats %+v", sh.Stats())
	}
	return rb, mc, sh
}

// TestHugeFramesAllocateLittle: three 16 MiB frames over a loopback WebSocket are read into one
// buffer, sized once and reused, and decoded without copies beyond the content string itself:
// the reader allocates less than 2.5 times the payload per frame. Growing a fresh buffer for
// every frame by doubling, and unescaping into a doubling scratch buffer, cost several times
// more.
func TestHugeFramesAllocateLittle(t *testing.T) {
	const size, frames = 16 << 20, 3
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			frame, want := hugeMessage(t, f, size)
			logger, _ := newLogger(t)
			rb, mc, sh := hugeShard(t, f, logger)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range frames {
				rb.send(t, frame)
				mc.waitMessage(t, want)
			}
			runtime.ReadMemStats(&after)
			perFrame := float64(after.TotalAlloc-before.TotalAlloc) / frames
			ratio := perFrame / float64(len(frame))
			t.Logf("%d-byte frames: %.0f bytes allocated per frame, %.2f× the frame", len(frame), perFrame, ratio)
			if ratio > 2.5 {
				t.Errorf("the reader allocated %.2f× each frame's size, want < 2.5×", ratio)
			}
			if st := sh.Stats(); st.Frames < frames+2 || st.DecodeErrors != 0 || st.Reconnects != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// BenchmarkHugeFrames reads MessageCreate frames of 16 and 60 MiB over a loopback WebSocket; the
// Sink keeps the last message. B/op is what the process allocates per frame (the reader: the
// endpoint writes a frame encoded beforehand), alloc/frame that over the frame's size,
// base-RSS-MB the resident set before the timed frames (the endpoint's frame included) and
// peak-RSS-MB its high-water mark during them, where Linux lets it be reset. The three
// 60 MiB frames, one process per case so that the peaks are apart:
//
//	go test ./shardactor -run '^$' -bench 'HugeFrames/60MiB/json$' -benchtime 3x -benchmem
//	go test ./shardactor -run '^$' -bench 'HugeFrames/60MiB/msgpack$' -benchtime 3x -benchmem
func BenchmarkHugeFrames(b *testing.B) {
	for _, mib := range []int{16, 60} {
		for _, f := range formats {
			b.Run(strconv.Itoa(mib)+"MiB/"+f.String(), func(b *testing.B) {
				frame, want := hugeMessage(b, f, mib<<20)
				rb, mc, _ := hugeShard(b, f, slog.New(slog.DiscardHandler))
				var before, after runtime.MemStats
				debug.FreeOSMemory() // the frame's encoding left garbage: out of the baseline
				resetPeakRSS()
				base := rss("VmRSS:")
				runtime.ReadMemStats(&before)
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					rb.send(b, frame)
					mc.waitMessage(b, want)
				}
				b.StopTimer()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(frame)), "alloc/frame")
				if hwm := rss("VmHWM:"); hwm > 0 && base > 0 {
					b.ReportMetric(float64(base)/(1<<20), "base-RSS-MB")
					b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
				}
			})
		}
	}
}

// resetPeakRSS resets the process's peak resident set size (Linux: /proc/self/clear_refs).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// rss returns a size in bytes from /proc/self/status: the resident set ("VmRSS:") or its peak
// ("VmHWM:"), or 0 if unknown.
func rss(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(field)); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(v)), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
