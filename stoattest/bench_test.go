package stoattest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// BenchmarkPush measures how fast the server streams Message events to one connection that reads
// them without decoding: the ceiling the fake server puts on end-to-end benchmarks. "event"
// encodes each event in Push, "raw" pushes a pre-encoded frame, "bulk100" sends Bulk frames of
// 100 events (events/s counts events, not frames).
func BenchmarkPush(b *testing.B) {
	for _, f := range formats {
		for _, mode := range []string{"event", "raw", "bulk100"} {
			b.Run(f.String()+"/"+mode, func(b *testing.B) { benchPush(b, f, mode) })
		}
	}
}

func benchPush(b *testing.B, f bonfire.Format, mode string) {
	const window = 1 << 12 // frames in flight, well within the send queue
	srv := stoattest.NewServer(b, stoattest.WithQueueSize(4*window))
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, srv.EventsURL()+"?format="+f.String()+"&token="+srv.Token(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(16 << 20)
	for range 2 { // Authenticated, Ready
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	w := srv.World()
	ev := &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: "01KDX000000000000000000000", Channel: w.Channels[0].Id,
		Author: w.Users[0].Id, Content: "a benchmark message of ordinary length, with an ordinary author", User: w.Users[0]}}
	frame, _ := bonfire.AppendFrame(nil, f, ev)
	perFrame := 1
	var bulk []stoatpb.Event
	if mode == "bulk100" {
		perFrame = 100
		for range perFrame {
			bulk = append(bulk, ev)
		}
	}
	frames := (b.N + perFrame - 1) / perFrame
	b.SetBytes(int64(len(frame)))

	var read atomic.Int64
	caughtUp := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		for i := range frames {
			if _, _, err := ws.Read(ctx); err != nil {
				done <- err
				return
			}
			read.Store(int64(i + 1))
			select {
			case caughtUp <- struct{}{}:
			default:
			}
		}
		done <- nil
	}()
	b.ResetTimer()
	for i := range frames {
		for int64(i)-read.Load() >= window {
			<-caughtUp
		}
		switch mode {
		case "event":
			err = srv.Push(ev)
		case "raw":
			typ := websocket.MessageText
			if f == bonfire.Msgpack {
				typ = websocket.MessageBinary
			}
			srv.PushRaw(typ, frame)
		case "bulk100":
			err = srv.PushBulk(bulk...)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(frames*perFrame)/b.Elapsed().Seconds(), "events/s")
}
