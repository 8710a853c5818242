package cacheactors

import (
	"strconv"
	"sync/atomic"

	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

//go:generate go test -run TestCacheContextKinds -update

// CacheContextKind says why the cache is written or read: stoat.py's cache context classes
// (its CacheContextType), Go-named. There is one kind per event class, whose value is the
// event's EventType (its before_dispatch reads, its process writes, and the seeds and patches it
// sends other owners), and after them CacheUserRequest (what a REST response the bot asked for
// teaches) and one per read site the runtime performs on a bot's behalf. The values are
// generated (contexts.ermine.go) from the event types and a list of the others.
type CacheContextKind uint8

// CacheUndefined is the kind of a write no event class explains: an eviction, a drop, a
// passivated owner's restore.
const CacheUndefined CacheContextKind = 0

// String returns the kind's stoat.py class name, e.g. "MessageCreateEventCacheContext".
func (k CacheContextKind) String() string {
	if k < NumCacheContextKinds {
		return cacheContextNames[k]
	}
	return "CacheContextKind(" + strconv.Itoa(int(k)) + ")"
}

// EventType returns the event class of an event's kind, EventTypeNone for a read site.
func (k CacheContextKind) EventType() stoatpb.EventType {
	if k < CacheContextKind(stoatpb.NumEventTypes) {
		return stoatpb.EventType(k)
	}
	return stoatpb.EventTypeNone
}

// CacheContext is the context of one cache write or read: why it happens (Kind) and what it
// comes from. It is a plain value: passing one allocates nothing.
type CacheContext struct {
	Kind CacheContextKind
	// Event is the event whose process writes (its primary owner's write), nil for a seed or
	// patch applied by another owner (the author a MessageCreateEvent carries, a Ready's users)
	// and for a read site.
	Event stoatpb.Event
}

// EventCacheContext returns the context in which ev's primary owner writes the cache
// (stoat.py's event.cache_context).
func EventCacheContext(ev stoatpb.Event) CacheContext {
	return CacheContext{Kind: CacheContextKind(ev.EventType()), Event: ev}
}

// patchContext is the context of a seed or patch, which another owner's event sent (or a REST
// response, LearnUser and LearnMember): its kind follows from the message's type (a seed of a
// channel without a Ready barrier comes from a ServerCreateEvent).
func patchContext(msg any) CacheContext {
	var k CacheContextKind
	switch m := msg.(type) {
	case *ownerpb.SeedChannel:
		k = CacheReadyEvent
		if m.Barrier == nil {
			k = CacheServerCreateEvent
		}
	case *ownerpb.SeedServer, *ownerpb.SeedUsers:
		k = CacheReadyEvent
	case *stoatpb.User, *stoatpb.Member:
		k = CacheMessageCreateEvent
	case *ownerpb.LearnUser, *ownerpb.LearnMember, *ownerpb.Rebuild:
		k = CacheUserRequest
	case *ownerpb.RemoveVoice:
		k = CacheVoiceChannelMoveEvent
	case *ownerpb.SetRelation:
		k = CacheUserRelationshipUpdateEvent
	case *ownerpb.WipeUser:
		k = CacheUserPlatformWipeEvent
	case *ownerpb.StripRole:
		k = CacheServerRoleDeleteEvent
	case *ownerpb.AddChannel:
		k = CacheServerChannelCreateEvent
	case *ownerpb.RemoveChannel:
		k = CacheChannelDeleteEvent
	case *ownerpb.AdoptWebhook:
		k = CacheWebhookUpdateEvent
	}
	return CacheContext{Kind: k}
}

// contextCounters counts cache writes and reads by context kind (Stats.Writes, Stats.Reads).
type contextCounters struct {
	writes, reads [NumCacheContextKinds]atomic.Uint64
}

// counts returns the non-zero counters.
func counts(c *[NumCacheContextKinds]atomic.Uint64) map[CacheContextKind]uint64 {
	out := map[CacheContextKind]uint64{}
	for k := range c {
		if n := c[k].Load(); n > 0 {
			out[CacheContextKind(k)] = n
		}
	}
	return out
}

// ContextCounts returns the cache's writes and reads so far by cache context kind (Stats has
// them too, but walks the whole cache for its byte estimates).
func (s *Store) ContextCounts() (writes, reads map[CacheContextKind]uint64) {
	return counts(&s.counters.writes), counts(&s.counters.reads)
}

// Reading reports whether a read the runtime makes on the bot's behalf in ctx (a read site's
// kind, e.g. CacheMemberThroughMessageAuthor for ermine.Context.Member) may be answered from the
// cache, as Policy.Reads decides, and counts it in Stats.Reads. A read it refuses must be
// answered as a miss.
func (s *Store) Reading(ctx CacheContext) bool {
	if ctx.Kind < NumCacheContextKinds {
		s.counters.reads[ctx.Kind].Add(1)
	}
	return s.reads == nil || s.reads(ctx)
}

// wrote counts a write of an entry in ctx.
func (s *Store) wrote(ctx *CacheContext) {
	if ctx.Kind < NumCacheContextKinds {
		s.counters.writes[ctx.Kind].Add(1)
	}
}

// EntryKind names a kind of cached entry, for Store.LastWrite.
type EntryKind uint8

// The kinds of cached entries, each with the ids that name one: the arguments of its getter.
const (
	EntryUser       EntryKind = iota // id: Store.User
	EntryServer                      // id: Store.Server
	EntryChannel                     // id: Store.Channel
	EntryMember                      // server, user: Store.Member
	EntryMessage                     // channel, id: Store.Message
	EntryEmoji                       // id: Store.Emoji
	EntryVoiceState                  // channel: Store.VoiceStates (the channel's participants)
	EntryReadState                   // channel: Store.ReadState
	EntryWebhook                     // id: Store.Webhook
)

// LastWrite returns the context kind of the write that published the cached entry of kind named
// by id (the arguments of the entry's getter: one id, or server and user for EntryMember,
// channel and message id for EntryMessage), and whether it is cached; with the wrong number of
// ids it reports false. The record is the entry's own: a write that replaces the entry replaces
// it (also a write that leaves the entry as it was, e.g. a seed), and a removal removes it. A
// channel's voice participants have one record, their last write's. Your own user (Me) is the
// EntryUser of its id, and the settings have none.
//
// The records cost no allocation and little memory: a message's kind lives in its compact
// form's padding (no byte), every other entry's in its index's map value (8 bytes per map slot,
// 9 to 18 per entry with the map's fill).
func (s *Store) LastWrite(kind EntryKind, id ...string) (CacheContextKind, bool) {
	switch {
	case kind == EntryMember && len(id) == 2:
		if t := s.members.get(id[0]); t != nil {
			return t.lastWrite(id[1])
		}
	case kind == EntryMessage && len(id) == 2:
		return s.messages.get(id[0]).load().lastWrite(id[1])
	case len(id) != 1:
	case kind == EntryUser:
		return s.users.lastWrite(id[0])
	case kind == EntryServer:
		return s.servers.lastWrite(id[0])
	case kind == EntryChannel:
		return s.channels.lastWrite(id[0])
	case kind == EntryEmoji:
		return s.emojis.lastWrite(id[0])
	case kind == EntryVoiceState:
		return s.voice.lastWrite(id[0])
	case kind == EntryReadState:
		return s.readStates.lastWrite(id[0])
	case kind == EntryWebhook:
		return s.webhooks.lastWrite(id[0])
	}
	return CacheUndefined, false
}
