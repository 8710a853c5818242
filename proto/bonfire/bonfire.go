// Package bonfire is the codec of Stoat's event protocol ("Bonfire"): it turns the bytes of one
// server→client frame, JSON or msgpack, into typed stoatpb events, and encodes frames and model
// objects the other way. It does no I/O and holds no goroutines.
//
// Decoding is tolerant like a good client: unknown keys are skipped, null stands for absent,
// numbers may arrive as strings or floats, legacy shapes are accepted and normalised, and a frame
// of an unknown type becomes a stoatpb.UnknownEvent. Malformed input yields a *FrameError naming
// the frame type, the offset and what was wrong; it never panics, and no count read from the
// input is trusted for an allocation. A malformed item of a Ready's lists (a user, a server…)
// costs only itself: Decoder.Skipped reports it, and the rest of the Ready applies.
package bonfire

import (
	"errors"
	"fmt"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Format is a Bonfire wire format.
type Format uint8

const (
	// JSON frames are WebSocket text messages (format=json).
	JSON Format = iota
	// Msgpack frames are WebSocket binary messages (format=msgpack).
	Msgpack
)

// String returns the format's name as used in the events URL.
func (f Format) String() string {
	if f == Msgpack {
		return "msgpack"
	}
	return "json"
}

// ParseFormat parses "json" or "msgpack".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "json", "":
		return JSON, nil
	case "msgpack":
		return Msgpack, nil
	}
	return JSON, fmt.Errorf("bonfire: unknown format %q (want json or msgpack)", s)
}

// SyntaxError describes malformed input at a byte offset.
type SyntaxError struct {
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.Reason, e.Offset)
}

// FrameError is the error for a frame that could not be decoded.
type FrameError struct {
	// Type is the frame's "type", when it could be read.
	Type   string
	Format Format
	// Err is the underlying *SyntaxError (or a plain error for a frame without a type).
	Err error
}

