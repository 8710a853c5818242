package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// runReplay feeds a recorded stream through the real pipeline (decoder, router, owners, cache)
// with no network and prints the cache as one canonical JSON document.
//
// JSONL input: one server→client frame per line, as it came over the wire. Msgpack input: each
// frame preceded by its length as a 4-byte big-endian integer. Both are what `ermine gen` writes
// and what `ermine record` (Config.Record) records. A recording's connect marker
// (shardactor.ConnectMarker, {"type":"ermine.Connect"}) stands where a connection began: replay
// delivers a BeforeConnectEvent and an AfterConnectEvent (with no URL) there, as the connection
// does, and the recorded Authenticated and Ready that follow it do the rest of a reconnect (the
// Ready replaces the cache's entity sets).
func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	format := fs.String("format", "json", "frame format: json (JSONL) or msgpack (length-prefixed)")
	stats := fs.Bool("stats", false, "print events/s and memory to stderr")
	verbose := fs.Bool("v", false, "log malformed frames and other warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: ermine replay [--format json|msgpack] [--stats] FILE")
	}
	f, err := bonfire.ParseFormat(*format)
	if err != nil {
		return err
	}
	in, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()

	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	bot, err := ermine.New(ermine.Config{Logger: logger})
	if err != nil {
		return err
	}
	defer bot.Close(context.Background())

	fd, err := feed.Start(ctx, bot)
	if err != nil {
		return err
	}
	start := time.Now()
	n, bad, err := replayFrames(ctx, fd, in, f, logger)
	if err != nil {
		return err
	}
	if err := fd.Drain(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if err := bot.Cache().WriteCanonicalJSON(os.Stdout); err != nil {
		return err
	}
	if *stats {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(os.Stderr, "replay: %d events (%d malformed frames) in %v: %.0f events/s; heap in use %.1f MiB\n",
			n, bad, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(ms.HeapInuse)/(1<<20))
		st := bot.Cache().Stats()
		for _, k := range []struct {
			name string
			s    cacheactors.KindStats
		}{{"users", st.Users}, {"servers", st.Servers}, {"channels", st.Channels}, {"members", st.Members},
			{"messages", st.Messages}, {"emojis", st.Emojis}, {"voice states", st.VoiceStates},
			{"read states", st.ReadStates}, {"webhooks", st.Webhooks}, {"total", st.Total()}} {
			fmt.Fprintf(os.Stderr, "replay: cached %-12s %8d entries  ~%.1f KiB\n", k.name, k.s.Entries, float64(k.s.Bytes)/1024)
		}
	}
	return nil
}

// replayFrames decodes every frame of r and ingests its events; malformed frames are counted
// (and logged with -v) and skipped, as on a live connection. A connect marker becomes the
// synthetic events of a connection.
func replayFrames(ctx context.Context, fd *feed.Feed, r io.Reader, f bonfire.Format, logger *slog.Logger) (events, malformed int, err error) {
	dec := bonfire.NewDecoder(f)
	src := fd.Source("replay")
	marker := shardactor.ConnectMarker(f)
	var evs []stoatpb.Event
	next := frameReader(r, f)
	for {
		frame, err := next()
		if err == io.EOF {
			return events, malformed, nil
		}
		if err != nil {
			return events, malformed, err
		}
		if bytes.Equal(frame, marker) {
			for _, ev := range []stoatpb.Event{&stoatpb.BeforeConnectEvent{}, &stoatpb.AfterConnectEvent{}} {
				ev.SetShard("replay")
				if err := src.Ingest(ctx, ev); err != nil {
					return events, malformed, err
				}
				events++
			}
			continue
		}
		evs, err = dec.Decode(frame, evs[:0])
		if err != nil {
			malformed++
			if logger != nil {
				logger.Warn("malformed frame", "err", err)
			}
		}
		share := 0
		if len(evs) > 0 {
			share = len(frame) / len(evs) // as the shard does: a Bulk frame's bytes shared
		}
		for _, ev := range evs {
			ev.SetShard("replay")
			if err := src.IngestSized(ctx, ev, share); err != nil {
				return events, malformed, err
			}
			events++
		}
	}
}

func frameReader(r io.Reader, f bonfire.Format) func() ([]byte, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if f == bonfire.JSON {
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		return func() ([]byte, error) {
			for sc.Scan() {
				if line := sc.Bytes(); len(line) > 0 {
					return line, nil
				}
			}
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("reading frames: %w", err)
			}
			return nil, io.EOF
		}
	}
	var buf []byte
	return func() ([]byte, error) {
		var size [4]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading a frame length: %w", err)
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > 256<<20 {
			return nil, fmt.Errorf("frame of %d bytes exceeds the 256 MiB limit", n)
		}
		buf = append(buf[:0], make([]byte, n)...)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("reading a frame of %d bytes: %w", n, err)
		}
		return buf, nil
	}
}
