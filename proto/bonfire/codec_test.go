package bonfire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

type fixture struct {
	name  string
	frame []byte
}

func fixtures(t testing.TB, dir string) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	sort.Strings(paths)
	var out []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{name: strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), frame: b})
	}
	return out
}

// render is a stable, readable text form of decoded events for golden files. protojson's output
// is deliberately unstable in its spacing, so it is re-indented.
func render(t testing.TB, evs []stoatpb.Event) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, ev := range evs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal %T: %v", ev, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		out.WriteString(ev.EventType().String())
		out.WriteByte(' ')
		if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func decodeAll(t testing.TB, f bonfire.Format, frame []byte) []stoatpb.Event {
	t.Helper()
	evs, err := bonfire.NewDecoder(f).Decode(frame, nil)
	if err != nil {
		t.Fatalf("decode %s: %v", f, err)
	}
	return evs
}

// TestGoldenDecode decodes every fixture frame and compares the events with testdata/golden.
// Run `go test ./proto/bonfire -run Golden -update` after a deliberate change, and review the diff.
func TestGoldenDecode(t *testing.T) {
	for _, fx := range fixtures(t, "frames") {
		t.Run(fx.name, func(t *testing.T) {
			got := render(t, decodeAll(t, bonfire.JSON, fx.frame))
			path := filepath.Join("testdata", "golden", fx.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("missing golden file (run with -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded events differ from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestEveryEventClassDecodes checks that every event class with a wire frame decodes from at least
// one realistic fixture.
func TestEveryEventClassDecodes(t *testing.T) {
	seen := map[stoatpb.EventType]bool{}
	for _, fx := range fixtures(t, "frames") {
		for _, ev := range decodeAll(t, bonfire.JSON, fx.frame) {
			seen[ev.EventType()] = true
		}
	}
	synthetic := map[stoatpb.EventType]bool{
		stoatpb.EventTypeBeforeConnect: true, // emitted by the shard, never on the wire
		stoatpb.EventTypeAfterConnect:  true,
		stoatpb.EventTypeReadyDiff:     true, // made by the reader after a re-Ready
	}
	for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
		if !seen[typ] && !synthetic[typ] {
			t.Errorf("no fixture decodes to %s", typ)
		}
	}
}

// TestSpotChecks pins the facts that matter most about particular frames.
func TestSpotChecks(t *testing.T) {
	load := func(name string) []stoatpb.Event {
		b, err := os.ReadFile(filepath.Join("testdata", "frames", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return decodeAll(t, bonfire.JSON, b)
	}
	one := func(name string) stoatpb.Event {
		evs := load(name)
		if len(evs) != 1 {
			t.Fatalf("%s: %d events, want 1", name, len(evs))
		}
		return evs[0]
	}

	msg := one("Message").(*stoatpb.MessageCreateEvent).GetMessage()
	if msg.GetId() == "" || msg.GetChannel() == "" || msg.GetAuthor() == "" || msg.GetContent() == "" {
		t.Errorf("Message: ids or content missing: %v", msg)
	}
	if msg.GetUser().GetId() != msg.GetAuthor() || msg.GetMember().GetId().GetUser() != msg.GetAuthor() {
		t.Errorf("Message: embedded user/member do not match the author")
	}
	if msg.GetMember().GetJoinedAt() == 0 {
		t.Errorf("Message: member joined_at not parsed")
	}

	if _, ok := one("ChannelCreate_TextChannel").(*stoatpb.ServerChannelCreateEvent); !ok {
		t.Errorf("a TextChannel must decode to ServerChannelCreateEvent")
	}
	for _, n := range []string{"ChannelCreate_Group", "ChannelCreate_DirectMessage", "ChannelCreate_SavedMessages"} {
		ev, ok := one(n).(*stoatpb.PrivateChannelCreateEvent)
		if !ok {
			t.Errorf("%s must decode to PrivateChannelCreateEvent", n)
			continue
		}
		var _ stoatpb.ChannelCreateEvent = ev // the union category
	}

	unpin := one("MessageUpdate_unpin").(*stoatpb.MessageUpdateEvent)
	if len(unpin.GetClear()) != 1 || unpin.GetClear()[0] != stoatpb.FieldsMessage_FIELDS_MESSAGE_PINNED {
		t.Errorf("MessageUpdate_unpin: clear = %v", unpin.GetClear())
	}
	if unpin.GetMessage() == nil || unpin.GetMessage().Pinned != nil {
		t.Errorf("MessageUpdate_unpin: data must be present and not set pinned")
	}
	cleared := one("MessageUpdate_clear_reactions").(*stoatpb.MessageUpdateEvent)
	if r := cleared.GetMessage().GetReactions(); r == nil || len(r.GetItems()) != 0 {
		t.Errorf("MessageUpdate_clear_reactions: reactions must be set and empty, got %v", r)
	}

	bulk := load("Bulk")
	if len(bulk) < 2 {
		t.Fatalf("Bulk: %d events", len(bulk))
	}
	if _, ok := bulk[len(bulk)-1].(*stoatpb.ServerMemberUpdateEvent); !ok {
		t.Errorf("Bulk: the triggering ServerMemberUpdate must come last, got %T", bulk[len(bulk)-1])
	}
	if _, ok := bulk[0].(*stoatpb.ChannelDeleteEvent); !ok {
		t.Errorf("Bulk: deletes come first, got %T", bulk[0])
	}

	unknown := one("Unknown_future").(*stoatpb.UnknownEvent)
	if unknown.GetType() == "" || len(unknown.GetRaw()) == 0 {
		t.Errorf("Unknown_future: type %q raw %d bytes", unknown.GetType(), len(unknown.GetRaw()))
	}

	if e, ok := one("Auth_DeleteSession").(*stoatpb.SessionDeleteEvent); !ok || e.GetSessionId() == "" {
		t.Errorf("legacy Auth wrapper: got %v", e)
	}
	if e, ok := one("UserPresence_legacy").(*stoatpb.UserUpdateEvent); !ok || e.GetUser().Online == nil {
		t.Errorf("legacy UserPresence must become a UserUpdate with online set")
	}
	join := one("ServerMemberJoin_legacy").(*stoatpb.ServerMemberJoinEvent)
	if join.GetMember().GetId().GetUser() != join.GetUserId() || join.GetUserId() == "" {
		t.Errorf("legacy ServerMemberJoin: member not synthesised: %v", join)
	}
	if e := one("ServerMemberLeave_legacy").(*stoatpb.ServerMemberRemoveEvent); e.GetReason() != stoatpb.MemberRemovalIntention_MEMBER_REMOVAL_INTENTION_LEAVE {
		t.Errorf("a missing reason means Leave")
	}
	if e := one("Error_legacy").(*stoatpb.ErrorEvent); e.GetError() != "InvalidSession" {
		t.Errorf("legacy Error: %v", e)
	}
	if e := one("Error").(*stoatpb.ErrorEvent); e.GetData().GetType() == "" {
		t.Errorf("Error: data.type missing")
	}
	ready := one("Ready").(*stoatpb.ReadyEvent)
	if ready.GetMe() == nil || ready.GetMe().GetRelationship() != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER {
		t.Errorf("Ready: me not identified")
	}
	if e := one("Pong_bytes").(*stoatpb.PongEvent); len(e.GetData().GetBytes()) == 0 {
		t.Errorf("Pong_bytes: bytes payload lost")
	}
}

// toMsgpack converts a JSON frame to msgpack generically (with vmihailenco/msgpack, not with
// ermine's encoder), keeping key order, so that the msgpack decoder is checked against an
// independent encoding of the same frame. Timestamps stay strings, which the decoder accepts.
func toMsgpack(t testing.TB, frame []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := jsonToMsgpack(dec, enc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type orderedObject []struct {
	key string
	val any
}

func jsonToMsgpack(dec *json.Decoder, enc *msgpack.Encoder) error {
	v, err := readOrdered(dec)
	if err != nil {
		return err
	}
	return writeOrdered(enc, v)
}

func readOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var obj orderedObject
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readOrdered(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, struct {
				key string
				val any
			}{k.(string), v})
		}
		_, err = dec.Token()
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := readOrdered(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err = dec.Token()
		return arr, err
	}
	if n, ok := tok.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		return n.Float64()
	}
	return tok, nil
}

func writeOrdered(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case orderedObject:
		if err := enc.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for _, kv := range x {
			if err := enc.EncodeString(kv.key); err != nil {
				return err
			}
			if err := writeOrdered(enc, kv.val); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := writeOrdered(enc, e); err != nil {
				return err
			}
		}
		return nil
	}
	return enc.Encode(v)
}

// TestJSONMsgpackEquivalence checks, for every fixture, that the msgpack form of the frame decodes
// to the same events as the JSON form, and that ermine's own encoder round-trips both formats.
func TestJSONMsgpackEquivalence(t *testing.T) {
	for _, fx := range fixtures(t, "frames") {
		t.Run(fx.name, func(t *testing.T) {
			want := decodeAll(t, bonfire.JSON, fx.frame)
			got := decodeAll(t, bonfire.Msgpack, toMsgpack(t, fx.frame))
			assertSameEvents(t, "generic msgpack", got, want)
			for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
				var again []stoatpb.Event
				for _, ev := range want {
					if _, ok := ev.(*stoatpb.UnknownEvent); ok {
						again = append(again, ev) // carried as raw bytes; nothing to encode
						continue
					}
					frame, err := bonfire.AppendFrame(nil, f, ev)
					if err != nil {
						t.Fatal(err)
					}
					again = append(again, decodeAll(t, f, frame)...)
				}
				assertSameEvents(t, "ermine "+f.String()+" round trip", again, want)
			}
		})
	}
}

func assertSameEvents(t *testing.T, what string, got, want []stoatpb.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		if u, ok := want[i].(*stoatpb.UnknownEvent); ok {
			if g, ok := got[i].(*stoatpb.UnknownEvent); !ok || g.GetType() != u.GetType() {
				t.Errorf("%s: event %d = %T, want UnknownEvent %s", what, i, got[i], u.GetType())
			}
			continue
		}
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s: event %d differs:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

// TestMalformedFrames checks that each bad frame is a *FrameError, yields no event and does not
// panic.
func TestMalformedFrames(t *testing.T) {
	cases := fixtures(t, "malformed")
	cases = append(cases,
		fixture{"empty", nil},
		fixture{"trailing garbage", []byte(`{"type":"Logout"} x`)},
		fixture{"trailing comma", []byte(`{"type":"ChannelAck","id":"a",}`)},
		fixture{"bad number", []byte(`{"type":"UserPlatformWipe","user_id":"u","flags":1.2.3}`)},
		fixture{"wrong type in known field", []byte(`{"type":"ChannelStartTyping","id":{"a":1},"user":"u"}`)},
		fixture{"unknown type, bad body", []byte(`{"type":"FutureThing","x":[1,}`)},
		fixture{"bad timestamp", []byte(`{"type":"ServerMemberJoin","id":"s","user":"u","member":{"_id":{"server":"s","user":"u"},"joined_at":"yesterday"}}`)},
	)
	for _, fx := range cases {
		t.Run(fx.name, func(t *testing.T) {
			evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(fx.frame, nil)
			var fe *bonfire.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *bonfire.FrameError", err)
			}
			if len(evs) != 0 {
				t.Errorf("a malformed frame produced %d events", len(evs))
			}
			if !strings.Contains(err.Error(), "offset") && !errors.Is(err, bonfire.ErrNoType) {
				t.Errorf("error does not say where: %v", err)
			}
		})
	}
}

// TestBulkKeepsGoodChildren checks that a malformed child of a Bulk costs only itself.
func TestBulkKeepsGoodChildren(t *testing.T) {
	frame := []byte(`{"type":"Bulk","v":[
		{"type":"ChannelStartTyping","id":"c1","user":"u1"},
		{"type":"ChannelStartTyping","id":{"bad":true},"user":"u1"},
		{"type":"ChannelStopTyping","id":"c1","user":"u1"}]}`)
	evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(frame, nil)
	var fe *bonfire.FrameError
	if !errors.As(err, &fe) || fe.Type != "ChannelStartTyping" {
		t.Fatalf("err = %v, want the bad child's FrameError", err)
	}
	if len(evs) != 2 || evs[0].EventType() != stoatpb.EventTypeChannelStartTyping || evs[1].EventType() != stoatpb.EventTypeChannelStopTyping {
		t.Fatalf("got %v", evs)
	}
}

// TestHugeClaimedArrayDoesNotAllocate feeds msgpack headers that claim billions of entries.
func TestHugeClaimedArrayDoesNotAllocate(t *testing.T) {
	frames := map[string][]byte{
		// {"type":"Ready","users":<array32 of 2^32-1 elements>}
		"array": append([]byte{0x82, 0xa4, 't', 'y', 'p', 'e', 0xa5, 'R', 'e', 'a', 'd', 'y', 0xa5, 'u', 's', 'e', 'r', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0x80}, 64)...),
		// {"type":"Ready","servers":[{"roles":<map32 of 2^32-1 entries>}]}
		"map": {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa5, 'R', 'e', 'a', 'd', 'y', 0xa7, 's', 'e', 'r', 'v', 'e', 'r', 's', 0x91, 0x81, 0xa5, 'r', 'o', 'l', 'e', 's', 0xdf, 0xff, 0xff, 0xff, 0xff},
		// a str32 claiming 4 GiB
		"string": {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa6, 'L', 'o', 'g', 'o', 'u', 't', 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := bonfire.NewDecoder(bonfire.Msgpack).Decode(frame, nil)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("a frame claiming more entries than it holds must be rejected")
			}
			if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
				t.Errorf("decoding allocated %d bytes", grown)
			}
		})
	}
}

