package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// serve starts a server of spec on loopback for the test's duration.
func serve(t *testing.T, spec stream.Spec) (addr string, clk *clock.Clock) {
	t.Helper()
	st, err := stream.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if clk, err = clock.New(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(st, clk, slog.New(slog.NewTextHandler(io.Discard, nil))).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String(), clk
}

func spec(f bonfire.Format, events int) stream.Spec {
	return stream.Spec{Format: f, Seed: 1, Servers: 2, ChannelsPerServer: 5, Users: 30, MembersPerServer: 10, Events: events}
}

// TestHandshakeStreamAndPong connects as a client would: Authenticated, then Ready, then the
// events; a Ping sent meanwhile is answered with a Pong carrying its data.
func TestHandshakeStreamAndPong(t *testing.T) {
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(f.String(), func(t *testing.T) {
			const events = 500
			addr, _ := serve(t, spec(f, events))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws://"+addr+"/events?version=1&format="+f.String()+"&token=x", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(64 << 20)
			typ := websocket.MessageText
			if f == bonfire.Msgpack {
				typ = websocket.MessageBinary
			}
			ping, err := bonfire.AppendFrame(nil, f, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: 77}})
			if err != nil {
				t.Fatal(err)
			}
			dec := bonfire.NewDecoder(f)
			var order []string
			messages, pongs := 0, 0
			for messages < events || pongs == 0 {
				mt, data, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("after %v: %v", order, err)
				}
				if mt != typ {
					t.Fatalf("frame of type %v, want %v", mt, typ)
				}
				evs, err := dec.Decode(data, nil)
				if err != nil {
					t.Fatal(err)
				}
				switch ev := evs[0].(type) {
				case *stoatpb.AuthenticatedEvent, *stoatpb.ReadyEvent:
					order = append(order, ev.EventType().String())
					if len(order) == 2 {
						if err := c.Write(ctx, typ, ping); err != nil {
							t.Fatal(err)
						}
					}
				case *stoatpb.MessageCreateEvent:
					if len(order) != 2 {
						t.Fatalf("a message before Authenticated and Ready (%v)", order)
					}
					messages++
				case *stoatpb.PongEvent:
					if ev.GetData().GetNumber() != 77 {
						t.Fatalf("Pong %v", ev.GetData())
					}
					pongs++
				}
			}
			if strings.Join(order, ",") != "AuthenticatedEvent,ReadyEvent" {
				t.Fatalf("handshake %v", order)
			}
		})
	}
}

// TestPacedStamps checks the paced stream: events arrive at about the offered rate, each
// stamped with the server's clock when it was written.
func TestPacedStamps(t *testing.T) {
	const events, rate = 400, 2000 // 0.2 s
	addr, clk := serve(t, spec(bonfire.JSON, 1000))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/events?format=json&token=x&rate=2000&events=400", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	dec := bonfire.NewDecoder(bonfire.JSON)
	var first, last int64
	for n := 0; n < events; {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := dec.Decode(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		mc, ok := evs[0].(*stoatpb.MessageCreateEvent)
		if !ok {
			continue
		}
		now := clk.Now()
		stamp, ok := clock.ParseStamp(mc.GetMessage().GetContent())
		if !ok || stamp > now || stamp < last || now-stamp > int64(time.Second) {
			t.Fatalf("event %d: stamp %d, previous %d, now %d", n, stamp, last, now)
		}
		if n == 0 {
			first = stamp
		}
		last = stamp
		n++
	}
	if d := time.Duration(last - first); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("%d events at %d/s took %v", events, rate, d)
	}
}

func TestDiscard(t *testing.T) {
	addr, _ := serve(t, spec(bonfire.Msgpack, 2000))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rate, err := Discard(ctx, "ws://"+addr+"/events?format=msgpack&token=x", 2000)
	if err != nil || rate <= 0 {
		t.Fatalf("Discard: %v, %v", rate, err)
	}
}

func TestRefusesWrongFormatAndNoToken(t *testing.T) {
	addr, _ := serve(t, spec(bonfire.JSON, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, q := range []string{"format=msgpack&token=x", "format=json"} {
		if c, _, err := websocket.Dial(ctx, "ws://"+addr+"/events?"+q, nil); err == nil {
			c.CloseNow()
			t.Errorf("%s: connected", q)
		}
	}
}
