package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/ermine-rt/ermine/stoattest"
)

// runFakeServer serves a fake Stoat (REST API and events WebSocket) until interrupted, so that
// any client (ermine, stoat.js, a bot under development) can connect with no account.
func runFakeServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakeserver", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	seed := fs.Uint64("seed", 1, "seed of the world")
	noLimits := fs.Bool("no-rate-limits", false, "disable REST rate limits")
	verbose := fs.Bool("v", false, "log requests and connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []stoattest.Option{stoattest.WithWorld(stoattest.SmallWorld(*seed))}
	if *noLimits {
		opts = append(opts, stoattest.WithoutRateLimits())
	}
	if *verbose {
		opts = append(opts, stoattest.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	}
	srv, err := stoattest.Start(ctx, *listen, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("fake Stoat serving\n  API:    %s\n  events: %s\n  token:  %s\n", srv.URL, srv.EventsURL(), srv.Token())
	select {
	case <-ctx.Done():
	case <-srv.Done():
	}
	return nil
}
