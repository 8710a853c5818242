package cacheactors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unsafe"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// # The compact form of a cached message
//
// A *stoatpb.Message costs 352 bytes of struct alone (its 20 fields plus protobuf's internal
// state), before any string. Most messages are plain: an id, a nonce, an author, some text,
// perhaps an edit time, flags, replies and mentions. The window keeps those as a record: a
// pointer-free header (cmsg) followed by the fields' bytes, cut from a chunk its channel fills in
// order (recordArena). Ids that are canonical ULIDs — every id Stoat makes — take their 16-byte
// binary form, whose byte order is the string order. A record costs its bytes and nothing else:
// no allocation of its own, no pointer for the collector to scan, no size-class rounding, and
// RSS close to the live heap (a chunk is one large pointer-free allocation).
//
// Readers still receive a *stoatpb.Message: it is built on each read (one 352-byte allocation,
// one for the id, nonce and author text, one for the reply and mention lists if any; the content
// and reference strings point into the record), so it is an immutable snapshot like any other
// cached object. A message with any other field (embeds, attachments, reactions, webhook,
// system, masquerade, interactions) is kept whole (a fullMsg), and a read returns that same
// object. Policy.FullMessages keeps every message whole.

// cmsg is the header of a cached message. In a compact record the header is followed, in the
// same chunk, by the optional fields (edited: 8 bytes, flags: 4, the three reference counts: 3,
// each present when its bit is set), then the id, nonce, author, content and references (26 bytes
// each). A message kept whole is a fullMsg, whose first field is the header.
type cmsg struct {
	contentLen uint16
	bits       recordBits
	// idLen, nonceLen and authorLen are the fields' lengths in the record (16 when binary).
	idLen, nonceLen, authorLen uint8
	// kind is the context kind of the write that cached this version (Store.LastWrite).
	kind CacheContextKind
	_    uint8
}

// recordBits say how a record is laid out.
type recordBits uint8

const (
	recFull      recordBits = 1 << iota // a fullMsg: the message is kept whole
	recIDBin                            // the id is a binary ULID
	recNonceBin                         // the nonce is a binary ULID
	recAuthorBin                        // the author is a binary ULID
	recPinned                           // the message is pinned
	recEdited                           // an edit time follows the header
	recFlags                            // flags follow (after the edit time)
	recRefs                             // three reference counts follow (replies, mentions, role mentions)
)

// fullMsg is a message kept whole.
type fullMsg struct {
	cmsg // first, so that a *cmsg of a fullMsg points at the fullMsg
	m    *stoatpb.Message
}

const (
	// cmsgSize is the size of a record's header.
	cmsgSize = int(unsafe.Sizeof(cmsg{}))
	// refLen is the length of the ids the compact form packs: ULIDs.
	refLen = 26
	// ulidLen is the length of a ULID in binary.
	ulidLen = 16
)

// full returns the message if it is kept whole, or nil.
func (c *cmsg) full() *stoatpb.Message {
	if c.bits&recFull == 0 {
		return nil
	}
	return (*fullMsg)(unsafe.Pointer(c)).m
}

// optLen is the size of the optional fields after the header.
func (c *cmsg) optLen() int {
	n := 0
	if c.bits&recEdited != 0 {
		n += 8
	}
	if c.bits&recFlags != 0 {
		n += 4
	}
	if c.bits&recRefs != 0 {
		n += 3
	}
	return n
}

// tail returns the record's bytes after the header, the first n of them.
func (c *cmsg) tail(n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(c), cmsgSize)), n)
}

// record is a compact record's fields, as slices of its bytes.
type record struct {
	edited                        int64
	flags                         uint32
	refs                          [3]int // replies, mentions, role mentions
	id, nonce, author, content, r []byte // r: the references, refLen bytes each
}

// fields reads a compact record.
func (c *cmsg) fields() record {
	opt := c.optLen()
	pre := opt + int(c.idLen) + int(c.nonceLen) + int(c.authorLen)
	head := c.tail(pre + int(c.contentLen))
	var r record
	o := 0
	if c.bits&recEdited != 0 {
		r.edited = int64(binary.LittleEndian.Uint64(head[o:]))
		o += 8
	}
	if c.bits&recFlags != 0 {
		r.flags = binary.LittleEndian.Uint32(head[o:])
		o += 4
	}
	if c.bits&recRefs != 0 {
		r.refs = [3]int{int(head[o]), int(head[o+1]), int(head[o+2])}
	}
	r.id = head[opt : opt+int(c.idLen)]
	r.nonce = head[opt+int(c.idLen) : opt+int(c.idLen)+int(c.nonceLen)]
	r.author = head[pre-int(c.authorLen) : pre]
	r.content = head[pre:]
	if n := r.refs[0] + r.refs[1] + r.refs[2]; n > 0 {
		r.r = c.tail(len(head) + n*refLen)[len(head):]
	}
	return r
}