func (e *FrameError) Error() string {
	t := e.Type
	if t == "" {
		t = "(no type)"
	}
	return fmt.Sprintf("bonfire: malformed %s frame %s: %v", e.Format, t, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// SkippedItem is an item that Decode left out of a frame while decoding the rest: an element of
// a tolerant list (the lists of a Ready: users, servers, channels, members, emojis…) that failed
// to decode, or a whole tolerant list that was not a list (then read as absent).
type SkippedItem struct {
	// Frame is the type of the frame that held the item, e.g. "Ready".
	Frame string
	// Path locates the item in its frame by wire names: "users[3]" for the fourth user (for an
	// object-shaped list such as user_settings, the index of the entry), "users" for the list.
	Path string
	// Type is what the item should have been: "User" for an element, "[]User" for a list.
	Type string
	// Offset is where the item begins, in bytes from the start of the frame given to Decode.
	Offset int
	// Err says what was wrong and where (its Offset is also relative to the frame).
	Err *SyntaxError
}

func (s SkippedItem) String() string {
	return fmt.Sprintf("%s %s (%s) at offset %d: %v", s.Frame, s.Path, s.Type, s.Offset, s.Err)
}

// ErrNoType is the FrameError cause of a frame object without a string "type".
var ErrNoType = errors.New(`the frame has no "type"`)

// Decoder decodes server→client frames. It keeps scratch space, a table of recently seen ids and
// one of recently decoded embedded objects between frames, so one Decoder should serve one
// connection; it is not safe for concurrent use.
//
// The events a Decoder returns are to be read, never modified in place: the author's User and
// Member embedded in a Message are shared with the Messages of earlier and later frames that
// carry the same bytes (copy them with proto.Clone or ShallowClone to change them).
type Decoder struct {
	format Format
	skip   func(frameType string) bool
	d      decoder
	peek   decoder
}

// DecoderOption configures a Decoder.
type DecoderOption func(*Decoder)

// WithSkip makes the Decoder drop frames whose type skip reports true for, after a cheap peek at
// their "type" and before decoding them (Twilight-style event-type flags). Skipped frames produce
// no event. Bulk frames are never skipped as a whole; their children are checked one by one.
func WithSkip(skip func(frameType string) bool) DecoderOption {
	return func(d *Decoder) { d.skip = skip }
}

// NewDecoder returns a Decoder for frames in format f.
func NewDecoder(f Format, opts ...DecoderOption) *Decoder {
	dec := &Decoder{format: f}
	dec.d.strs = newInternTable()
	dec.d.memo = newObjectMemo()
	dec.peek.strs = nil
	for _, o := range opts {
		o(dec)
	}
	return dec
}

// Format returns the wire format the Decoder reads.
func (dec *Decoder) Format() Format { return dec.format }

// Decode decodes one frame and appends its events to dst: one event, or each child of a Bulk in
// order (nested Bulks flattened), or none for a skipped frame. A frame whose type is unknown
// becomes a *stoatpb.UnknownEvent. If some children of a Bulk are malformed, the others are still
// appended and the error reports the first failure; a malformed frame otherwise appends nothing.
//
// A malformed item of a tolerant list (any list of a Ready) costs only itself: the frame decodes
// without it, with no error, and Skipped reports it.
func (dec *Decoder) Decode(frame []byte, dst []stoatpb.Event) ([]stoatpb.Event, error) {
	dec.d.skipped, dec.d.nskipped = dec.d.skipped[:0], 0
	return dec.decodeFrame(frame, dst, 0, 0)
}

// Skipped reports the items that the last Decode left out of the events it returned (see
// SkippedItem): the first few in detail, and the count of all of them. The slice is valid until
// the next Decode.
func (dec *Decoder) Skipped() (items []SkippedItem, count int) {
	return dec.d.skipped, dec.d.nskipped
}

// decodeFrame decodes frame, which begins base bytes into the frame given to Decode.
func (dec *Decoder) decodeFrame(frame []byte, dst []stoatpb.Event, depth, base int) ([]stoatpb.Event, error) {
	typ, err := peekType(&dec.peek, frame, dec.format)
	if err != nil {
		return dst, err
	}
	if typ == "Bulk" {
		return dec.decodeBulk(frame, dst, depth, base)
	}
	if dec.skip != nil && dec.skip(typ) {
		return dst, nil
	}
	d := &dec.d
	d.reset(frame, dec.format == Msgpack)
	d.frameType, d.base = typ, base
	described, skipped := len(d.skipped), d.nskipped
	ev := decodeEvent(d, typ, frame)
	if d.err == nil {
		d.end()
	}
	if d.err != nil {
		// The frame yields nothing: nothing was left out of it either.
		d.skipped, d.nskipped = d.skipped[:described], skipped
		return dst, &FrameError{Type: typ, Format: dec.format, Err: d.err}
	}
	return append(dst, ev), nil
}

// decodeBulk decodes each child of a Bulk frame separately, so that one malformed child costs only
// itself. The children are first delimited with a validating skip.
func (dec *Decoder) decodeBulk(frame []byte, dst []stoatpb.Event, depth, base int) ([]stoatpb.Event, error) {
	if depth >= maxDepth {
		return dst, &FrameError{Type: "Bulk", Format: dec.format, Err: &SyntaxError{Reason: "Bulk nested too deep"}}
	}
	var children [][2]int
	d := &decoder{msgpack: dec.format == Msgpack}
	d.reset(frame, d.msgpack)
	if n, ok := d.openObject(); ok {
		for {
			k, more := d.nextKey(&n)
			if !more {
				break
			}
			if string(k) != "v" {
				d.skip()
				continue
			}
			if m, ok := d.openArray(); ok {
				for d.nextElem(&m) {
					d.ws0()
					start := d.pos
					d.skip()
					children = append(children, [2]int{start, d.pos})
				}
			}
		}
	}
	if d.err == nil {
		d.end()
	}
	if d.err != nil {
		return dst, &FrameError{Type: "Bulk", Format: dec.format, Err: d.err}
	}
	var first error
	for _, c := range children {
		var err error
		dst, err = dec.decodeFrame(frame[c[0]:c[1]:c[1]], dst, depth+1, base+c[0])
		if err != nil && first == nil {
			first = err
		}
	}
	return dst, first
}

// ws0 skips JSON white space without failing at the end of input.
func (d *decoder) ws0() {
	if d.msgpack {
		return
	}
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\n', '\r', '\t':
			d.pos++
		default:
			return
		}
	}
}

