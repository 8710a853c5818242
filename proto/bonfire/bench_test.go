package bonfire_test

// Side-by-side decode benchmarks of bonfire against encoding/json (into the mirror structs of
// bench_types_test.go), json.Valid (the floor: one validating pass, no output) and
// vmihailenco/msgpack (generic decode into map[string]any).
//
//	go test ./proto/bonfire -run '^$' -bench 'Decode/MessageCreate' -benchmem
//	go test ./proto/bonfire -run '^$' -bench 'Decode/Ready' -benchmem -benchtime=3x
//
// (-bench splits its pattern at every slash, so select implementations as 'Decode/Ready/ermine/'
// or 'Decode/Ready/encoding-json', not with an alternation containing a slash. With -benchtime=3x
// the peek figures of Ready are start-up noise; time them with a duration.) The Ready input
// takes a few seconds to build and ~300 MB while it runs; it is built only when selected.
//
// Every input is a JSON frame built here, deterministically; its msgpack twin is produced by
// decoding the JSON with bonfire and re-encoding it with bonfire.AppendFrame. SetBytes is the
// length of the frame each implementation reads, so MB/s of the msgpack implementations refer
// to the (smaller) msgpack frame: compare ns/op across formats.
//
// The ermine decoders are reused across iterations, as on a connection; their intern table then
// holds every id of the repeated frame. ermine/json-fresh-ids (MessageCreate only) cycles through
// frames whose message id and nonce are new, as they are on a live connection.

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/proto"
)

// benchMessageCreateJSON is a Message frame as the server sends it to a bot in a server channel:
// compact JSON with the author's User and Member embedded.
//
// It is about 860 bytes: with the fields below (nine ULIDs of 26 characters, a 42-character
// Autumn file id and the keys the server always writes) a frame cannot be shorter than about
// 800 bytes even with a two-character content, so a "600-byte" frame of this shape does not exist.
const benchMessageCreateJSON = `{"type":"Message","_id":"01M0FQHJM8AK4Y66K40H1TMZXS","nonce":"01J5ZB0Q3K5M8W2V6T9R4X7N1A",` +
	`"channel":"01JKQVP3F82D6K5PQJ3J5CE51Z","author":"01HF7FYKE0VT2KVKJ34J3MHVBD",` +
	`"user":{"_id":"01HF7FYKE0VT2KVKJ34J3MHVBD","username":"bob","discriminator":"3141","display_name":"Bob",` +
	`"avatar":{"_id":"P744Yajlh8I9c8PEIOXyvkNFj46kCoR50sobKboFoB","tag":"avatars","filename":"bob.webp",` +
	`"metadata":{"type":"Image","width":512,"height":512,"thumbhash":null,"animated":null},` +
	`"content_type":"image/webp","size":30111},"badges":4,"status":{"presence":"Idle"},"relationship":"Friend","online":true},` +
	`"member":{"_id":{"server":"01JKQVP2G020GN1TZGBWDASB4V","user":"01HF7FYKE0VT2KVKJ34J3MHVBD"},` +
	`"joined_at":"2025-02-10T12:00:00.000Z","roles":["01JKT3S7K85189DV63V3SP69HF"]},` +
	`"content":"has anyone benchmarked the new cache? https://stoat.chat/blog","mentions":["01HQZ73ZH0ZFVVXR4TCRNYT4NS"]}`

// The bounds asserted on len(benchMessageCreateJSON).
const benchMessageCreateMin, benchMessageCreateMax = 750, 950

// benchMessageUpdateJSON is an edit of that message.
const benchMessageUpdateJSON = `{"type":"MessageUpdate","id":"01M0FQHJM8AK4Y66K40H1TMZXS","channel":"01JKQVP3F82D6K5PQJ3J5CE51Z",` +
	`"data":{"content":"has anyone benchmarked the new cache yet? https://stoat.chat/blog",` +
	`"edited":"2026-08-20T14:00:41.337Z","embeds":[]},"clear":[]}`

// benchServerMemberUpdateJSON sets a nickname, roles and a timeout and clears the avatar.
const benchServerMemberUpdateJSON = `{"type":"ServerMemberUpdate","id":{"server":"01JKQVP2G020GN1TZGBWDASB4V","user":"01M0CGHH00Z01WKC6Z2Q9TYGVW"},` +
	`"data":{"nickname":"davey","roles":["01JKT3S6M0NM8NRJYXC233SDG8","01JKT3S7K85189DV63V3SP69HF"],` +
	`"timeout":"2026-08-21T14:00:00.000Z"},"clear":["Avatar"]}`

// readySize is the shape of a synthetic Ready.
type readySize struct {
	servers, channelsPerServer, membersPerServer, emojisPerServer, rolesPerServer, users int
}

