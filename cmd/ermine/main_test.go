package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/synth"
	"google.golang.org/protobuf/proto"
)

// TestDemo runs the README's first command briefly: the fake server, the bot and the stream.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := runDemo(ctx, []string{"--duration", "1s", "--rate", "2000"}); err != nil {
		t.Fatal(err)
	}
}

// TestGenThenReplay writes a synthetic stream and replays it through the pipeline.
func TestGenThenReplay(t *testing.T) {
	for _, format := range []string{"json", "msgpack"} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "stream")
			ctx := context.Background()
			if err := runGen(ctx, []string{"--events", "2000", "--format", format, "-o", file}); err != nil {
				t.Fatal(err)
			}
			out, err := os.CreateTemp(t.TempDir(), "cache")
			if err != nil {
				t.Fatal(err)
			}
			stdout := os.Stdout
			os.Stdout = out
			err = runReplay(ctx, []string{"--format", format, file})
			os.Stdout = stdout
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := out.Stat(); st.Size() < 1000 {
				t.Fatalf("replay printed %d bytes", st.Size())
			}
		})
	}
}

// TestStreamedReadyDecodesToReady checks the streamed Ready of `ermine gen` against the
// generator's Ready object, in both formats.
func TestStreamedReadyDecodesToReady(t *testing.T) {
	g := synth.New(synth.Small(3))
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		if err := writeReady(bw, g, f); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		frame := out.Bytes()
		if f == bonfire.Msgpack {
			frame = frame[4:]
		} else {
			frame = bytes.TrimSpace(frame)
		}
		evs, err := bonfire.NewDecoder(f).Decode(frame, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := g.Ready()
		want.Me = want.Users[len(want.Users)-1]
		if !proto.Equal(evs[0], want) {
			t.Fatalf("%s: the streamed Ready differs from Generator.Ready", f)
		}
	}
}
