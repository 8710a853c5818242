package shardactor

import (
	"io"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
)

// TestRecordAllocatesNothing: recording a frame costs its writes and nothing else.
func TestRecordAllocatesNothing(t *testing.T) {
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		s, err := Config{Token: "t", URL: "ws://127.0.0.1/", WireFormat: f, Record: io.Discard}.settings()
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(&Shard{cfg: s})
		frame := []byte(`{"type":"ChannelStartTyping","id":"c","user":"u"}`)
		if n := testing.AllocsPerRun(100, func() { rec.frame(frame, s.Logger) }); n != 0 {
			t.Errorf("%s: %v allocations per frame", f, n)
		}
	}
}
