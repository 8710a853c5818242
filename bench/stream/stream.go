// Package stream builds the benchmark's event streams: deterministic for a Spec, and pre-encoded
// as the WebSocket frames a Stoat server sends (Authenticated, Ready, then the events, back to
// back), so that the frame server only copies bytes. Every MessageCreate carries a placeholder at
// the start of its content where the server writes its clock (package clock) as it sends the
// frame; the bot's handler reads it back to measure latency.
package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
	"google.golang.org/protobuf/proto"
)

// Spec describes a stream. The world (servers, channels, users, members) is synth's for Seed.
type Spec struct {
	Format bonfire.Format `json:"format"`
	Seed   uint64         `json:"seed"`
	// Mixed makes the events synth's mixed stream, the one `ermine gen` writes (messages,
	// edits, reactions, typing, member and channel changes…), after the Ready `ermine gen`
	// writes (the bot user and its memberships, no other users or members). Otherwise every
	// event is a MessageCreate and the Ready holds every user and member of the world.
	Mixed             bool `json:"mixed,omitempty"`
	Servers           int  `json:"servers"`
	ChannelsPerServer int  `json:"channels_per_server"`
	Users             int  `json:"users"`
	MembersPerServer  int  `json:"members_per_server"`
	// Events is the number of events after the Ready.
	Events int `json:"events"`
	// Active is how many channels (the world's first) the messages go to; 0 means all.
	Active int `json:"active,omitempty"`
}

// String names the stream in logs.
func (s Spec) String() string {
	kind := fmt.Sprintf("%d active channels", s.active())
	if s.Mixed {
		kind = "mixed"
	}
	return fmt.Sprintf("%s %s, %d events, world %d servers × %d channels, %d users, %d members/server",
		s.Format, kind, s.Events, s.Servers, s.ChannelsPerServer, s.Users, s.MembersPerServer)
}

func (s Spec) world() synth.World {
	return synth.World{Seed: s.Seed, Servers: s.Servers, ChannelsPerServer: s.ChannelsPerServer, Users: s.Users,
		MembersPerServer: s.MembersPerServer, RolesPerServer: 3, EmojisPerServer: 2}
}

func (s Spec) active() int {
	if n := s.Servers * s.ChannelsPerServer; s.Active <= 0 || s.Active > n {
		return n
	}
	return s.Active
}

// MessagesIn returns how many of the stream's first k events are MessageCreate events, without
// encoding anything.
func (s Spec) MessagesIn(k int) int {
	k = min(k, s.Events)
	if !s.Mixed {
		return k
	}
	g := synth.New(s.world())
	n := 0
	for range k {
		if _, ok := g.Next().(*stoatpb.MessageCreateEvent); ok {
			n++
		}
	}
	return n
}

// placeholder marks where a stamp goes while a frame is encoded; it is then zeroed. No id or
// word of the stream contains a tilde. Content starts with it and a space, and the space is part
// of the search: a msgpack string's length byte may itself be a tilde (126).
var (
	placeholder = bytes.Repeat([]byte{'~'}, clock.StampLen)
	marker      = append(bytes.Clone(placeholder), ' ')
	zeros       = bytes.Repeat([]byte{'0'}, clock.StampLen)
)

// Stream is a built stream.
type Stream struct {
	Spec Spec
	// Ready is the Ready frame's payload; Handshake is Authenticated then Ready, as WebSocket
	// frames.
	Ready     []byte
	Handshake []byte
	// Events holds the events as WebSocket frames, back to back. Frame i is
	// Events[heads[i]:heads[i+1]], its payload starts at bodies[i], and its stamp (if it is a
	// MessageCreate) at stamps[i] (-1 otherwise).
	Events []byte
	heads  []int
	bodies []int
	stamps []int
}

// Len returns the number of events.
func (s *Stream) Len() int { return len(s.bodies) }

// Payload returns the payload (the Bonfire frame) of event i.
func (s *Stream) Payload(i int) []byte { return s.Events[s.bodies[i]:s.heads[i+1]] }

// Span returns the WebSocket frames of events [i, j).
func (s *Stream) Span(i, j int) []byte { return s.Events[s.heads[i]:s.heads[j]] }

// End returns the smallest j ≥ i whose span [i, j) holds at least size bytes, or Len.
func (s *Stream) End(i, size int) int {
	j := sort.SearchInts(s.heads, s.heads[i]+size)
	return min(max(j, i+1), s.Len())
}

