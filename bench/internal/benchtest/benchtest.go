// Package benchtest starts the benchmark's frame server on loopback for tests of the bots.
package benchtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/bench/server"
	"github.com/ermine-rt/ermine/bench/stream"
)

// Serve serves spec's stream on loopback until the test ends and returns its events URL.
func Serve(t testing.TB, spec stream.Spec) string {
	t.Helper()
	st, err := stream.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	clk, err := clock.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.New(st, clk, slog.New(slog.NewTextHandler(io.Discard, nil))).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "ws://" + ln.Addr().String() + "/events"
}
