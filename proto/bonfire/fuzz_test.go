package bonfire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeJSON checks that no input panics, that every failure is a *FrameError, that skipped
// items are reported inside the frame, that whatever decodes survives a msgpack round trip
// unchanged, and that a Decoder that has decoded other frames, and the input, before (its memo
// of embedded objects warm) decodes exactly as a new one.
func FuzzDecodeJSON(f *testing.F) {
	for _, dir := range []string{"frames", "malformed", "client"} {
		for _, fx := range fixtures(f, dir) {
			f.Add(fx.frame)
		}
	}
	warm := warmFrames(f, bonfire.JSON)
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkDecode(t, bonfire.JSON, frame, warm)
	})
}

// FuzzDecodeMsgpack is FuzzDecodeJSON for msgpack frames.
func FuzzDecodeMsgpack(f *testing.F) {
	for _, fx := range fixtures(f, "frames") {
		f.Add(toMsgpack(f, fx.frame))
	}
	warm := warmFrames(f, bonfire.Msgpack)
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkDecode(t, bonfire.Msgpack, frame, warm)
	})
}

// warmFrames returns the Message fixtures, whose user and member objects a Decoder remembers:
// the fuzzer's inputs grown from them often hold those objects intact.
func warmFrames(t testing.TB, format bonfire.Format) [][]byte {
	var out [][]byte
	for _, fx := range fixtures(t, "frames") {
		if strings.HasPrefix(fx.name, "Message") && bytes.Contains(fx.frame, []byte(`"user"`)) {
			if format == bonfire.Msgpack {
				fx.frame = toMsgpack(t, fx.frame)
			}
			out = append(out, fx.frame)
		}
	}
	return out
}

func checkDecode(t *testing.T, format bonfire.Format, frame []byte, warm [][]byte) {
	// The memo remembers an object the second time it comes, and reuses it from the third.
	wd := bonfire.NewDecoder(format)
	for range 2 {
		for _, fr := range warm {
			_, _ = wd.Decode(fr, nil)
		}
	}
	for range 3 {
		checkSameAsFresh(t, format, wd, frame)
	}
	dec := bonfire.NewDecoder(format)
	evs, err := dec.Decode(frame, nil)
	if err != nil {
		var fe *bonfire.FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("error is not a *FrameError: %v", err)
		}
	}
	items, n := dec.Skipped()
	if len(items) > n {
		t.Fatalf("%d skipped items described, %d counted", len(items), n)
	}
	for _, it := range items {
		if it.Err == nil || it.Offset < 0 || it.Offset >= len(frame) || it.Err.Offset < it.Offset || it.Err.Offset > len(frame) {
			t.Fatalf("skipped item %v outside the frame of %d bytes", it, len(frame))
		}
	}
	_, _ = bonfire.DecodeClientFrame(format, frame)
	for _, ev := range evs {
		if _, ok := ev.(*stoatpb.UnknownEvent); ok {
			continue
		}
		b, err := bonfire.AppendFrame(nil, bonfire.Msgpack, ev)
		if err != nil {
			t.Fatalf("encode %T: %v", ev, err)
		}
		again, err := bonfire.NewDecoder(bonfire.Msgpack).Decode(b, nil)
		if err != nil {
			t.Fatalf("re-decode %T: %v", ev, err)
		}
		if len(again) != 1 || !proto.Equal(again[0], ev) {
			t.Fatalf("round trip changed the event:\n got %v\nwant %v", again, ev)
		}
	}
}
