package shardactor_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// splitRecording cuts a recording into its frames, as `ermine replay` reads them.
func splitRecording(t *testing.T, rec []byte, f bonfire.Format) [][]byte {
	t.Helper()
	var frames [][]byte
	if f == bonfire.JSON {
		if len(rec) == 0 || rec[len(rec)-1] != '\n' {
			t.Fatalf("the recording does not end a line: %q", rec)
		}
		return bytes.Split(rec[:len(rec)-1], []byte("\n"))
	}
	for len(rec) > 0 {
		if len(rec) < 4 {
			t.Fatalf("a truncated length: %x", rec)
		}
		n := binary.BigEndian.Uint32(rec)
		if uint64(len(rec)-4) < uint64(n) {
			t.Fatalf("a frame of %d bytes with %d left", n, len(rec)-4)
		}
		frames = append(frames, rec[4:4+n])
		rec = rec[4+n:]
	}
	return frames
}

// TestRecord records a session with a reconnect: every frame received, in order and byte for
// byte, a connect marker before each connection's, nothing the shard sent, and no token.
func TestRecord(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			var out bytes.Buffer // written by the reader goroutine only, read once the shard is Done
			cfg := steady(testConfig(srv, f, logger))
			cfg.Record = &out
			rec := newRecorder()
			sh := spawn(t, newSystem(t, logger), cfg, rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })

			// A frame as the server wrote it, line breaks included (JSON whitespace).
			raw, typ := []byte("{\"type\":\"ChannelStartTyping\",\n\"id\":\"c\",\"user\":\"raw\"}"), websocket.MessageText
			if f == bonfire.Msgpack {
				raw, typ = append([]byte{0x83, 0xa4}, "type\xb2ChannelStartTyping\xa2id\xa1c\xa4user\xa3raw"...), websocket.MessageBinary
			}
			srv.PushRaw(typ, raw)
			if err := srv.Push(typing(0, 3)...); err != nil {
				t.Fatal(err)
			}
			rec.wait(t, "the first events", func(evs []stoatpb.Event) bool { return count[*stoatpb.ChannelStartTypingEvent](evs) == 4 })
			srv.Cut()
			rec.wait(t, "a second Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 2 })
			if err := srv.PushBulk(typing(3, 2)...); err != nil {
				t.Fatal(err)
			}
			rec.wait(t, "the last events", func(evs []stoatpb.Event) bool { return count[*stoatpb.ChannelStartTypingEvent](evs) == 6 })
			// A Pong received means a Ping was sent: the recording must hold the one, not the other.
			rec.wait(t, "a Pong", func(evs []stoatpb.Event) bool { return count[*stoatpb.PongEvent](evs) > 0 })
			sh.Stop()
			if err := waitDone(t, sh); !errors.Is(err, shardactor.ErrStopped) {
				t.Fatalf("Err = %v", err)
			}

			st := sh.Stats()
			frames := splitRecording(t, out.Bytes(), f)
			marker := shardactor.ConnectMarker(f)
			if len(frames) != int(st.Frames+st.Connects) || st.Connects != 2 || st.RecordErrors != 0 {
				t.Fatalf("%d frames recorded; stats %+v", len(frames), st)
			}
			// The recording decodes to the events the Sink saw, in order, each connection's
			// synthetic events where its marker is.
			dec := bonfire.NewDecoder(f)
			var got []stoatpb.Event
			for _, fr := range frames {
				if bytes.Equal(fr, marker) {
					got = append(got, &stoatpb.BeforeConnectEvent{}, &stoatpb.AfterConnectEvent{})
					continue
				}
				evs, err := dec.Decode(fr, nil)
				if err != nil {
					t.Fatalf("a recorded frame does not decode: %v: %q", err, fr)
				}
				got = append(got, evs...)
			}
			// A Pong read as the shard stopped is recorded and not delivered.
			want := rec.events()
			for len(got) > len(want) && count[*stoatpb.PongEvent](got[len(want):]) == len(got)-len(want) {
				got = got[:len(got)-1]
			}
			if len(got) != len(want) {
				t.Fatalf("the recording holds %s; the Sink saw %s", names(got), names(want))
			}
			for i, ev := range want {
				ev = proto.Clone(ev).(stoatpb.Event)
				ev.SetShard("")
				if a, ok := ev.(*stoatpb.AfterConnectEvent); ok {
					a.Url = ""
				}
				if !proto.Equal(got[i], ev) {
					t.Errorf("event %d: recorded %v, seen %v", i, got[i], ev)
				}
			}
			// Byte for byte: the raw frame is there as it was sent (JSON: its line break as a
			// space).
			if want := bytes.ReplaceAll(raw, []byte("\n"), []byte(" ")); !bytes.Contains(out.Bytes(), want) {
				t.Errorf("the raw frame %q is not in the recording", want)
			}
			if strings.Contains(out.String(), srv.Token()) || strings.Contains(out.String(), "Ping") || !strings.Contains(out.String(), "Pong") {
				t.Errorf("the recording holds the token or a frame the shard sent:\n%q", out.String())
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestRecordFailures: a recording that fails does not touch the connection; every frame it lost
// is counted and the warnings are rate-limited.
func TestRecordFailures(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, logs := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	cfg.Record = failingWriter{}
	cfg.RepeatLogInterval = time.Hour // no summary line before the connection ends
	rec := newRecorder()
	sh := spawn(t, newSystem(t, logger), cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	if err := srv.Push(typing(0, 20)...); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "the events", func(evs []stoatpb.Event) bool { return count[*stoatpb.ChannelStartTypingEvent](evs) == 20 })
	sh.Stop()
	_ = waitDone(t, sh)
	st := sh.Stats()
	if st.RecordErrors != st.Frames+st.Connects || st.Frames < 22 || st.Reconnects != 0 {
		t.Errorf("stats = %+v", st)
	}
	// The first ones in full, the rest counted when the connection ended.
	out := logs.String()
	if n := strings.Count(out, "recording a frame failed; the connection goes on\""); n != 3 ||
		!strings.Contains(out, fmt.Sprintf("counted when the connection ended)\" shard=shard-test suppressed=%d", st.RecordErrors-3)) {
		t.Errorf("%d warnings in full for %d failed writes, or no count of the others:\n%s", n, st.RecordErrors, out)
	}
	if !strings.Contains(logs.String(), "disk full") {
		t.Errorf("the warning does not say why:\n%s", logs)
	}
}