func TestDeepNestingIsRejected(t *testing.T) {
	frame := []byte(`{"type":"FutureThing","x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`)
	if _, err := bonfire.NewDecoder(bonfire.JSON).Decode(frame, nil); err == nil {
		t.Fatal("deep nesting must be rejected")
	}
}

func TestSkipAndPeek(t *testing.T) {
	frame := []byte(`{"channel":"c","type":"MessageDelete","id":"m"}`)
	typ, err := bonfire.PeekType(bonfire.JSON, frame)
	if err != nil || typ != "MessageDelete" {
		t.Fatalf("PeekType = %q, %v", typ, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = bonfire.PeekType(bonfire.JSON, frame) }); n != 0 {
		t.Errorf("PeekType allocates %v times for a known type", n)
	}
	dec := bonfire.NewDecoder(bonfire.JSON, bonfire.WithSkip(func(t string) bool { return t == "MessageDelete" }))
	evs, err := dec.Decode(frame, nil)
	if err != nil || len(evs) != 0 {
		t.Fatalf("skipped frame: %v, %v", evs, err)
	}
}

func TestTolerance(t *testing.T) {
	frame := []byte(`{"type":"UserPlatformWipe","user_id":"u","flags":"4","extra":{"nested":[1,2,{"x":null}]}}`)
	ev := decodeAll(t, bonfire.JSON, frame)[0].(*stoatpb.UserPlatformWipeEvent)
	if ev.GetRawFlags() != 4 {
		t.Errorf("a number sent as a string: got %d", ev.GetRawFlags())
	}
	frame = []byte(`{"type":"UserSlowmodes","slowmodes":[{"channel_id":"c","duration":30.0,"retry_after":null}]}`)
	sm := decodeAll(t, bonfire.JSON, frame)[0].(*stoatpb.UserSlowmodesEvent)
	if sm.GetSlowmodes()[0].GetDuration() != 30 {
		t.Errorf("a number sent as a float: got %d", sm.GetSlowmodes()[0].GetDuration())
	}
	frame = []byte(`{"type":"ServerMemberJoin","id":"s","user":"u","member":{"_id":{"server":"s","user":"u"},"joined_at":"2026-08-20T14:00:41.337+02:00"}}`)
	j := decodeAll(t, bonfire.JSON, frame)[0].(*stoatpb.ServerMemberJoinEvent)
	if j.GetMember().GetJoinedAt() != 1787227241337 {
		t.Errorf("a timestamp with an offset: got %d", j.GetMember().GetJoinedAt())
	}
	frame = []byte(`{"type":"ChannelStartTyping","id":"caf\u00e9 \ud83d\ude00","user":"u"}`)
	if got := decodeAll(t, bonfire.JSON, frame)[0].(*stoatpb.ChannelStartTypingEvent).GetChannelId(); got != "café 😀" {
		t.Errorf("escapes: got %q", got)
	}
}

func TestClientFrames(t *testing.T) {
	for _, fx := range fixtures(t, "client") {
		t.Run(fx.name, func(t *testing.T) {
			m, err := bonfire.DecodeClientFrame(bonfire.JSON, fx.frame)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
				b, err := bonfire.AppendFrame(nil, f, m)
				if err != nil {
					t.Fatal(err)
				}
				again, err := bonfire.DecodeClientFrame(f, b)
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(m, again) {
					t.Errorf("%s round trip: got %v want %v", f, again, m)
				}
			}
		})
	}
}