// Stamp writes ns into the stamps of the MessageCreate events among [i, j). The caller must not
// write the same stream to two connections at once.
func (s *Stream) Stamp(i, j int, ns int64) {
	for k := i; k < j; k++ {
		if off := s.stamps[k]; off >= 0 {
			clock.PutStamp(s.Events[off:], ns)
		}
	}
}

// Messages returns how many of the first k events are MessageCreate events.
func (s *Stream) Messages(k int) int {
	n := 0
	for _, off := range s.stamps[:min(k, len(s.stamps))] {
		if off >= 0 {
			n++
		}
	}
	return n
}

// Build encodes the stream of spec.
func Build(spec Spec) (*Stream, error) {
	if spec.Servers < 0 || spec.ChannelsPerServer < 0 || spec.Users < 0 || spec.MembersPerServer < 0 || spec.Events < 0 {
		return nil, fmt.Errorf("stream: negative size in %+v", spec)
	}
	if spec.Events > 0 && spec.Servers*spec.ChannelsPerServer == 0 {
		return nil, fmt.Errorf("stream: %d events need at least one channel", spec.Events)
	}
	g := synth.New(spec.world())
	ready, err := appendReady(nil, spec, g)
	if err != nil {
		return nil, err
	}
	auth, err := bonfire.AppendFrame(nil, spec.Format, &stoatpb.AuthenticatedEvent{})
	if err != nil {
		return nil, fmt.Errorf("stream: encoding Authenticated: %w", err)
	}
	op := opcode(spec.Format)
	st := &Stream{Spec: spec, Ready: ready}
	st.Handshake = AppendWSFrame(AppendWSFrame(nil, op, auth), op, ready)

	mg := newMessages(spec, g)
	st.heads = make([]int, 0, spec.Events+1)
	st.bodies = make([]int, 0, spec.Events)
	st.stamps = make([]int, 0, spec.Events)
	var payload []byte
	for i := range spec.Events {
		var ev stoatpb.Event
		if spec.Mixed {
			ev = g.Next()
			if mc, ok := ev.(*stoatpb.MessageCreateEvent); ok {
				mc.Message.Content = string(placeholder) + " " + mc.Message.Content
			}
		} else {
			ev = mg.next()
		}
		if payload, err = bonfire.AppendFrame(payload[:0], spec.Format, ev); err != nil {
			return nil, fmt.Errorf("stream: encoding event %d (%s): %w", i, ev.EventType(), err)
		}
		stamp := -1
		if _, ok := ev.(*stoatpb.MessageCreateEvent); ok {
			at := bytes.Index(payload, marker)
			if at < 0 {
				return nil, fmt.Errorf("stream: event %d: no stamp placeholder in the encoded frame", i)
			}
			copy(payload[at:], zeros)
			stamp = at
		}
		head := len(st.Events)
		st.Events = AppendWSFrame(st.Events, op, payload)
		body := len(st.Events) - len(payload)
		if stamp >= 0 {
			stamp += body
		}
		st.heads = append(st.heads, head)
		st.bodies = append(st.bodies, body)
		st.stamps = append(st.stamps, stamp)
	}
	st.heads = append(st.heads, len(st.Events))
	return st, nil
}

// --- messages -----------------------------------------------------------------------------------

var words = []string{"ermine", "stoat", "actor", "cache", "bonfire", "ready", "shard", "owner", "event",
	"handler", "message", "channel", "server", "member", "latency", "throughput", "hello", "world"}

// messages generates the MessageCreate events of a non-mixed stream: each into a random active
// channel, from a random member of its server, with the author's user and member objects
// embedded as the real server sends them.
type messages struct {
	spec Spec
	g    *synth.Generator
	rng  *rand.Rand
	ms   uint64
	seq  uint64
}

func newMessages(spec Spec, g *synth.Generator) *messages {
	return &messages{spec: spec, g: g, rng: rand.New(rand.NewPCG(spec.Seed, 0x5eed0fbe4c4)),
		ms: uint64(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli())}
}