// size is the record's size in its chunk (header included).
func (c *cmsg) size() int {
	if c.full() != nil {
		return int(unsafe.Sizeof(fullMsg{}))
	}
	r := c.fields()
	return cmsgSize + c.optLen() + len(r.id) + len(r.nonce) + len(r.author) + len(r.content) + len(r.r)
}

// compact returns the cached form of m (without its embedded user and member: those live in
// their own owners' caches), written in a context of kind; its record is cut from records.
func compact(m *stoatpb.Message, channel string, full bool, records *recordArena, kind CacheContextKind) *cmsg {
	if !full && m.Channel == channel && m.Webhook == nil && m.System == nil && len(m.Attachments) == 0 &&
		len(m.Embeds) == 0 && len(m.Reactions) == 0 && m.Interactions == nil && m.Masquerade == nil &&
		len(m.ProtoReflect().GetUnknown()) == 0 {
		if c := pack(m, records, kind); c != nil {
			return c
		}
	}
	if m.User != nil || m.Member != nil {
		m = m.ShallowClone()
		m.User, m.Member = nil, nil
	}
	return &(&fullMsg{cmsg: cmsg{bits: recFull, kind: kind}, m: m}).cmsg
}

// pack returns the compact record of m, or nil if m does not fit one (a field too long, a
// reference that is not a ULID).
func pack(m *stoatpb.Message, records *recordArena, kind CacheContextKind) *cmsg {
	h := cmsg{kind: kind}
	if m.Pinned {
		h.bits |= recPinned
	}
	if m.Edited != 0 {
		h.bits |= recEdited
	}
	if m.Flags != 0 {
		h.bits |= recFlags
	}
	lists := [3][]string{m.Replies, m.Mentions, m.RoleMentions}
	refs := 0
	for _, l := range lists {
		if len(l) > 0xff {
			return nil
		}
		for _, id := range l {
			if len(id) != refLen {
				return nil
			}
		}
		refs += len(l)
	}
	if refs > 0 {
		h.bits |= recRefs
	}
	var ids [3][ulidLen]byte
	for i, f := range []struct {
		s   string
		bin recordBits
		n   *uint8
	}{{m.Id, recIDBin, &h.idLen}, {m.Nonce, recNonceBin, &h.nonceLen}, {m.Author, recAuthorBin, &h.authorLen}} {
		var ok bool
		if ids[i], ok = parseULID(f.s); ok {
			h.bits |= f.bin
			*f.n = ulidLen
		} else if len(f.s) > 0xff {
			return nil
		} else {
			*f.n = uint8(len(f.s))
		}
	}
	if len(m.Content) > 0xffff {
		return nil
	}
	h.contentLen = uint16(len(m.Content))
	n := cmsgSize + h.optLen() + int(h.idLen) + int(h.nonceLen) + int(h.authorLen) + len(m.Content) + refs*refLen
	b := records.alloc(n)
	c := (*cmsg)(unsafe.Pointer(unsafe.SliceData(b)))
	*c = h
	t := b[cmsgSize:cmsgSize]
	if m.Edited != 0 {
		t = binary.LittleEndian.AppendUint64(t, uint64(m.Edited))
	}
	if m.Flags != 0 {
		t = binary.LittleEndian.AppendUint32(t, m.Flags)
	}
	if refs > 0 {
		t = append(t, byte(len(lists[0])), byte(len(lists[1])), byte(len(lists[2])))
	}
	for i, s := range []string{m.Id, m.Nonce, m.Author} {
		if h.bits&(recIDBin<<i) != 0 {
			t = append(t, ids[i][:]...)
		} else {
			t = append(t, s...)
		}
	}
	t = append(t, m.Content...)
	for _, l := range lists {
		for _, id := range l {
			t = append(t, id...)
		}
	}
	return c
}

// message returns the *stoatpb.Message of c.
func (c *cmsg) message(channel string) *stoatpb.Message {
	if m := c.full(); m != nil {
		return m
	}
	r := c.fields()
	var strs [3]string
	var text []byte // the binary ids as text, in one allocation
	for i, f := range [][]byte{r.id, r.nonce, r.author} {
		if c.bits&(recIDBin<<i) != 0 {
			if text == nil {
				text = make([]byte, 0, 3*refLen)
			}
			text = appendULID(text, f)
			strs[i] = unsafe.String(unsafe.SliceData(text[len(text)-refLen:]), refLen)
		} else {
			strs[i] = bytesString(f)
		}
	}
	m := &stoatpb.Message{
		Id:      strs[0],
		Nonce:   strs[1],
		Author:  strs[2],
		Content: bytesString(r.content),
		Channel: channel,
		Edited:  r.edited,
		Flags:   r.flags,
		Pinned:  c.bits&recPinned != 0,
	}
	if refs := r.refs[0] + r.refs[1] + r.refs[2]; refs > 0 {
		ids := make([]string, refs)
		for i := range ids {
			ids[i] = bytesString(r.r[i*refLen : (i+1)*refLen])
		}
		a, b := r.refs[0], r.refs[0]+r.refs[1]
		if a > 0 {
			m.Replies = ids[:a:a]
		}
		if b > a {
			m.Mentions = ids[a:b:b]
		}
		if refs > b {
			m.RoleMentions = ids[b:]
		}
	}
	return m
}

