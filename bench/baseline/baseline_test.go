package baseline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/bench/internal/benchtest"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// TestCachesAndHandles runs the quick bot over the frame server: the Ready and every message
// land in its cache, and its handler sees every message.
func TestCachesAndHandles(t *testing.T) {
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(f.String(), func(t *testing.T) {
			spec := stream.Spec{Format: f, Seed: 1, Servers: 2, ChannelsPerServer: 5, Users: 30, MembersPerServer: 10, Events: 1000}
			url := benchtest.Serve(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b := New()
			var ready atomic.Bool
			var n atomic.Int64
			b.OnReady = func() { ready.Store(true) }
			b.OnMessage = func(msg map[string]any) {
				if c, _ := msg["content"].(string); c == "" {
					t.Errorf("message without content: %v", msg)
				}
				if n.Add(1) == int64(spec.Events) {
					cancel()
				}
			}
			if err := b.Run(ctx, url, "x", f.String(), 64<<20); err != nil {
				t.Fatal(err)
			}
			got := b.Counts()
			if !ready.Load() || n.Load() != int64(spec.Events) || got["messages"] != spec.Events || got["channels"] != 10 ||
				got["users"] != 31 || got["members"] != 22 || got["servers"] != 2 {
				t.Fatalf("ready %v, %d messages handled, cache %v", ready.Load(), n.Load(), got)
			}
		})
	}
}