func (m *messages) next() *stoatpb.MessageCreateEvent {
	cps := m.spec.ChannelsPerServer
	ch := m.rng.IntN(m.spec.active())
	s, c := ch/cps, ch%cps
	mem := m.rng.IntN(max(1, m.spec.MembersPerServer))
	u := m.g.MemberUser(s, mem)
	b := make([]byte, 0, 128)
	b = append(b, placeholder...)
	for range 3 + m.rng.IntN(12) {
		b = append(b, ' ')
		b = append(b, words[m.rng.IntN(len(words))]...)
	}
	member := m.g.Member(s, mem)
	return &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
		Id: m.id(), Nonce: m.id(), Channel: m.g.ChannelID(s, c), Author: m.g.UserID(u), Content: string(b),
		User: m.g.User(u), Member: member,
	}}
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// id returns a fresh ULID, increasing along the stream.
func (m *messages) id() string {
	m.seq++
	if m.seq%4 == 0 {
		m.ms++
	}
	ms, lo, hi := m.ms, m.rng.Uint64(), m.seq&0xffff
	var b [26]byte
	for i := 25; i >= 10; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	return string(b[:])
}

// --- Ready --------------------------------------------------------------------------------------

// appendReady encodes the Ready: every list a client iterates is present, even when empty (stoat.js
// 7.3.4 iterates them unchecked, policy_changes included). Objects are encoded one by one, so a
// world of a million members is never held as objects.
func appendReady(dst []byte, spec Spec, g *synth.Generator) ([]byte, error) {
	w := g.World()
	users, members := w.Users, w.MembersPerServer
	if spec.Mixed { // the Ready of `ermine gen`: only the bot's own user and memberships
		users, members = 0, 0
	}
	type list struct {
		key  string
		n    int
		item func(i int) proto.Message
	}
	lists := []list{
		{"users", users + 1, func(i int) proto.Message {
			if i == users {
				return g.Bot() // last, as the server sends it
			}
			return g.User(i)
		}},
		{"servers", w.Servers, func(i int) proto.Message {
			srv := g.Server(i)
			srv.ApproximateMemberCount = 0 // stoat.js logs a line per server for this key
			return srv
		}},
		{"channels", w.Servers * w.ChannelsPerServer, func(i int) proto.Message {
			return g.Channel(i/w.ChannelsPerServer, i%w.ChannelsPerServer)
		}},
		{"members", w.Servers * (members + 1), func(i int) proto.Message {
			s, m := i/(members+1), i%(members+1)
			if m == members {
				return g.BotMember(s)
			}
			return g.Member(s, m)
		}},
		{"emojis", w.Servers * w.EmojisPerServer, func(i int) proto.Message {
			return g.Emoji(i/w.EmojisPerServer, i%w.EmojisPerServer)
		}},
		{"voice_states", 0, nil},
		{"policy_changes", 0, nil},
	}
	var err error
	mp := spec.Format == bonfire.Msgpack
	if mp {
		dst = append(dst, 0x80|byte(1+len(lists)))
		dst = mpStr(dst, "type")
		dst = mpStr(dst, "Ready")
	} else {
		dst = append(dst, `{"type":"Ready"`...)
	}
	for _, l := range lists {
		if mp {
			dst = mpStr(dst, l.key)
			dst = binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(l.n))
		} else {
			dst = append(dst, `,"`...)
			dst = append(dst, l.key...)
			dst = append(dst, `":[`...)
		}
		for i := range l.n {
			if !mp && i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = bonfire.AppendModel(dst, spec.Format, l.item(i)); err != nil {
				return nil, fmt.Errorf("stream: encoding Ready.%s[%d]: %w", l.key, i, err)
			}
		}
		if !mp {
			dst = append(dst, ']')
		}
	}
	if !mp {
		dst = append(dst, '}')
	}
	return dst, nil
}

func mpStr(dst []byte, s string) []byte { return append(append(dst, 0xa0|byte(len(s))), s...) }

// --- WebSocket framing --------------------------------------------------------------------------

// Opcodes of the WebSocket data frames: JSON travels in text frames, msgpack in binary ones.
const (
	OpText   = 0x1
	OpBinary = 0x2
)

func opcode(f bonfire.Format) byte {
	if f == bonfire.Msgpack {
		return OpBinary
	}
	return OpText
}

// Opcode returns the WebSocket opcode of f's frames.
func Opcode(f bonfire.Format) byte { return opcode(f) }

// AppendWSFrame appends payload as one final, unmasked WebSocket frame (server to client, RFC
// 6455 §5.2).
func AppendWSFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
	return append(dst, payload...)
}
