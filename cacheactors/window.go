package cacheactors

import (
	"sort"
	"sync/atomic"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// A channel's cached messages are a window: an immutable, id-ordered list of records
// (record.go) that the channel owner replaces on every change (readers keep whatever window
// they loaded).

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
	k := idKeyOf(id)
	return w.indexKey(&k)
}

func (w *window) indexKey(k *idKey) (int, bool) {
	i := sort.Search(len(w.msgs), func(i int) bool { ki := w.at(i).key(); return compareKeys(&ki, k) >= 0 })
	if i == len(w.msgs) {
		return i, false
	}
	ki := w.at(i).key()
	return i, compareKeys(&ki, k) == 0
}

// newest returns the key of the newest message, and false if there is none.
func (w *window) newest() (idKey, bool) {
	if w.Len() == 0 {
		return idKey{}, false
	}
	return w.at(w.Len() - 1).key(), true
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
	if last, ok := w.newest(); ok {
		if k := c.key(); compareKeys(&last, &k) >= 0 { // not the usual append of a newer message
			i, found = w.indexKey(&k)
		}
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

// without returns a window without the messages with these ids (a copy), or w itself if it
// holds none of them. Each id is looked up (a binary search), so that a delete costs no string
// per cached message.
func (w *window) without(ids ...string) *window {
	if w == nil {
		return nil
	}
	drop := map[int]bool{}
	for _, id := range ids {
		if i, ok := w.index(id); ok {
			drop[i] = true
		}
	}
	if len(drop) == 0 {
		return w
	}
	kept := make([]*cmsg, 0, len(w.msgs)-len(drop))
	for i := range w.msgs {
		if !drop[i] {
			kept = append(kept, w.at(i))
		}
	}
	return newWindow(w.channel, kept, len(kept)/4+1)
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
		n += int64(c.size())
		if m := c.full(); m != nil {
			n += protoHeap(m)
		}
	}
	return n
}
