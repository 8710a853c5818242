package ermbot

import (
	"context"
	"testing"

	"github.com/ermine-rt/ermine/bench/internal/benchtest"
	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/bench/measure"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// TestRun runs the ermine bot over the frame server with each handler and checks that every
// MessageCreate handler ran, the cache holds the world, and latency was recorded.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		f       bonfire.Format
		handler string
	}{{bonfire.JSON, measure.HandlerNoop}, {bonfire.Msgpack, measure.HandlerCPU}, {bonfire.JSON, measure.HandlerWait}} {
		t.Run(tc.f.String()+"/"+tc.handler, func(t *testing.T) {
			spec := stream.Spec{Format: tc.f, Seed: 1, Servers: 2, ChannelsPerServer: 5, Users: 30, MembersPerServer: 10, Events: 1000}
			url := benchtest.Serve(t, spec)
			clk, err := clock.New()
			if err != nil {
				t.Fatal(err)
			}
			ms := measure.Spec{URL: url + "?rate=20000", Token: "x", Format: tc.f.String(), Expect: spec.Events, Handler: tc.handler,
				Latency: true, Memory: true, TimeoutMS: 30_000}
			ctx, cancel := context.WithTimeout(context.Background(), ms.Timeout())
			defer cancel()
			rep, err := Run(ctx, ms, measure.NewRecorder(ms, clk))
			if err != nil {
				t.Fatal(err)
			}
			if rep.TimedOut || rep.Handled != int64(spec.Events) || rep.Rate <= 0 || rep.Latency == nil || rep.Latency.Count != int64(spec.Events) {
				t.Fatalf("report %+v", rep)
			}
			if c := rep.Cached; c["messages"] != spec.Events || c["channels"] != 10 || c["servers"] != 2 || rep.RSS == 0 {
				t.Fatalf("cached %v, RSS %d", c, rep.RSS)
			}
		})
	}
}

// TestReadyOnly stops once the Ready is in the cache.
func TestReadyOnly(t *testing.T) {
	spec := stream.Spec{Format: bonfire.JSON, Seed: 1, Servers: 20, ChannelsPerServer: 10, Users: 500, MembersPerServer: 50}
	url := benchtest.Serve(t, spec)
	clk, err := clock.New()
	if err != nil {
		t.Fatal(err)
	}
	ms := measure.Spec{URL: url, Token: "x", Format: "json", Memory: true, TimeoutMS: 30_000}
	ctx, cancel := context.WithTimeout(context.Background(), ms.Timeout())
	defer cancel()
	rep, err := Run(ctx, ms, measure.NewRecorder(ms, clk))
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReadySeconds <= 0 || rep.Cached["members"] != 20*51 || rep.Cached["channels"] != 200 {
		t.Fatalf("report %+v", rep)
	}
}