// bytesString is b as a string without a copy: b is a record's, never written again.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// id returns the message's id (allocated when the record keeps it in binary: ordering and
// lookups use key instead).
func (c *cmsg) id() string {
	if m := c.full(); m != nil {
		return m.Id
	}
	r := c.fields()
	if c.bits&recIDBin != 0 {
		return string(appendULID(nil, r.id))
	}
	return bytesString(r.id)
}

// authorIs reports whether user wrote the message.
func (c *cmsg) authorIs(user string) bool {
	if m := c.full(); m != nil {
		return m.Author == user
	}
	a := c.fields().author
	if c.bits&recAuthorBin != 0 {
		bin, ok := parseULID(user)
		return ok && bytes.Equal(a, bin[:])
	}
	return bytesString(a) == user
}

// An idKey is a message id ready to compare with others in id (string) order.
type idKey struct {
	s    string // the id; "" for a key of a binary record (see str)
	bin  [ulidLen]byte
	ulid bool // bin holds the id
}

// idKeyOf returns the key of id.
func idKeyOf(id string) idKey {
	k := idKey{s: id}
	k.bin, k.ulid = parseULID(id)
	return k
}

// key returns the key of c's id, without an allocation.
func (c *cmsg) key() idKey {
	if m := c.full(); m != nil {
		return idKeyOf(m.Id)
	}
	id := c.fields().id
	if c.bits&recIDBin != 0 {
		k := idKey{ulid: true}
		copy(k.bin[:], id)
		return k
	}
	return idKey{s: bytesString(id)}
}

// sameID reports whether a and b have the same id.
func sameID(a, b *cmsg) bool {
	ka, kb := a.key(), b.key()
	return compareKeys(&ka, &kb) == 0
}

// str is the key's id as a string.
func (k *idKey) str() string {
	if k.s == "" && k.ulid {
		return string(appendULID(nil, k.bin[:]))
	}
	return k.s
}

// compareKeys compares two ids in string order (binary ULIDs compare as their text does).
func compareKeys(a, b *idKey) int {
	if a.ulid && b.ulid {
		return bytes.Compare(a.bin[:], b.bin[:])
	}
	return strings.Compare(a.str(), b.str()) // a window mixing ULIDs and other ids: rare
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// crockfordValue maps an ASCII byte to its Crockford base32 digit, or 0xff. Only the canonical
// (upper-case) digits are accepted, so that the binary form gives back the same text.
var crockfordValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(crockford) {
		t[crockford[i]] = byte(i)
	}
	return t
}()

// parseULID returns the binary form of a canonical ULID (26 upper-case Crockford digits, the
// first at most 7), and whether s is one.
func parseULID(s string) (bin [ulidLen]byte, ok bool) {
	if len(s) != refLen || s[0] > '7' {
		return bin, false
	}
	var hi, lo uint64
	for i := range refLen {
		v := crockfordValue[s[i]]
		if v == 0xff {
			return bin, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	binary.BigEndian.PutUint64(bin[:8], hi)
	binary.BigEndian.PutUint64(bin[8:], lo)
	return bin, true
}

// appendULID appends the text of a binary ULID.
func appendULID(dst, bin []byte) []byte {
	hi, lo := binary.BigEndian.Uint64(bin[:8]), binary.BigEndian.Uint64(bin[8:])
	var b [refLen]byte
	for i := refLen - 1; i >= 0; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return append(dst, b[:]...)
}

// recordArena hands out the compact messages' records from chunks it fills in order — one
// allocation per chunk rather than one per message. A chunk lives while any record in it (or a
// string a reader took from one) does; a window evicts its oldest messages first, so chunks go in
// the order they were filled. Chunks grow with the channel's traffic, so that a quiet channel
// keeps a small one. Used by the channel owner only.
type recordArena struct {
	free []byte // what is left of the current chunk
	next int    // the size of the next chunk
}

const (
	minRecordChunk = 256
	maxRecordChunk = 4 << 10
)

// alloc returns n bytes (rounded up to the header's alignment) that nothing else will ever use.
func (a *recordArena) alloc(n int) []byte {
	n = (n + int(unsafe.Alignof(cmsg{})) - 1) &^ (int(unsafe.Alignof(cmsg{})) - 1)
	if n > maxRecordChunk/8 {
		return make([]byte, n) // a long message has an allocation of its own
	}
	if len(a.free) < n {
		a.next = min(max(a.next*2, minRecordChunk), maxRecordChunk)
		a.free = make([]byte, a.next)
	}
	b := a.free[:n:n]
	a.free = a.free[n:]
	return b
}
