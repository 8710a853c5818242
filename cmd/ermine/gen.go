package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
)

// runGen writes a synthetic stream: the Ready of a world, then events, one frame per line
// (JSONL) or length-prefixed msgpack frames; the same seed always gives the same bytes.
func runGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	w := synth.Small(1)
	fs.Uint64Var(&w.Seed, "seed", 1, "random seed")
	fs.IntVar(&w.Servers, "servers", w.Servers, "servers")
	fs.IntVar(&w.ChannelsPerServer, "channels", w.ChannelsPerServer, "channels per server")
	fs.IntVar(&w.Users, "users", w.Users, "users")
	fs.IntVar(&w.MembersPerServer, "members", w.MembersPerServer, "members per server")
	fs.IntVar(&w.RolesPerServer, "roles", w.RolesPerServer, "roles per server")
	fs.IntVar(&w.EmojisPerServer, "emojis", w.EmojisPerServer, "emojis per server")
	events := fs.Int("events", 10000, "events after the Ready")
	format := fs.String("format", "json", "json (JSONL) or msgpack (4-byte big-endian length before each frame)")
	out := fs.String("o", "-", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
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
	bw := bufio.NewWriterSize(dst, 1<<20)
	g := synth.New(w)
	var buf []byte
	write := func(ev stoatpb.Event) error {
		var err error
		if buf, err = bonfire.AppendFrame(buf[:0], f, ev); err != nil {
			return err
		}
		if f == bonfire.Msgpack {
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], uint32(len(buf)))
			bw.Write(n[:])
			_, err = bw.Write(buf)
			return err
		}
		bw.Write(buf)
		return bw.WriteByte('\n')
	}
	if err := write(g.Ready()); err != nil {
		return err
	}
	for i := 0; i < *events; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := write(g.Next()); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return bw.Flush()
}
