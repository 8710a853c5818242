package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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