var (
	// fullReady is the benchmarks' Ready: 1,000 servers, 10,000 channels, 100,000 members,
	// 1,000 users and 2,000 emojis, about 20 MB of JSON.
	fullReady = readySize{servers: 1000, channelsPerServer: 10, membersPerServer: 100, emojisPerServer: 2, rolesPerServer: 4, users: 1000}
	// smallReady, a twentieth of it, stands in for it in TestBenchInputsDecode under -short and
	// under the race detector (which CI uses, and where the full one takes ~30 s and ~2 GB).
	smallReady = readySize{servers: 50, channelsPerServer: 10, membersPerServer: 100, emojisPerServer: 2, rolesPerServer: 4, users: 200}

	fullReadyEvent  = sync.OnceValue(func() *stoatpb.ReadyEvent { return buildReadyEvent(fullReady) })
	smallReadyEvent = sync.OnceValue(func() *stoatpb.ReadyEvent { return buildReadyEvent(smallReady) })

	fullReadyInput  = newReadyInput(fullReady, fullReadyEvent)
	smallReadyInput = newReadyInput(smallReady, smallReadyEvent)
)

func newReadyInput(sz readySize, event func() *stoatpb.ReadyEvent) *benchInput {
	return &benchInput{
		name:      "Ready",
		frameType: "Ready",
		makeJSON: func() []byte {
			frame, err := bonfire.AppendFrame(nil, bonfire.JSON, event())
			if err != nil {
				panic(err)
			}
			return frame
		},
		newMirror: func() any { return new(ReadyFrame) },
		check:     checkReady(sz),
		event:     event,
	}
}

// fullReadyInTests reports whether the tests use the full-size Ready: not with -short nor under
// the race detector.
func fullReadyInTests() bool {
	if testing.Short() {
		return false
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return false
			}
		}
	}
	return true
}

// benchInput is one frame, in both formats, built on first use.
type benchInput struct {
	name      string
	frameType string
	makeJSON  func() []byte
	newMirror func() any // a fresh encoding/json target
	// check compares the bonfire event with the encoding/json mirror of the same frame.
	check func(t *testing.T, ev stoatpb.Event, mirror any)
	// event is the Ready the frame was encoded from (Ready only).
	event func() *stoatpb.ReadyEvent

	once    sync.Once
	json    []byte
	msgpack []byte
	err     error
}

func (in *benchInput) load(tb testing.TB) {
	tb.Helper()
	in.once.Do(func() {
		in.json = in.makeJSON()
		evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(in.json, nil)
		if err != nil {
			in.err = fmt.Errorf("bonfire JSON decode: %w", err)
			return
		}
		if len(evs) != 1 {
			in.err = fmt.Errorf("bonfire JSON decode: %d events, want 1", len(evs))
			return
		}
		in.msgpack, err = bonfire.AppendFrame(nil, bonfire.Msgpack, evs[0])
		if err != nil {
			in.err = fmt.Errorf("bonfire msgpack encode: %w", err)
		}
	})
	if in.err != nil {
		tb.Fatalf("%s: %v", in.name, in.err)
	}
}

var benchInputs = []*benchInput{
	{
		name:      "MessageCreate",
		frameType: "Message",
		makeJSON:  func() []byte { return []byte(benchMessageCreateJSON) },
		newMirror: func() any { return new(MessageFrame) },
		check:     checkMessageCreate,
	},
	{
		name:      "MessageUpdate",
		frameType: "MessageUpdate",
		makeJSON:  func() []byte { return []byte(benchMessageUpdateJSON) },
		newMirror: func() any { return new(MessageUpdateFrame) },
		check:     checkMessageUpdate,
	},
	{
		name:      "ServerMemberUpdate",
		frameType: "ServerMemberUpdate",
		makeJSON:  func() []byte { return []byte(benchServerMemberUpdateJSON) },
		newMirror: func() any { return new(ServerMemberUpdateFrame) },
		check:     checkServerMemberUpdate,
	},
	fullReadyInput,
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			in.load(b)
			benchDecodeImpls(b, in)
		})
	}
}