// PeekType returns the "type" of a frame without decoding it. Known types are returned without
// allocating.
func PeekType(f Format, frame []byte) (string, error) {
	var d decoder
	return peekType(&d, frame, f)
}

func peekType(d *decoder, frame []byte, f Format) (string, error) {
	d.reset(frame, f == Msgpack)
	b, found := d.findKey("type")
	if d.err != nil {
		return "", &FrameError{Format: f, Err: d.err}
	}
	if !found || b == nil {
		return "", &FrameError{Format: f, Err: ErrNoType}
	}
	if t := knownFrameType(b); t != "" {
		return t, nil
	}
	return string(b), nil
}

// findKey scans the top-level object for key and returns its string value (valid until the next
// read). It reports false when the key is absent; a non-string value is an error.
func (d *decoder) findKey(key string) ([]byte, bool) {
	n, ok := d.openObject()
	if !ok {
		if d.err == nil {
			d.fail("expected an object")
		}
		return nil, false
	}
	for {
		k, more := d.nextKey(&n)
		if !more {
			return nil, false
		}
		if string(k) == key {
			return d.strBytes(), true
		}
		d.skip()
	}
}

// decodeEvent decodes the frame in d (of type typ) into its event.
func decodeEvent(d *decoder, typ string, frame []byte) stoatpb.Event {
	switch typ {
	case "ChannelCreate":
		ch := new(stoatpb.Channel)
		decodeChannel(d, ch)
		if isServerChannel(ch) {
			return &stoatpb.ServerChannelCreateEvent{Channel: ch}
		}
		return &stoatpb.PrivateChannelCreateEvent{Channel: ch}
	case "Auth":
		return decodeLegacyAuth(d, frame)
	case "UserPresence":
		return decodeLegacyPresence(d)
	}
	if ev := decodeSimpleEvent(d, typ); ev != nil {
		normalize(ev)
		return ev
	}
	d.skip() // still reject a malformed frame of an unknown type
	return &stoatpb.UnknownEvent{Type: typ, Raw: append([]byte(nil), frame...)}
}

func isServerChannel(ch *stoatpb.Channel) bool {
	switch ch.ChannelType {
	case stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL:
		return true
	case stoatpb.ChannelType_CHANNEL_TYPE_UNSPECIFIED:
		return ch.Server != ""
	}
	return false
}

// decodeLegacyAuth decodes the pre-2026-06 {"type":"Auth","event_type":…} session events.
func decodeLegacyAuth(d *decoder, frame []byte) stoatpb.Event {
	var sub decoder
	sub.reset(frame, d.msgpack)
	b, _ := sub.findKey("event_type")
	if sub.err != nil {
		d.err = sub.err
		return nil
	}
	switch string(b) {
	case "DeleteSession":
		ev := new(stoatpb.SessionDeleteEvent)
		decodeSessionDeleteEvent(d, ev)
		return ev
	case "DeleteAllSessions":
		ev := new(stoatpb.SessionDeleteAllEvent)
		decodeSessionDeleteAllEvent(d, ev)
		return ev
	case "CreateSession":
		ev := new(stoatpb.SessionCreateEvent)
		decodeSessionCreateEvent(d, ev)
		return ev
	}
	d.skip()
	return &stoatpb.UnknownEvent{Type: "Auth", Raw: append([]byte(nil), frame...)}
}

// decodeLegacyPresence turns the deprecated {"type":"UserPresence","id","online"} into the
// UserUpdate the current server sends instead.
func decodeLegacyPresence(d *decoder) stoatpb.Event {
	ev := &stoatpb.UserUpdateEvent{User: new(stoatpb.PartialUser)}
	n, ok := d.openObject()
	for ok {
		k, more := d.nextKey(&n)
		if !more {
			break
		}
		switch string(k) {
		case "id":
			ev.UserId = d.str()
		case "online":
			online := d.boolean()
			ev.User.Online = &online
		default:
			d.skip()
		}
	}
	return ev
}

