package cacheactors

import (
	"sort"
	"sync/atomic"
	"unsafe"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// A channel's cached messages are a window: an immutable, id-ordered list that the channel owner
// replaces on every change (readers keep whatever window they loaded).
//
// # The compact form
//
// A *stoatpb.Message costs 352 bytes of struct alone (its 20 fields plus protobuf's internal
// state), before any string. Most messages are plain: an id, a nonce, an author, some text,
// perhaps an edit time, replies and mentions. The window keeps those as a cmsg: the id, nonce,
// content and the ids of replies, mentions and role mentions in one string (cut from a chunk the
// channel fills in order: textArena), the author string (shared: the decoder interns ids), and
// the few scalar fields — 64 bytes plus the text. Readers still receive a *stoatpb.Message: it is built on each read (one 352-byte
// allocation, plus one for the reply and mention lists if any; the strings are shared with the
// cached text), so it is an immutable snapshot like any other cached object. A message with any
// other field (embeds, attachments, reactions, webhook, system, masquerade, interactions) is kept
// whole (full), and a read returns that same object. Policy.FullMessages keeps every message
// whole.
type cmsg struct {
	// text is id + nonce + content + replies + mentions + role mentions (compact), or just the
	// id (full).
	text     string
	author   string
	edited   int64
	full     *stoatpb.Message
	flags    uint32
	idLen    uint16
	nonceLen uint16
	pinned   bool
	// nReplies, nMentions and nRoleMentions count the ids (of refLen bytes) at the end of text.
	nReplies, nMentions, nRoleMentions uint8
	// kind is the context kind of the write that cached this version (Store.LastWrite): it
	// lives in what was the struct's padding, so it costs no byte.
	kind CacheContextKind
}

// cmsgSize is the heap size of a cmsg (its allocation size class).
const cmsgSize = 64

// refLen is the length of the ids the compact form packs: ULIDs.
const refLen = 26

func (c *cmsg) id() string { return c.text[:c.idLen] }

// packable reports whether ids can be packed in a compact message.
func packable(ids []string) bool {
	if len(ids) > 0xff {
		return false
	}
	for _, id := range ids {
		if len(id) != refLen {
			return false
		}
	}
	return true
}

// compact returns the cached form of m (without its embedded user and member: those live in
// their own owners' caches), written in a context of kind.
func compact(m *stoatpb.Message, channel string, full bool, texts *textArena, kind CacheContextKind) *cmsg {
	if full || len(m.Id) > 0xffff || len(m.Nonce) > 0xffff || m.Channel != channel ||
		m.Webhook != nil || m.System != nil || len(m.Attachments) > 0 || len(m.Embeds) > 0 ||
		len(m.Reactions) > 0 || m.Interactions != nil || m.Masquerade != nil ||
		!packable(m.Replies) || !packable(m.Mentions) || !packable(m.RoleMentions) ||
		len(m.ProtoReflect().GetUnknown()) > 0 {
		if m.User != nil || m.Member != nil {
			m = m.ShallowClone()
			m.User, m.Member = nil, nil
		}
		return &cmsg{text: m.Id, idLen: uint16(len(m.Id)), full: m, kind: kind}
	}
	refs := len(m.Replies) + len(m.Mentions) + len(m.RoleMentions)
	b := texts.take(len(m.Id) + len(m.Nonce) + len(m.Content) + refs*refLen)
	b = append(b, m.Id...)
	b = append(b, m.Nonce...)
	b = append(b, m.Content...)
	for _, list := range [][]string{m.Replies, m.Mentions, m.RoleMentions} {
		for _, id := range list {
			b = append(b, id...)
		}
	}
	return &cmsg{
		text:          unsafe.String(unsafe.SliceData(b), len(b)), // b is never written again
		author:        m.Author,
		edited:        m.Edited,
		flags:         m.Flags,
		idLen:         uint16(len(m.Id)),
		nonceLen:      uint16(len(m.Nonce)),
		pinned:        m.Pinned,
		nReplies:      uint8(len(m.Replies)),
		nMentions:     uint8(len(m.Mentions)),
		nRoleMentions: uint8(len(m.RoleMentions)),
		kind:          kind,
	}
}

// textArena hands out the compact messages' text from chunks it fills in order — one allocation
// per chunk rather than one per message. A chunk lives while any text in it does; a window evicts
// its oldest messages first, so chunks go in the order they were filled. Chunks grow with the
// channel's traffic, so that a quiet channel keeps a small one. Used by the channel owner only.
type textArena struct {
	free []byte // what is left of the current chunk
	next int    // the size of the next chunk
}

const (
	minTextChunk = 256
	maxTextChunk = 8 << 10
)

// take returns an empty slice with room for n bytes that nothing else will ever write.
func (a *textArena) take(n int) []byte {
	if n > maxTextChunk/8 {
		return make([]byte, 0, n) // a long text has an allocation of its own
	}
	if len(a.free) < n {
		a.next = min(max(a.next*2, minTextChunk), maxTextChunk)
		a.free = make([]byte, a.next)
	}
	b := a.free[:0:n]
	a.free = a.free[n:]
	return b
}

// message returns the *stoatpb.Message of c.
func (c *cmsg) message(channel string) *stoatpb.Message {
	if c.full != nil {
		return c.full
	}
	n := int(c.idLen) + int(c.nonceLen)
	refs := int(c.nReplies) + int(c.nMentions) + int(c.nRoleMentions)
	end := len(c.text) - refs*refLen
	m := &stoatpb.Message{
		Id:      c.text[:c.idLen],
		Nonce:   c.text[c.idLen:n],
		Content: c.text[n:end],
		Channel: channel,
		Author:  c.author,
		Edited:  c.edited,
		Flags:   c.flags,
		Pinned:  c.pinned,
	}
	if refs > 0 {
		ids := make([]string, refs)
		for i := range ids {
			ids[i] = c.text[end+i*refLen : end+(i+1)*refLen]
		}
		r, mn := int(c.nReplies), int(c.nReplies)+int(c.nMentions)
		if r > 0 {
			m.Replies = ids[:r:r]
		}
		if mn > r {
			m.Mentions = ids[r:mn:mn]
		}
		if refs > mn {
			m.RoleMentions = ids[mn:]
		}
	}
	return m
}

// window is a view of a channel's cached messages, oldest first (ids are ULIDs, so this is id
// order). The channel owner publishes a new window for every change; readers keep whatever
// window they loaded. Successive windows share their backing array of slots: appending writes a
// slot beyond the older windows' length (they never read it), and replacing a message (an edit, a
// reaction) stores the new *cmsg into its slot atomically, so an older window may show the newer
// version of a message — each message is itself immutable. Removing or inserting in the middle
// copies the slots into a new array.
type window struct {
	channel string
	msgs    []atomic.Pointer[cmsg]
	// dead counts the evicted slots before msgs in its backing array: they still point at old
	// messages, so the array is copied once they are 1/8 of the window (see with).
	dead int
	// lastID is the channel's last_message_id when it is newer than the published channel's
	// (channelOwner.lastID): the window, published anyway for each message, carries it, so that
	// a new message does not cost a copy of the channel too.
	lastID string
}

// newWindow returns a window of msgs (in id order), with room for extra more.
func newWindow(channel string, msgs []*cmsg, extra int) *window {
	if len(msgs) == 0 {
		return nil
	}
	w := &window{channel: channel, msgs: make([]atomic.Pointer[cmsg], len(msgs), len(msgs)+extra)}
	for i, c := range msgs {
		w.msgs[i].Store(c)
	}
	return w
}

// at returns the i-th message.
func (w *window) at(i int) *cmsg { return w.msgs[i].Load() }

// all returns the window's messages (a new slice).
func (w *window) all() []*cmsg {
	if w == nil {
		return nil
	}
	out := make([]*cmsg, len(w.msgs))
	for i := range w.msgs {
		out[i] = w.msgs[i].Load()
	}
	return out
}

// lastMessageID is the channel's last_message_id as the window knows it ("": the channel's own).
func (w *window) lastMessageID() string {
	if w == nil {
		return ""
	}
	return w.lastID
}

// Len is the number of messages.
func (w *window) Len() int {
	if w == nil {
		return 0
	}
	return len(w.msgs)
}

// Messages returns the messages, oldest first (a new slice; the messages are immutable).
func (w *window) Messages() []*stoatpb.Message {
	if w == nil {
		return nil
	}
	out := make([]*stoatpb.Message, len(w.msgs))
	for i := range w.msgs {
		out[i] = w.at(i).message(w.channel)
	}
	return out
}

func (w *window) index(id string) (int, bool) {
	i := sort.Search(len(w.msgs), func(i int) bool { return w.at(i).id() >= id })
	return i, i < len(w.msgs) && w.at(i).id() == id
}

// Find returns the message with id, or nil.
func (w *window) Find(id string) *stoatpb.Message {
	if w == nil {
		return nil
	}
	if i, ok := w.index(id); ok {
		return w.at(i).message(w.channel)
	}
	return nil
}

// lastWrite returns the kind of the write that cached the message with id, if there is one.
func (w *window) lastWrite(id string) (CacheContextKind, bool) {
	if w == nil {
		return CacheUndefined, false
	}
	if i, ok := w.index(id); ok {
		return w.at(i).kind, true
	}
	return CacheUndefined, false
}

// with returns a window with c added (or replacing the message with its id), keeping at most
// limit messages (the oldest are evicted first), and how many were evicted.
func (w *window) with(channel string, c *cmsg, limit int) (*window, int) {
	if w == nil {
		return newWindow(channel, []*cmsg{c}, 7), 0
	}
	msgs, dead := w.msgs, w.dead
	n := len(msgs)
	i, found := n, false
	if n > 0 && w.at(n-1).id() >= c.id() { // not the usual append of a newer message
		i, found = w.index(c.id())
	}
	switch {
	case found:
		msgs[i].Store(c)
		return w, 0
	case i == n:
		if n == cap(msgs) {
			// Grow: double, but a bounded window reserves at most an eighth beyond its bound.
			extra := n + 1
			if limit > 0 {
				extra = max(min(extra, limit+limit/8-n), limit/8+1)
			}
			msgs, dead = copySlots(msgs, extra), 0
		}
		msgs = msgs[:n+1] // readers of w see only their own length
		msgs[n].Store(c)
	default:
		all := w.all()
		all = append(all[:i], append([]*cmsg{c}, all[i:]...)...)
		msgs, dead = newWindow(channel, all, len(all)/8+1).msgs, 0
	}
	evicted := 0
	if limit > 0 && len(msgs) > limit {
		evicted = len(msgs) - limit
		msgs, dead = msgs[evicted:], dead+evicted
	}
	if dead > 0 && dead >= max(len(msgs)/8, 8) {
		msgs, dead = copySlots(msgs, len(msgs)/8+1), 0
	}
	return &window{channel: channel, msgs: msgs, dead: dead}, evicted
}

// copySlots copies slots into a new array with room for extra more.
func copySlots(slots []atomic.Pointer[cmsg], extra int) []atomic.Pointer[cmsg] {
	cp := make([]atomic.Pointer[cmsg], len(slots), len(slots)+extra)
	for i := range slots {
		cp[i].Store(slots[i].Load())
	}
	return cp
}

// filter returns a window of the messages keep accepts (a copy), or w itself if it keeps all.
func (w *window) filter(keep func(*cmsg) bool) *window {
	if w == nil {
		return nil
	}
	all := w.all()
	kept := all[:0:0]
	for _, c := range all {
		if keep(c) {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(all) {
		return w
	}
	return newWindow(w.channel, kept, len(kept)/4+1)
}

// without returns a window without the messages whose ids are in ids.
func (w *window) without(ids map[string]bool) *window {
	return w.filter(func(c *cmsg) bool { return !ids[c.id()] })
}

// dropOldest returns a window without its n oldest messages.
func (w *window) dropOldest(n int) *window {
	if w == nil || n <= 0 {
		return w
	}
	n = min(n, len(w.msgs))
	return newWindow(w.channel, w.all()[n:], (len(w.msgs)-n)/4+1)
}

// heapBytes estimates the heap the window holds: its slot array and each message.
func (w *window) heapBytes() int64 {
	if w == nil {
		return 0
	}
	n := int64(cap(w.msgs)+w.dead) * 8
	for _, c := range w.all() {
		if c.full != nil {
			n += cmsgSize + protoHeap(c.full)
		} else {
			n += cmsgSize + roundAlloc(len(c.text))
		}
	}
	return n
}