func benchDecodeImpls(b *testing.B, in *benchInput) {
	js, mp := in.json, in.msgpack
	b.Run("ermine/json", func(b *testing.B) {
		benchBonfire(b, bonfire.JSON, [][]byte{js})
	})
	if in.name == "MessageCreate" {
		b.Run("ermine/json-fresh-ids", func(b *testing.B) {
			benchBonfire(b, bonfire.JSON, freshIDs())
		})
		b.Run("ermine/json-fresh-authors", func(b *testing.B) {
			benchBonfire(b, bonfire.JSON, freshAuthors(b, bonfire.JSON))
		})
		b.Run("ermine/msgpack-fresh-authors", func(b *testing.B) {
			benchBonfire(b, bonfire.Msgpack, freshAuthors(b, bonfire.Msgpack))
		})
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			if err := json.Unmarshal(js, in.newMirror()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			if !json.Valid(js) {
				b.Fatal("invalid JSON")
			}
		}
	})
	b.Run("ermine/msgpack", func(b *testing.B) {
		benchBonfire(b, bonfire.Msgpack, [][]byte{mp})
	})
	b.Run("vmihailenco-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(mp)))
		for b.Loop() {
			var m map[string]any
			if err := msgpack.Unmarshal(mp, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ermine/peek", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			if _, err := bonfire.PeekType(bonfire.JSON, js); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ermine/peek-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(mp)))
		for b.Loop() {
			if _, err := bonfire.PeekType(bonfire.Msgpack, mp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchBonfire decodes frames round robin with one reused Decoder and dst slice.
func benchBonfire(b *testing.B, f bonfire.Format, frames [][]byte) {
	dec := bonfire.NewDecoder(f)
	var dst []stoatpb.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	i := 0
	for b.Loop() {
		var err error
		dst, err = dec.Decode(frames[i], dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		if i++; i == len(frames) {
			i = 0
		}
	}
}

// freshAuthors returns 8192 MessageCreate frames in format f, each with its own author (user
// and member objects) and its own message id and nonce: far more authors than the decoder's
// object memo holds, so every embedded object is a miss, as when no author writes twice.
func freshAuthors(tb testing.TB, f bonfire.Format) [][]byte {
	tb.Helper()
	frames := freshAuthorsJSON()
	if f == bonfire.JSON {
		return frames
	}
	out := make([][]byte, len(frames))
	for i, js := range frames {
		evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(js, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if out[i], err = bonfire.AppendFrame(nil, f, evs[0]); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

var freshAuthorsJSON = sync.OnceValue(func() [][]byte {
	const n = 8192
	frames := make([][]byte, n)
	for i := range frames {
		s := strings.Replace(benchMessageCreateJSON, "01M0FQHJM8AK4Y66K40H1TMZXS", benchULID(kindMessage, uint64(i)), 1)
		s = strings.Replace(s, "01J5ZB0Q3K5M8W2V6T9R4X7N1A", benchULID(kindNonce, uint64(i)), 1)
		s = strings.ReplaceAll(s, "01HF7FYKE0VT2KVKJ34J3MHVBD", benchULID(kindUser, uint64(i)))
		frames[i] = []byte(s)
	}
	return frames
})

var freshIDs = sync.OnceValue(func() [][]byte {
	// 8192 frames carry 16384 distinct ids through the decoder's 4096-slot intern table, so
	// almost none of them is still there when its frame comes round again.
	const n = 8192
	frames := make([][]byte, n)
	for i := range frames {
		s := strings.Replace(benchMessageCreateJSON, "01M0FQHJM8AK4Y66K40H1TMZXS", benchULID(kindMessage, uint64(i)), 1)
		s = strings.Replace(s, "01J5ZB0Q3K5M8W2V6T9R4X7N1A", benchULID(kindNonce, uint64(i)), 1)
		frames[i] = []byte(s)
	}
	return frames
})

func BenchmarkEncode(b *testing.B) {
	in := benchInputs[0]
	b.Run(in.name, func(b *testing.B) {
		in.load(b)
		evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(in.json, nil)
		if err != nil {
			b.Fatal(err)
		}
		ev := evs[0]
		for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
			b.Run("ermine/"+f.String(), func(b *testing.B) {
				buf, err := bonfire.AppendFrame(nil, f, ev)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					buf, err = bonfire.AppendFrame(buf[:0], f, ev)
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("encoding-json", func(b *testing.B) {
			mirror := in.newMirror()
			if err := json.Unmarshal(in.json, mirror); err != nil {
				b.Fatal(err)
			}
			out, err := json.Marshal(mirror)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(out)))
			for b.Loop() {
				if _, err := json.Marshal(mirror); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// TestBenchInputsDecode checks that every benchmark input decodes, in both formats and with
// encoding/json, to the same content, so that the benchmarks compare equal work.
func TestBenchInputsDecode(t *testing.T) {
	if n := len(benchMessageCreateJSON); n < benchMessageCreateMin || n > benchMessageCreateMax {
		t.Errorf("MessageCreate frame is %d bytes, want %d–%d", n, benchMessageCreateMin, benchMessageCreateMax)
	}
	for _, in := range benchInputs {
		t.Run(in.name, func(t *testing.T) {
			if in == fullReadyInput && !fullReadyInTests() {
				in = smallReadyInput
				t.Logf("using a Ready of %d servers (-short or -race)", smallReady.servers)
			}
			in.load(t)
			if !json.Valid(in.json) {
				t.Fatal("the JSON frame is not valid JSON")
			}
			var evs [2]stoatpb.Event
			for i, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
				frame := in.json
				if f == bonfire.Msgpack {
					frame = in.msgpack
				}
				typ, err := bonfire.PeekType(f, frame)
				if err != nil || typ != in.frameType {
					t.Errorf("%s: PeekType = %q, %v; want %q", f, typ, err, in.frameType)
				}
				got, err := bonfire.NewDecoder(f).Decode(frame, nil)
				if err != nil {
					t.Fatalf("%s: Decode: %v", f, err)
				}
				if len(got) != 1 {
					t.Fatalf("%s: Decode gave %d events, want 1", f, len(got))
				}
				evs[i] = got[0]
			}
			if !proto.Equal(evs[0], evs[1]) {
				t.Errorf("the msgpack frame decodes differently from the JSON frame")
			}
			// The reused-Decoder path of the benchmarks (intern table warm) decodes the same.
			dec := bonfire.NewDecoder(bonfire.JSON)
			var dst []stoatpb.Event
			for range 3 {
				var err error
				if dst, err = dec.Decode(in.json, dst[:0]); err != nil || len(dst) != 1 || !proto.Equal(dst[0], evs[0]) {
					t.Fatalf("reused Decoder: %d events, %v; or a different event", len(dst), err)
				}
			}

			mirror := in.newMirror()
			if err := json.Unmarshal(in.json, mirror); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			in.check(t, evs[0], mirror)

			var m map[string]any
			if err := msgpack.Unmarshal(in.msgpack, &m); err != nil {
				t.Fatalf("vmihailenco/msgpack: %v", err)
			}
			if m["type"] != in.frameType {
				t.Errorf("vmihailenco/msgpack: type = %v, want %q", m["type"], in.frameType)
			}
		})
	}
	t.Run("MessageCreateFreshIDs", func(t *testing.T) {
		frames := freshIDs()
		dec := bonfire.NewDecoder(bonfire.JSON)
		for _, i := range []int{0, 1, len(frames) - 1} {
			evs, err := dec.Decode(frames[i], nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := evs[0].(*stoatpb.MessageCreateEvent).GetMessage()
			if msg.GetId() != benchULID(kindMessage, uint64(i)) || msg.GetNonce() != benchULID(kindNonce, uint64(i)) {
				t.Errorf("frame %d: id %q nonce %q", i, msg.GetId(), msg.GetNonce())
			}
			if len(frames[i]) != len(benchMessageCreateJSON) {
				t.Errorf("frame %d is %d bytes, want %d", i, len(frames[i]), len(benchMessageCreateJSON))
			}
		}
	})
	t.Run("ReadyRoundtrip", func(t *testing.T) {
		in := fullReadyInput
		if !fullReadyInTests() {
			in = smallReadyInput
		}
		in.load(t)
		if n := len(in.json); in == fullReadyInput && n < 10<<20 {
			t.Errorf("the Ready frame is only %d bytes", n)
		}
		t.Logf("Ready: %d bytes JSON, %d bytes msgpack", len(in.json), len(in.msgpack))
		evs, err := bonfire.NewDecoder(bonfire.JSON).Decode(in.json, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := proto.Clone(evs[0]).(*stoatpb.ReadyEvent)
		want := in.event()
		if got.GetMe().GetId() != want.Users[len(want.Users)-1].GetId() {
			t.Errorf("Ready.Me = %q, want the last user", got.GetMe().GetId())
		}
		got.Me = nil
		if !proto.Equal(got, want) {
			t.Errorf("the Ready frame does not decode to the event it was encoded from")
			diffReady(t, got, want)
		}
	})
}

// diffReady names the first differing entries of two Ready events.
func diffReady(t *testing.T, got, want *stoatpb.ReadyEvent) {
	t.Helper()
	report := func(kind string, n, m int, eq func(i int) bool, show func(i int) string) {
		if n != m {
			t.Errorf("%s: %d, want %d", kind, n, m)
		}
		for i := range min(n, m) {
			if !eq(i) {
				t.Errorf("%s[%d] differs:\n%s", kind, i, show(i))
				return
			}
		}
	}
	report("users", len(got.Users), len(want.Users),
		func(i int) bool { return proto.Equal(got.Users[i], want.Users[i]) },
		func(i int) string { return fmt.Sprintf("got  %v\nwant %v", got.Users[i], want.Users[i]) })
	report("servers", len(got.Servers), len(want.Servers),
		func(i int) bool { return proto.Equal(got.Servers[i], want.Servers[i]) },
		func(i int) string { return fmt.Sprintf("got  %v\nwant %v", got.Servers[i], want.Servers[i]) })
	report("channels", len(got.Channels), len(want.Channels),
		func(i int) bool { return proto.Equal(got.Channels[i], want.Channels[i]) },
		func(i int) string { return fmt.Sprintf("got  %v\nwant %v", got.Channels[i], want.Channels[i]) })
	report("members", len(got.Members), len(want.Members),
		func(i int) bool { return proto.Equal(got.Members[i], want.Members[i]) },
		func(i int) string { return fmt.Sprintf("got  %v\nwant %v", got.Members[i], want.Members[i]) })
	report("emojis", len(got.Emojis), len(want.Emojis),
		func(i int) bool { return proto.Equal(got.Emojis[i], want.Emojis[i]) },
		func(i int) string { return fmt.Sprintf("got  %v\nwant %v", got.Emojis[i], want.Emojis[i]) })
}

func checkMessageCreate(t *testing.T, ev stoatpb.Event, mirror any) {
	t.Helper()
	e, ok := ev.(*stoatpb.MessageCreateEvent)
	if !ok {
		t.Fatalf("bonfire decoded a %T", ev)
	}
	msg, mm := e.GetMessage(), mirror.(*MessageFrame)
	if mm.Type != "Message" {
		t.Errorf("mirror type %q", mm.Type)
	}
	eq(t, "_id", msg.GetId(), mm.ID)
	eq(t, "nonce", msg.GetNonce(), mm.Nonce)
	eq(t, "channel", msg.GetChannel(), mm.Channel)
	eq(t, "author", msg.GetAuthor(), mm.Author)
	eq(t, "content", msg.GetContent(), mm.Content)
	if mm.User == nil || mm.Member == nil || mm.User.Avatar == nil || mm.User.Status == nil {
		t.Fatalf("mirror lacks user, member, avatar or status: %+v", mm)
	}
	eq(t, "user._id", msg.GetUser().GetId(), mm.User.ID)
	eq(t, "user.username", msg.GetUser().GetUsername(), mm.User.Username)
	eq(t, "user.display_name", msg.GetUser().GetDisplayName(), mm.User.DisplayName)
	eq(t, "user.avatar._id", msg.GetUser().GetAvatar().GetId(), mm.User.Avatar.ID)
	eq(t, "user.avatar.metadata.width", msg.GetUser().GetAvatar().GetMetadata().GetWidth(), uint64(mm.User.Avatar.Metadata.Width))
	eq(t, "user.status.presence", msg.GetUser().GetStatus().GetPresence(), stoatpb.Presence_PRESENCE_IDLE)
	eq(t, "mirror user.status.presence", mm.User.Status.Presence, "Idle")
	eq(t, "user.relationship", msg.GetUser().GetRelationship(), stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND)
	eq(t, "mirror user.relationship", mm.User.Relationship, "Friend")
	eq(t, "user.online", msg.GetUser().GetOnline(), mm.User.Online)
	eq(t, "member._id.server", msg.GetMember().GetId().GetServer(), mm.Member.ID.Server)
	eq(t, "member._id.user", msg.GetMember().GetId().GetUser(), mm.Member.ID.User)
	eq(t, "member.joined_at", msg.GetMember().GetJoinedAt(), mm.Member.JoinedAt.UnixMilli())
	eq(t, "member.roles", strings.Join(msg.GetMember().GetRoles(), ","), strings.Join(mm.Member.Roles, ","))
	eq(t, "mentions", strings.Join(msg.GetMentions(), ","), strings.Join(mm.Mentions, ","))
	if len(mm.Mentions) != 1 {
		t.Errorf("mirror mentions %v", mm.Mentions)
	}
}

func checkMessageUpdate(t *testing.T, ev stoatpb.Event, mirror any) {
	t.Helper()
	e, ok := ev.(*stoatpb.MessageUpdateEvent)
	if !ok {
		t.Fatalf("bonfire decoded a %T", ev)
	}
	mm := mirror.(*MessageUpdateFrame)
	eq(t, "id", e.GetMessageId(), mm.ID)
	eq(t, "channel", e.GetChannelId(), mm.Channel)
	if mm.Data.Content == nil || mm.Data.Edited == nil || e.GetMessage().Content == nil || e.GetMessage().Edited == nil {
		t.Fatalf("content or edited missing: bonfire %v, mirror %+v", e.GetMessage(), mm.Data)
	}
	eq(t, "data.content", e.GetMessage().GetContent(), *mm.Data.Content)
	eq(t, "data.edited", e.GetMessage().GetEdited(), mm.Data.Edited.UnixMilli())
	if e.GetMessage().GetEmbeds() == nil {
		t.Errorf("data.embeds: [] decoded as absent")
	}
	eq(t, "clear", len(e.GetClear()), len(mm.Clear))
}

func checkServerMemberUpdate(t *testing.T, ev stoatpb.Event, mirror any) {
	t.Helper()
	e, ok := ev.(*stoatpb.ServerMemberUpdateEvent)
	if !ok {
		t.Fatalf("bonfire decoded a %T", ev)
	}
	mm := mirror.(*ServerMemberUpdateFrame)
	eq(t, "id.server", e.GetMemberId().GetServer(), mm.ID.Server)
	eq(t, "id.user", e.GetMemberId().GetUser(), mm.ID.User)
	d := e.GetMember()
	if mm.Data.Nickname == nil || mm.Data.Timeout == nil || d.Nickname == nil || d.Timeout == nil {
		t.Fatalf("nickname or timeout missing: bonfire %v, mirror %+v", d, mm.Data)
	}
	eq(t, "data.nickname", d.GetNickname(), *mm.Data.Nickname)
	eq(t, "data.timeout", d.GetTimeout(), mm.Data.Timeout.UnixMilli())
	eq(t, "data.roles", strings.Join(d.GetRoles().GetItems(), ","), strings.Join(mm.Data.Roles, ","))
	if len(e.GetClear()) != 1 || len(mm.Clear) != 1 {
		t.Fatalf("clear: bonfire %v, mirror %v", e.GetClear(), mm.Clear)
	}
	eq(t, "clear[0]", e.GetClear()[0], stoatpb.FieldsMember_FIELDS_MEMBER_AVATAR)
	eq(t, "mirror clear[0]", mm.Clear[0], "Avatar")
}

func checkReady(sz readySize) func(t *testing.T, ev stoatpb.Event, mirror any) {
	return func(t *testing.T, ev stoatpb.Event, mirror any) {
		t.Helper()
		checkReadySize(t, sz, ev, mirror)
	}
}

func checkReadySize(t *testing.T, sz readySize, ev stoatpb.Event, mirror any) {
	t.Helper()
	e, ok := ev.(*stoatpb.ReadyEvent)
	if !ok {
		t.Fatalf("bonfire decoded a %T", ev)
	}
	mm := mirror.(*ReadyFrame)
	eq(t, "len(users)", len(e.GetUsers()), sz.users)
	eq(t, "len(servers)", len(e.GetServers()), sz.servers)
	eq(t, "len(channels)", len(e.GetChannels()), sz.servers*sz.channelsPerServer)
	eq(t, "len(members)", len(e.GetMembers()), sz.servers*sz.membersPerServer)
	eq(t, "len(emojis)", len(e.GetEmojis()), sz.servers*sz.emojisPerServer)
	eq(t, "mirror len(users)", len(mm.Users), len(e.GetUsers()))
	eq(t, "mirror len(servers)", len(mm.Servers), len(e.GetServers()))
	eq(t, "mirror len(channels)", len(mm.Channels), len(e.GetChannels()))
	eq(t, "mirror len(members)", len(mm.Members), len(e.GetMembers()))
	eq(t, "mirror len(emojis)", len(mm.Emojis), len(e.GetEmojis()))
	if t.Failed() {
		return
	}
	for i, u := range e.GetUsers() {
		if u.GetId() != mm.Users[i].ID || u.GetUsername() != mm.Users[i].Username || u.GetAvatar().GetId() != avatarID(mm.Users[i].Avatar) {
			t.Fatalf("users[%d]: bonfire %v, mirror %+v", i, u, mm.Users[i])
		}
	}
	for i, s := range e.GetServers() {
		ms := mm.Servers[i]
		if s.GetId() != ms.ID || s.GetName() != ms.Name || len(s.GetRoles()) != len(ms.Roles) || len(s.GetChannels()) != len(ms.Channels) {
			t.Fatalf("servers[%d]: bonfire %v, mirror %+v", i, s, ms)
		}
		for _, r := range s.GetRoles() {
			if mr, ok := ms.Roles[r.GetId()]; !ok || mr.Name != r.GetName() || mr.Permissions.Allow != r.GetPermissions().GetA() {
				t.Fatalf("servers[%d] role %s: bonfire %v, mirror %+v", i, r.GetId(), r, mr)
			}
		}
	}
	for i, c := range e.GetChannels() {
		mc := mm.Channels[i]
		if c.GetId() != mc.ID || c.GetServer() != mc.Server || c.GetName() != mc.Name || len(c.GetRolePermissions()) != len(mc.RolePermissions) {
			t.Fatalf("channels[%d]: bonfire %v, mirror %+v", i, c, mc)
		}
	}
	for i, m := range e.GetMembers() {
		mmem := mm.Members[i]
		if m.GetId().GetServer() != mmem.ID.Server || m.GetId().GetUser() != mmem.ID.User ||
			m.GetJoinedAt() != mmem.JoinedAt.UnixMilli() || m.GetNickname() != mmem.Nickname || len(m.GetRoles()) != len(mmem.Roles) {
			t.Fatalf("members[%d]: bonfire %v, mirror %+v", i, m, mmem)
		}
	}
	for i, em := range e.GetEmojis() {
		if em.GetId() != mm.Emojis[i].ID || em.GetParent().GetId() != mm.Emojis[i].Parent.ID {
			t.Fatalf("emojis[%d]: bonfire %v, mirror %+v", i, em, mm.Emojis[i])
		}
	}
}

func avatarID(f *File) string {
	if f == nil {
		return ""
	}
	return f.ID
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: bonfire %v, mirror/expected %v", what, got, want)
	}
}

// ---------------------------------------------------------------------------------------------
// The synthetic Ready

// Kinds of benchmark ids; each kind gets its own sequence of ULID-like ids.
const (
	kindUser uint64 = iota + 1
	kindServer
	kindChannel
	kindCategory
	kindRole
	kindEmoji
	kindMessage
	kindNonce
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// benchEpochMs is 2025-01-01T00:00:00Z.
const benchEpochMs = 1_735_689_600_000

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// benchULID returns the n-th id of a kind: 26 Crockford base32 characters, a 48-bit millisecond
// time (increasing with n, so ids of a kind sort in creation order) and 80 pseudo-random bits.
func benchULID(kind, n uint64) string {
	ts := benchEpochMs + kind*3_600_000 + n*1_000
	r1 := splitmix64(kind<<48 | n)
	r2 := splitmix64(r1)
	var b [26]byte
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ts&31]
		ts >>= 5
	}
	for i := 10; i < 22; i++ {
		b[i] = crockford[r1&31]
		r1 >>= 5
	}
	for i := 22; i < 26; i++ {
		b[i] = crockford[r2&31]
		r2 >>= 5
	}
	return string(b[:])
}

// benchRand is a deterministic pseudo-random source.
type benchRand uint64

func (r *benchRand) next() uint64 {
	*r = benchRand(splitmix64(uint64(*r)))
	return uint64(*r)
}

func (r *benchRand) intn(n int) int { return int(r.next() % uint64(n)) }

const autumnAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// benchFile returns an image file as Autumn describes it.
func benchFile(r *benchRand, tag, filename string, size uint64) *stoatpb.File {
	var id [42]byte
	for i := range id {
		id[i] = autumnAlphabet[r.intn(len(autumnAlphabet))]
	}
	md := &stoatpb.FileMetadata{Type: stoatpb.FileMetadataType_FILE_METADATA_TYPE_IMAGE, Width: size, Height: size}
	if r.intn(2) == 0 {
		md.Thumbhash = make([]byte, 23)
		for i := range md.Thumbhash {
			md.Thumbhash[i] = byte(r.next())
		}
		md.Animated = proto.Bool(false)
	}
	ct := "image/png"
	if strings.HasSuffix(filename, ".webp") {
		ct = "image/webp"
	}
	return &stoatpb.File{
		Id: string(id[:]), Tag: tag, Filename: filename, Metadata: md,
		ContentType: ct, Size: int64(1000 + r.intn(200_000)),
	}
}

// buildReadyEvent builds the Ready of a bot in sz.servers servers. Each server has
// sz.channelsPerServer channels, sz.rolesPerServer roles (at least 4), sz.emojisPerServer emojis
// and sz.membersPerServer members drawn from sz.users users. (A real Ready carries only the own
// membership per server; the members here stand for a large member cache's worth of objects.)
func buildReadyEvent(sz readySize) *stoatpb.ReadyEvent {
	r := benchRand(42)
	presences := []stoatpb.Presence{stoatpb.Presence_PRESENCE_ONLINE, stoatpb.Presence_PRESENCE_IDLE,
		stoatpb.Presence_PRESENCE_FOCUS, stoatpb.Presence_PRESENCE_BUSY}
	ev := &stoatpb.ReadyEvent{
		Users:    make([]*stoatpb.User, 0, sz.users),
		Servers:  make([]*stoatpb.Server, 0, sz.servers),
		Channels: make([]*stoatpb.Channel, 0, sz.servers*sz.channelsPerServer),
		Members:  make([]*stoatpb.Member, 0, sz.servers*sz.membersPerServer),
		Emojis:   make([]*stoatpb.Emoji, 0, sz.servers*sz.emojisPerServer),
	}
	userID := func(i int) string { return benchULID(kindUser, uint64(i%sz.users)) }

	for i := range sz.users {
		u := &stoatpb.User{
			Id:            userID(i),
			Username:      fmt.Sprintf("user%d", i),
			Discriminator: fmt.Sprintf("%04d", 1+r.intn(9999)),
			Online:        i%3 != 0,
		}
		if i%2 == 0 {
			u.DisplayName = fmt.Sprintf("User Number %d", i)
		}
		if i%3 == 0 {
			u.Avatar = benchFile(&r, "avatars", fmt.Sprintf("avatar%d.webp", i), 256)
		}
		if i%4 == 0 {
			u.Status = &stoatpb.UserStatus{Presence: presences[r.intn(len(presences))]}
			if i%8 == 0 {
				u.Status.Text = "working on something"
			}
		}
		if i%5 == 0 {
			u.Badges = uint32(1 << r.intn(10))
		}
		if i%50 == 0 {
			u.Bot = &stoatpb.BotInformation{Owner: userID(i + 1)}
		}
		if i%10 == 0 {
			u.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND
		}
		ev.Users = append(ev.Users, u)
	}
	// The bot itself is the last user.
	me := ev.Users[sz.users-1]
	me.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	me.Bot = &stoatpb.BotInformation{Owner: userID(0)}
	me.Online = true
	me.Relations = []*stoatpb.Relationship{{Id: userID(0), Status: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND}}

	for s := range sz.servers {
		serverID := benchULID(kindServer, uint64(s))
		chIDs := make([]string, sz.channelsPerServer)
		for c := range chIDs {
			chIDs[c] = benchULID(kindChannel, uint64(s*sz.channelsPerServer+c))
		}
		roles := make([]*stoatpb.Role, sz.rolesPerServer)
		for k := range roles {
			roles[k] = &stoatpb.Role{
				Id:          benchULID(kindRole, uint64(s*sz.rolesPerServer+k)),
				Name:        []string{"Admin", "Moderator", "Member", "Muted"}[k%4],
				Permissions: &stoatpb.PermissionOverride{A: int64(r.next() >> 30), D: int64(r.intn(2) << 20)},
				Hoist:       k < 2,
				Rank:        int64(k),
			}
			if k%2 == 0 {
				roles[k].Colour = fmt.Sprintf("#%06x", r.intn(1<<24))
			}
		}
		srv := &stoatpb.Server{
			Id:       serverID,
			Owner:    userID(s),
			Name:     fmt.Sprintf("Server %d", s),
			Channels: chIDs,
			Categories: []*stoatpb.Category{
				{Id: benchULID(kindCategory, uint64(2*s)), Title: "Text", Channels: chIDs[:sz.channelsPerServer-2]},
				{Id: benchULID(kindCategory, uint64(2*s+1)), Title: "Voice", Channels: chIDs[sz.channelsPerServer-2:]},
			},
			SystemMessages:         &stoatpb.SystemMessageChannels{UserJoined: chIDs[0], UserLeft: chIDs[0]},
			Roles:                  roles,
			DefaultPermissions:     77014766592,
			ApproximateMemberCount: uint64(sz.membersPerServer + r.intn(5000)),
		}
		if s%2 == 0 {
			srv.Description = "A server for benchmarking the Bonfire codec"
			srv.Icon = benchFile(&r, "icons", "icon.png", 512)
		}
		if s%10 == 0 {
			srv.Discoverable = true
			srv.Flags = 1
		}
		ev.Servers = append(ev.Servers, srv)

		for c, id := range chIDs {
			ch := &stoatpb.Channel{
				ChannelType:   stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL,
				Id:            id,
				Server:        serverID,
				Name:          fmt.Sprintf("channel-%d", c),
				LastMessageId: benchULID(kindMessage, uint64(1_000_000+s*sz.channelsPerServer+c)),
			}
			if c%3 == 0 {
				ch.Description = "Talk about anything, within reason"
			}
			if c == 0 {
				ch.DefaultPermissions = &stoatpb.PermissionOverride{A: 0, D: 1 << 22}
			}
			if c%4 == 1 {
				ch.RolePermissions = []*stoatpb.RoleOverride{
					{RoleId: roles[1].Id, A: 1 << 23, D: 0},
					{RoleId: roles[3].Id, A: 0, D: 1 << 23},
				}
			}
			if c >= sz.channelsPerServer-2 {
				ch.Voice = &stoatpb.VoiceInformation{}
				if c%2 == 0 {
					ch.Voice.MaxUsers = proto.Uint64(25)
				}
			}
			if c == 5 {
				ch.Slowmode = 10
			}
			if c == 6 && s%7 == 0 {
				ch.Nsfw = true
			}
			ev.Channels = append(ev.Channels, ch)
		}

		for j := range sz.membersPerServer {
			m := &stoatpb.Member{
				Id:       &stoatpb.MemberId{Server: serverID, User: userID(s*sz.membersPerServer + j)},
				JoinedAt: benchEpochMs + int64(s)*86_400_000 + int64(j)*61_237,
			}
			switch {
			case j%7 == 0:
				m.Roles = []string{roles[1].Id, roles[2].Id}
			case j%3 == 0:
				m.Roles = []string{roles[2].Id}
			}
			if j%5 == 0 {
				m.Nickname = fmt.Sprintf("nick%d", j)
			}
			if j%50 == 0 {
				m.Avatar = benchFile(&r, "avatars", "member.png", 128)
			}
			if j%97 == 0 {
				m.Timeout = benchEpochMs + 400*86_400_000
			}
			if j%31 == 0 {
				m.CanPublish = proto.Bool(false)
			}
			ev.Members = append(ev.Members, m)
		}

		for k := range sz.emojisPerServer {
			n := s*sz.emojisPerServer + k
			ev.Emojis = append(ev.Emojis, &stoatpb.Emoji{
				Id:        benchULID(kindEmoji, uint64(n)),
				Parent:    &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: serverID},
				CreatorId: userID(s),
				Name:      fmt.Sprintf("emoji_%d", n),
				Animated:  k%2 == 1,
			})
		}
	}
	return ev
}
