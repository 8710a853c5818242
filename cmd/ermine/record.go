package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// runRecord connects to a Stoat API (the real one, or `ermine fakeserver`) as a bot and records
// every frame the connection receives into a file that `ermine replay` reads, until --duration
// has passed or it is interrupted. Reconnects are recorded as such (see runReplay).
func runRecord(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	out := fs.String("out", "", "the recording's file (- for stdout)")
	api := fs.String("api", "https://api.stoat.chat", "the API URL; the events URL is discovered from it")
	events := fs.String("events", "", "the events WebSocket URL, if it is not to be discovered")
	token := fs.String("token", "", "the bot token; prefer --token-env, since a flag shows in the process list")
	tokenEnv := fs.String("token-env", "STOAT_TOKEN", "the environment variable holding the token, when --token is empty")
	format := fs.String("format", "json", "wire format and recording format: json (JSONL) or msgpack (length-prefixed)")
	duration := fs.Duration("duration", 0, "how long to record (0: until interrupted)")
	verbose := fs.Bool("v", false, "log the connection's warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errors.New("usage: ermine record --out FILE [--api URL] [--token-env VAR] [--format json|msgpack] [--duration D]")
	}
	tok := *token
	if tok == "" {
		tok = os.Getenv(*tokenEnv)
	}
	if tok == "" {
		return fmt.Errorf("no token: set $%s or --token", *tokenEnv)
	}
	f, err := bonfire.ParseFormat(*format)
	if err != nil {
		return err
	}
	dst := os.Stdout
	if *out != "-" {
		if dst, err = os.Create(*out); err != nil {
			return err
		}
		defer dst.Close()
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	bw := bufio.NewWriterSize(dst, 1<<20)
	// No backfill nor member-list refetch: a recording holds the frames the connection read;
	// what the bot would fetch over REST after a reconnect is not in it.
	bot, err := ermine.New(ermine.Config{Token: tok, APIURL: *api, EventsURL: *events, WireFormat: f, Logger: logger, Record: bw,
		Backfill: ermine.BackfillConfig{Channels: -1, MemberLists: -1}})
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	start := time.Now()
	runErr := bot.Run(ctx) // the recording is written until Run returns
	flushErr := bw.Flush()
	if *out != "-" {
		flushErr = errors.Join(flushErr, dst.Close())
	}
	st := bot.Stats().Shard
	fmt.Fprintf(os.Stderr, "record: %d frames (%d bytes) over %d connections in %v; %d failed writes\n",
		st.Frames, st.Bytes, st.Connects, time.Since(start).Round(time.Millisecond), st.RecordErrors)
	if st.RecordErrors > 0 {
		flushErr = errors.Join(flushErr, fmt.Errorf("%d frames were not recorded whole", st.RecordErrors))
	}
	return errors.Join(runErr, flushErr)
}