// normalize fills what older servers omit and derives what the frame implies.
func normalize(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.ServerMemberJoinEvent:
		if e.Member == nil {
			e.Member = &stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: e.UserId}}
		}
		if e.UserId == "" && e.Member.GetId() != nil {
			e.UserId = e.Member.Id.User
		}
	case *stoatpb.UserRelationshipUpdateEvent:
		if e.NewUser != nil && e.Status != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE &&
			e.NewUser.Relationship == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE {
			e.NewUser.Relationship = e.Status
		}
	case *stoatpb.ReadyEvent:
		for i := len(e.Users) - 1; i >= 0; i-- {
			if e.Users[i].Relationship == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER {
				e.Me = e.Users[i]
				break
			}
		}
	}
}

// DecodeClientFrame decodes one client→server frame (Authenticate, Ping, BeginTyping…), as a
// server does. An unknown type is an error: the real server ignores such frames.
func DecodeClientFrame(f Format, frame []byte) (proto.Message, error) {
	var d decoder
	typ, err := peekType(&d, frame, f)
	if err != nil {
		return nil, err
	}
	d.reset(frame, f == Msgpack)
	m := decodeClientFrameBody(&d, typ)
	if m == nil {
		return nil, &FrameError{Type: typ, Format: f, Err: errors.New("unknown client frame type")}
	}
	d.end()
	if d.err != nil {
		return nil, &FrameError{Type: typ, Format: f, Err: d.err}
	}
	return m, nil
}

// AppendFrame appends the wire frame of msg (an event or a client frame) to dst.
func AppendFrame(dst []byte, f Format, msg proto.Message) ([]byte, error) {
	var e encoder
	e.reset(dst, f == Msgpack)
	if !encodeFrameBody(&e, msg) {
		return dst, fmt.Errorf("bonfire: %T is not a frame", msg)
	}
	return e.buf, nil
}

// AppendBulk appends a Bulk frame carrying events in order.
func AppendBulk(dst []byte, f Format, events []stoatpb.Event) ([]byte, error) {
	var e encoder
	e.reset(dst, f == Msgpack)
	e.beginObject()
	e.key("type")
	e.str("Bulk")
	e.key("v")
	e.beginArray()
	for _, ev := range events {
		if !encodeFrameBody(&e, ev) {
			return dst, fmt.Errorf("bonfire: %T is not a frame", ev)
		}
	}
	e.endArray()
	e.endObject()
	return e.buf, nil
}

// AppendModel appends a model object (User, Message, Channel…) as the Stoat API sends it: wire
// field names, keys sorted, absent fields omitted.
func AppendModel(dst []byte, f Format, msg proto.Message) ([]byte, error) {
	var e encoder
	e.reset(dst, f == Msgpack)
	if !encodeModel(&e, msg) {
		return dst, fmt.Errorf("bonfire: %T is not a model object", msg)
	}
	return e.buf, nil
}

// UnmarshalModel decodes a model object (e.g. a REST response body) into msg.
func UnmarshalModel(f Format, data []byte, msg proto.Message) error {
	var d decoder
	d.reset(data, f == Msgpack)
	if !decodeModel(&d, msg) {
		return fmt.Errorf("bonfire: %T is not a model object", msg)
	}
	d.end()
	if d.err != nil {
		return fmt.Errorf("bonfire: decoding %T: %w", msg, d.err)
	}
	return nil
}

// decodeCustomPingData reads a ping payload: a non-negative integer or an array of bytes.
func decodeCustomPingData(d *decoder) *stoatpb.PingData {
	if d.null() {
		return nil
	}
	p := new(stoatpb.PingData)
	if d.msgpack {
		if d.pos < len(d.buf) && (d.buf[d.pos] >= 0x90 && d.buf[d.pos] <= 0x9f || d.buf[d.pos] == 0xdc || d.buf[d.pos] == 0xdd || d.buf[d.pos] >= 0xc4 && d.buf[d.pos] <= 0xc6) {
			p.Bytes = d.bytes()
			return p
		}
	} else if d.ws() && d.buf[d.pos] == '[' {
		p.Bytes = d.bytes()
		return p
	}
	p.Number = d.uint64()
	return p
}

func encodeCustomPingData(e *encoder, p *stoatpb.PingData) {
	if p.GetBytes() != nil {
		e.bytes(p.Bytes)
		return
	}
	e.uint64(p.GetNumber())
}
