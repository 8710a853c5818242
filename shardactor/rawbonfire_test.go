package shardactor_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// rawBonfire is a minimal Bonfire endpoint for frames stoattest cannot produce (a malformed
// Ready), or must not touch (huge frames, which its writer would buffer and so allocate in the
// test's process): it sends Authenticated, then ready verbatim, answers Pings, and writes every
// frame sent on its frames channel, as it is, without copying.
type rawBonfire struct {
	url    string
	format bonfire.Format
	frames chan []byte
	// written receives the size of each frame from frames once written.
	written chan int
}

func newRawBonfire(t testing.TB, f bonfire.Format, ready []byte) *rawBonfire {
	t.Helper()
	rb := &rawBonfire{format: f, frames: make(chan []byte), written: make(chan int, 16)}
	typ := websocket.MessageText
	if f == bonfire.Msgpack {
		typ = websocket.MessageBinary
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		authenticated, err := bonfire.AppendFrame(nil, f, &stoatpb.AuthenticatedEvent{})
		if err != nil {
			t.Error(err)
			return
		}
		if c.Write(ctx, typ, authenticated) != nil || c.Write(ctx, typ, ready) != nil {
			return
		}
		go func() { // answer Pings until the connection ends
			defer c.CloseNow()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				m, err := bonfire.DecodeClientFrame(f, b)
				if ping, ok := m.(*stoatpb.PingFrame); err == nil && ok {
					pong, _ := bonfire.AppendFrame(nil, f, &stoatpb.PongEvent{Data: ping.GetData()})
					if c.Write(ctx, typ, pong) != nil {
						return
					}
				}
			}
		}()
		for {
			select {
			case b := <-rb.frames:
				if c.Write(ctx, typ, b) != nil {
					return
				}
				rb.written <- len(b)
			case <-ctx.Done():
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	rb.url = "ws://" + ts.Listener.Addr().String() + "/"
	return rb
}

// send writes frame to the connected client.
func (rb *rawBonfire) send(t testing.TB, frame []byte) {
	t.Helper()
	select {
	case rb.frames <- frame:
	case <-time.After(waitTimeout):
		t.Fatal("no connection took the frame")
	}
}

// config returns a shard config for the endpoint with the test intervals and a heartbeat that
// a loaded machine will not miss.
func (rb *rawBonfire) config(logger *slog.Logger) shardactor.Config {
	return shardactor.Config{
		Name:             "shard-test",
		URL:              rb.url,
		Token:            "raw-token",
		WireFormat:       rb.format,
		PingInterval:     50 * time.Millisecond,
		PongTimeout:      5 * time.Second,
		HandshakeTimeout: 2 * time.Second,
		ReadyTimeout:     2 * time.Second,
		Backoff:          shardactor.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond, ResetAfter: time.Minute},
		Logger:           logger,
	}
}
