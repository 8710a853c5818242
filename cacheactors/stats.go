package cacheactors

import (
	"reflect"
	"sort"
	"sync"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// KindStats describes one kind of cached entity.
type KindStats struct {
	// Entries is the number of cached entities.
	Entries int
	// Bytes estimates the heap they hold (see Store.Stats).
	Bytes int64
}

// Stats describes the cache.
type Stats struct {
	Users, Servers, Channels, Members, Messages, Emojis, VoiceStates, ReadStates, Webhooks KindStats
	// EvictedUsers and EvictedMessages count the entries the global bounds (Policy.MaxUsers,
	// Policy.MaxMessages) evicted; the per-channel bound is not counted.
	EvictedUsers, EvictedMessages uint64
	// Writes counts the entries written (users, servers, channels, members, messages, emojis,
	// a channel's voice participants, read states, webhooks) by the context kind of the write
	// (Store.LastWrite has the kind of each entry's last one); Reads counts the reads at read
	// sites (Store.Reading) by kind. Kinds never counted are absent.
	Writes, Reads map[CacheContextKind]uint64
}

// Total is the sum over every kind.
func (s Stats) Total() KindStats {
	var t KindStats
	for _, k := range []KindStats{s.Users, s.Servers, s.Channels, s.Members, s.Messages, s.Emojis, s.VoiceStates, s.ReadStates, s.Webhooks} {
		t.Entries += k.Entries
		t.Bytes += k.Bytes
	}
	return t
}

// Stats counts the cached entries of each kind and estimates the heap bytes they hold. It walks
// the whole cache (O(entries)), without holding any lock for longer than one map shard's copy.
//
// Bytes is an estimate of heap bytes, not proto.Size (the wire size, about a third of the heap):
// for each object, its Go struct size plus its strings, byte slices, slice backing arrays and
// nested messages, recursively, each rounded up to the allocator's size class; plus a fixed
// per-entry cost for the index that holds it (mapEntryBytes). Strings shared between objects
// (ids the decoder interns, a compact message's author) are counted in every holder, so the
// figure leans high; BenchmarkCacheMemory measures the real heap per entry.
func (s *Store) Stats() Stats {
	var st Stats
	s.users.each(func(_ string, u *stoatpb.User) { st.Users.add(mapEntryBytes + protoHeap(u)) })
	s.servers.each(func(_ string, v *stoatpb.Server) { st.Servers.add(mapEntryBytes + protoHeap(v)) })
	s.channels.each(func(_ string, v *stoatpb.Channel) { st.Channels.add(mapEntryBytes + protoHeap(v)) })
	s.emojis.each(func(_ string, v *stoatpb.Emoji) { st.Emojis.add(mapEntryBytes + protoHeap(v)) })
	s.webhooks.each(func(_ string, v *stoatpb.Webhook) { st.Webhooks.add(mapEntryBytes + protoHeap(v)) })
	s.readStates.each(func(_ string, v *stoatpb.ChannelUnread) { st.ReadStates.add(mapEntryBytes + protoHeap(v)) })
	s.voice.each(func(_ string, v *stoatpb.ChannelVoiceState) {
		st.VoiceStates.Entries += len(v.GetParticipants())
		st.VoiceStates.Bytes += mapEntryBytes + protoHeap(v)
	})
	s.members.each(func(_ string, t *memberTable) {
		for _, m := range t.values() {
			st.Members.add(mapEntryBytes + protoHeap(m))
		}
	})
	s.messages.each(func(_ string, sl *msgSlot) {
		w := sl.load()
		st.Messages.Entries += w.Len()
		st.Messages.Bytes += w.heapBytes()
	})
	st.EvictedUsers = s.lru.evictedUsers.Load()
	st.EvictedMessages = s.lru.evictedMessages.Load()
	st.Writes, st.Reads = counts(&s.counters.writes), counts(&s.counters.reads)
	return st
}

func (k *KindStats) add(bytes int64) {
	k.Entries++
	k.Bytes += bytes
}

// mapEntryBytes is what one entry costs in a Go map of string → pointer: the key's header, the
// value, and the table's control bytes and free slots at a typical load.
const mapEntryBytes = 32

// sizeClasses are the Go allocator's size classes (runtime/sizeclasses.go).
var sizeClasses = []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// roundAlloc is the heap an allocation of n bytes takes.
func roundAlloc(n int) int64 {
	if n <= 0 {
		return 0
	}
	if n > 32768 {
		return int64((n + 8191) &^ 8191)
	}
	i := sort.SearchInts(sizeClasses, n)
	return int64(sizeClasses[i])
}

var structSizes sync.Map // protoreflect.FullName → int64

// protoHeap estimates the heap bytes of m and everything it points to.
func protoHeap(m proto.Message) int64 {
	if m == nil || reflect.ValueOf(m).IsNil() {
		return 0
	}
	return messageHeap(m.ProtoReflect())
}

func messageHeap(m protoreflect.Message) int64 {
	name := m.Descriptor().FullName()
	size, ok := structSizes.Load(name)
	if !ok {
		size = roundAlloc(int(reflect.TypeOf(m.Interface()).Elem().Size()))
		structSizes.Store(name, size)
	}
	n := size.(int64)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsList() {
			l := v.List()
			elem := int64(8)
			switch fd.Kind() {
			case protoreflect.StringKind, protoreflect.BytesKind:
				elem = 16
			case protoreflect.BoolKind:
				elem = 1
			case protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.FloatKind, protoreflect.Sint32Kind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
				elem = 4
			}
			n += roundAlloc(int(elem) * l.Len())
			for i := 0; i < l.Len(); i++ {
				n += valueHeap(fd, l.Get(i))
			}
			return true
		}
		n += valueHeap(fd, v)
		return true
	})
	return n
}

func valueHeap(fd protoreflect.FieldDescriptor, v protoreflect.Value) int64 {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return roundAlloc(len(v.String()))
	case protoreflect.BytesKind:
		return roundAlloc(len(v.Bytes()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageHeap(v.Message())
	}
	if fd.HasPresence() && fd.ContainingOneof() == nil && fd.Message() == nil && fd.Syntax() == protoreflect.Proto3 {
		return 8 // a proto3 optional scalar is a pointer to its value
	}
	return 0
}
