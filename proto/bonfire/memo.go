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
	// memoWays and memoSets bound the objects remembered per Decoder (the recent authors'
	// users and members): a set of memoWays slots per hash, memoWays*memoSets in all.
	memoWays = 4
	memoSets = 512
	// memoPrefix is how many of an object's first bytes choose its set: enough to hold the
	// ids at the front of a user ({"_id":…}) and of a member ({"_id":{"server":…,"user":…}}),
	// so that the members of one server do not all fall into one set. Shorter objects are not
	// remembered (they are cheap to decode anyway), which lets the set be found before the
	// object's end is known.
	memoPrefix = 96
	// memoMaxLen bounds the bytes of an object remembered, and so the memo's memory: at most
	// memoWays*memoSets copies of memoMaxLen bytes and the objects decoded from them (2 MiB
	// and about as much again). Real users and members take 100 to 500 bytes.
	memoMaxLen = 1024
	// maxMemoHits bounds how many misses a popular slot resists (as in internTable): an author
	// seen once must not push out one who writes all day.
	maxMemoHits = 3
	// memoGhosts is the size of the table of prefix hashes seen once (objectMemo.ghosts).
	memoGhosts = 4096
)

// objectMemo is a set-associative table from the bytes of a recently decoded object to the
// object decoded from them. It is bounded, and belongs to one Decoder.
type objectMemo struct {
	seed  maphash.Seed
	slots []memoEntry // memoWays*memoSets, allocated on first use
	// ghosts holds the prefix hashes of objects seen once and not remembered: an object is
	// remembered when its prefix comes the second time. Objects that never come back (every
	// author a new one) so cost a hash and no copy, and are not kept alive.
	ghosts []uint64 // memoGhosts, allocated on first use
}

// memoEntry is one remembered object.
type memoEntry struct {
	raw   []byte // a copy of the object's bytes (the frame's buffer is reused); nil if empty
	obj   any    // the *stoatpb message decoded from raw; never modified
	depth int32  // the nesting depth it was decoded at: at a deeper one it might fail
	hits  uint8  // hits since the object came in, saturating at maxMemoHits
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
	if t.slots == nil {
		t.slots, t.ghosts = make([]memoEntry, memoWays*memoSets), make([]uint64, memoGhosts)
	}
	h := maphash.Bytes(t.seed, d.buf[start:start+memoPrefix])
	i := int(h&(memoSets-1)) * memoWays
	set := t.slots[i : i+memoWays : i+memoWays]
	for j := range set {
		e := &set[j]
		if e.raw != nil && d.depth <= int(e.depth) && bytes.HasPrefix(d.buf[start:], e.raw) {
			if obj, ok := e.obj.(T); ok {
				d.pos += len(e.raw)
				if e.hits < maxMemoHits {
					e.hits++
				}
				return obj
			}
		}
	}
	depth := d.depth
	cur = new(M)
	decode(d, cur)
	if n := d.pos - start; d.err == nil && n >= memoPrefix && n <= memoMaxLen {
		if g := &t.ghosts[h>>32&(memoGhosts-1)]; *g != h {
			*g = h // seen once: remembered if it comes again
			return cur
		}
		// The new object takes a slot whose object has not been found again lately; if every
		// slot's has, the miss only wears them down.
		var victim *memoEntry
		for j := range set {
			if e := &set[j]; e.hits == 0 {
				victim = e
				break
			}
		}
		if victim == nil {
			for j := range set {
				set[j].hits--
			}
			return cur
		}
		victim.raw = append(victim.raw[:0], d.buf[start:d.pos]...)
		victim.obj, victim.depth = cur, int32(depth)
	}
	return cur
}
