package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
	"google.golang.org/protobuf/proto"
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
	if err := writeReady(bw, g, f); err != nil {
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

// writeReady writes the Ready frame of g's world object by object, so that a world of 100k
// servers never exists in memory as objects: JSON is streamed; msgpack needs the frame's length
// first, so its bytes (not its objects) are held until the end. It decodes to g.Ready().
func writeReady(w *bufio.Writer, g *synth.Generator, f bonfire.Format) error {
	wd := g.World()
	var body bytes.Buffer
	var buf []byte
	var err error
	item := func(m proto.Message) {
		if err != nil {
			return
		}
		buf, err = bonfire.AppendModel(buf[:0], f, m)
		body.Write(buf)
	}
	type list struct {
		key   string
		count int
		each  func(i int) proto.Message
	}
	lists := []list{
		{"users", 1, func(int) proto.Message { return g.Bot() }},
		{"servers", wd.Servers, func(i int) proto.Message { return g.Server(i) }},
		{"channels", wd.Servers * wd.ChannelsPerServer, func(i int) proto.Message {
			return g.Channel(i/max(1, wd.ChannelsPerServer), i%max(1, wd.ChannelsPerServer))
		}},
		{"members", wd.Servers, func(i int) proto.Message {
			return g.BotMember(i)
		}},
		{"emojis", wd.Servers * wd.EmojisPerServer, func(i int) proto.Message {
			return g.Emoji(i/max(1, wd.EmojisPerServer), i%max(1, wd.EmojisPerServer))
		}},
	}
	header := func(key string, n int) {
		if f == bonfire.JSON {
			body.WriteString(`,"` + key + `":[`)
			return
		}
		mpStr(&body, key)
		body.WriteByte(0xdd)
		binary.Write(&body, binary.BigEndian, uint32(n))
	}
	if f == bonfire.JSON {
		body.WriteString(`{"type":"Ready"`)
	} else {
		body.WriteByte(0x80 | byte(len(lists)+1))
		mpStr(&body, "type")
		mpStr(&body, "Ready")
	}
	for _, l := range lists {
		header(l.key, l.count)
		for i := 0; i < l.count; i++ {
			if f == bonfire.JSON && i > 0 {
				body.WriteByte(',')
			}
			item(l.each(i))
			if f == bonfire.JSON && body.Len() > 1<<20 {
				if _, err := w.Write(body.Bytes()); err != nil {
					return err
				}
				body.Reset()
			}
		}
		if f == bonfire.JSON {
			body.WriteByte(']')
		}
	}
	if err != nil {
		return err
	}
	if f == bonfire.JSON {
		body.WriteString("}\n")
	} else {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(body.Len()))
		w.Write(n[:])
	}
	_, err = w.Write(body.Bytes())
	return err
}

func mpStr(b *bytes.Buffer, s string) {
	b.WriteByte(0xa0 | byte(len(s)))
	b.WriteString(s)
}
