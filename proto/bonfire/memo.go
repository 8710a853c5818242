package bonfire

import (
	"bytes"
	"hash/maphash"

	"google.golang.org/protobuf/proto"
)

// The object memo. Every Message frame embeds its author's user and, in servers, member object
// (wireopt's memo option), and these repeat byte for byte across the author's messages: about
// 40 % of a frame's bytes and half of its decoding. A Decoder remembers the objects it decoded
// last, by their bytes, and when the same bytes come again it skips them and reuses the object
// decoded from them, which then is shared between events: events are immutable snapshots (the
// cache owners publish changes as new objects built from ShallowClone, never in place).
//
// Reuse never changes what is decoded. Decoding an object reads only its own bytes (a JSON
// object ends at its own closing brace, a msgpack map after its own entries), and what it yields
// depends on them alone: on the format, fixed per Decoder, and on the nesting depth, which the
// entry records (a deeper object could exceed maxDepth). The objects memoised hold no tolerant
// list, whose reports would depend on the frame (protoc-gen-ermine checks). Only an object that
// decoded without error is remembered, so invalid input fails as before, at the same offset.

const (
	// memoSlots bounds the objects remembered per Decoder: the recent authors' users and
	// members.
	memoSlots = 1024
	// memoPrefix is how many of an object's first bytes choose its slot: enough to hold the
	// ids at the front of a user ({"_id":…}) and of a member ({"_id":{"server":…,"user":…}}),
	// so that the members of one server do not all fall into one slot. Shorter objects are not
	// remembered (they are cheap to decode anyway), which lets the slot be found before the
	// object's end is known.
	memoPrefix = 96
	// memoMaxLen bounds the bytes of an object remembered, and so the memo's memory
	// (memoSlots × memoMaxLen of copies at most, and their decoded objects). Real users and
	// members take a few hundred bytes.
	memoMaxLen = 1024
	// maxMemoHits bounds how many misses a popular slot resists (as in internTable): an author
	// seen once must not push out one who writes all day.
	maxMemoHits = 3
)

// objectMemo is a direct-mapped table from the bytes of a recently decoded object to the object
// decoded from them. It is bounded, and belongs to one Decoder.
type objectMemo struct {
	seed  maphash.Seed
	slots [memoSlots]memoEntry
	hits  [memoSlots]uint8 // hits since the slot's object came in, saturating at maxMemoHits
}

// memoEntry is one remembered object.
type memoEntry struct {
	raw   []byte // a copy of the object's bytes (the frame's buffer is reused); nil if empty
	depth int    // the nesting depth it was decoded at: at a deeper one it might fail
	obj   any    // the *stoatpb message decoded from raw; never modified
}

func newObjectMemo() *objectMemo {
	return &objectMemo{seed: maphash.MakeSeed()}
}

// memoized decodes the object at d.pos with decode and returns it, or returns the object
// decoded earlier from the same bytes (see objectMemo). cur is the field's value so far, nil
// unless the object's key is repeated in its parent.
func memoized[T interface {
	*M
	proto.Message
}, M any](d *decoder, cur T, decode func(*decoder, T)) T {
	t := d.memo
	if cur != nil {
		// A repeated key merges into the object decoded so far, which may be shared: merge
		// into a copy. Rare (a client never sends it), so it bypasses the memo.
		if t != nil {
			cur = proto.Clone(cur).(T)
		}
		decode(d, cur)
		return cur
	}
	start := d.pos
	if t == nil || len(d.buf)-start < memoPrefix {
		cur = new(M)
		decode(d, cur)
		return cur
	}
	i := maphash.Bytes(t.seed, d.buf[start:start+memoPrefix]) & (memoSlots - 1)
	e := &t.slots[i]
	if e.raw != nil && d.depth <= e.depth && bytes.HasPrefix(d.buf[start:], e.raw) {
		if obj, ok := e.obj.(T); ok {
			d.pos += len(e.raw)
			if t.hits[i] < maxMemoHits {
				t.hits[i]++
			}
			return obj
		}
	}
	depth := d.depth
	cur = new(M)
	decode(d, cur)
	if n := d.pos - start; d.err == nil && n >= memoPrefix && n <= memoMaxLen {
		if t.hits[i] > 0 {
			t.hits[i]--
			return cur
		}
		e.raw = append(e.raw[:0], d.buf[start:d.pos]...)
		e.depth, e.obj = depth, cur
	}
	return cur
}
