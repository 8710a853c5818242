package cacheactors

import (
	"hash/maphash"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Store is the read side of the cache: the snapshots the owners publish. Each entry is written
// only by the owner of its entity, and every object in it is immutable (an update publishes a new
// object; nothing published is changed, including the slices it holds), so reads from any
// goroutine are race-free and a handler's before/after objects never change under it. Readers
// take a shard's read lock only for a map lookup, never while they use what they read, so a slow
// reader cannot hold back an owner; a channel's messages are published with one atomic store.
//
// Every getter returns nil (or an empty result) for what is not cached.
type Store struct {
	users      index[*stoatpb.User]
	servers    index[*stoatpb.Server]
	channels   index[*stoatpb.Channel]
	emojis     index[*stoatpb.Emoji]
	members    smap[*memberTable] // server id → its members
	messages   smap[*msgSlot]     // channel id → its message window
	voice      index[*stoatpb.ChannelVoiceState]
	readStates index[*stoatpb.ChannelUnread]
	webhooks   index[*stoatpb.Webhook]
	self       atomic.Pointer[stoatpb.User]
	settings   atomic.Pointer[[]*stoatpb.UserSetting]

	lru lru
	// counters count writes and reads by context kind; reads is Policy.Reads.
	counters contextCounters
	reads    func(CacheContext) bool
}

// NewStore returns an empty store.
func NewStore() *Store {
	seed := maphash.MakeSeed()
	s := &Store{}
	for _, m := range []interface{ init(maphash.Seed, int) }{&s.users, &s.servers, &s.channels, &s.emojis, &s.members, &s.messages, &s.voice, &s.readStates, &s.webhooks} {
		m.init(seed, mapShards)
	}
	return s
}

// User returns the cached user, or nil.
func (s *Store) User(id string) *stoatpb.User {
	u, h := s.users.getHash(id)
	if u != nil {
		s.lru.touchUser(h)
	}
	return u
}

// Server returns the cached server, or nil.
func (s *Store) Server(id string) *stoatpb.Server { return s.servers.get(id) }

// Channel returns the cached channel, or nil.
func (s *Store) Channel(id string) *stoatpb.Channel {
	c := s.channels.get(id)
	if c == nil {
		return nil
	}
	return withLastMessage(c, s.messages.get(id).load().lastMessageID())
}

// withLastMessage returns c with last_message_id id if that is newer: a copy, since published
// objects are immutable.
func withLastMessage(c *stoatpb.Channel, id string) *stoatpb.Channel {
	if id <= c.LastMessageId {
		return c
	}
	n := c.ShallowClone()
	n.LastMessageId = id
	return n
}

// Emoji returns the cached emoji, or nil.
func (s *Store) Emoji(id string) *stoatpb.Emoji { return s.emojis.get(id) }

// Webhook returns the cached webhook, or nil.
func (s *Store) Webhook(id string) *stoatpb.Webhook { return s.webhooks.get(id) }

// Member returns the cached member of server, or nil.
func (s *Store) Member(server, user string) *stoatpb.Member {
	if t := s.members.get(server); t != nil {
		return t.get(user)
	}
	return nil
}

// Members returns the cached members of server, ordered by user id. It copies the server's
// member table, one shard at a time under the shard's read lock, and sorts the copy.
func (s *Store) Members(server string) []*stoatpb.Member {
	if t := s.members.get(server); t != nil {
		return t.list()
	}
	return nil
}

// MemberCount returns the number of cached members of server.
func (s *Store) MemberCount(server string) int {
	if t := s.members.get(server); t != nil {
		return t.len()
	}
	return 0
}

// Messages returns the cached messages of channel, oldest first.
func (s *Store) Messages(channel string) []*stoatpb.Message {
	if sl := s.messages.get(channel); sl != nil {
		s.lru.touchChannel(sl)
		return sl.load().Messages()
	}
	return nil
}

// Message returns a cached message, or nil.
func (s *Store) Message(channel, id string) *stoatpb.Message {
	if sl := s.messages.get(channel); sl != nil {
		s.lru.touchChannel(sl)
		return sl.load().Find(id)
	}
	return nil
}

// VoiceStates returns the voice participants of channel, or nil when nobody is connected.
func (s *Store) VoiceStates(channel string) *stoatpb.ChannelVoiceState { return s.voice.get(channel) }

// ReadState returns the connected user's read state in channel (last acknowledged message and
// unread mentions), or nil.
func (s *Store) ReadState(channel string) *stoatpb.ChannelUnread { return s.readStates.get(channel) }

// ReadStates returns every cached read state, ordered by channel id.
func (s *Store) ReadStates() []*stoatpb.ChannelUnread {
	var out []*stoatpb.ChannelUnread
	for _, id := range s.readStates.keys() {
		if rs := s.readStates.get(id); rs != nil {
			out = append(out, rs)
		}
	}
	return out
}

// Me returns the connected user, or nil before the first Ready.
func (s *Store) Me() *stoatpb.User { return s.self.Load() }

// Settings returns the synchronised user settings known from Ready and UserSettingsUpdate.
func (s *Store) Settings() []*stoatpb.UserSetting {
	if p := s.settings.Load(); p != nil {
		return *p
	}
	return nil
}

// Counts returns the number of cached entries per kind.
func (s *Store) Counts() map[string]int {
	members, messages, voice := 0, 0, 0
	s.members.each(func(_ string, t *memberTable) { members += t.len() })
	s.messages.each(func(_ string, sl *msgSlot) { messages += sl.load().Len() })
	s.voice.each(func(_ string, v *stoatpb.ChannelVoiceState) { voice += len(v.GetParticipants()) })
	return map[string]int{
		"users": s.users.len(), "servers": s.servers.len(), "channels": s.channels.len(),
		"emojis": s.emojis.len(), "members": members, "messages": messages,
		"voice_states": voice, "read_states": s.readStates.len(), "webhooks": s.webhooks.len(),
	}
}

// ServerIDs returns the ids of the cached servers, sorted.
func (s *Store) ServerIDs() []string { return s.servers.keys() }

// ChannelIDs returns the ids of the cached channels, sorted.
func (s *Store) ChannelIDs() []string { return s.channels.keys() }

// UserIDs returns the ids of the cached users, sorted.
func (s *Store) UserIDs() []string { return s.users.keys() }

// EmojiIDs returns the ids of the cached emojis, sorted.
func (s *Store) EmojiIDs() []string { return s.emojis.keys() }

// --- sharded map ----------------------------------------------------------------------------------

const mapShards = 64

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
	_  [32]byte // keep neighbouring shards' locks off one cache line
}

// smap is a map split into shards, each under its own lock: the store's indexes (64 shards) and
// a server's member table (1 shard, or memberShards once it is big).
type smap[V any] struct {
	seed   maphash.Seed
	shards []shard[V]
}

func (m *smap[V]) init(seed maphash.Seed, shards int) {
	m.seed = seed
	m.shards = make([]shard[V], shards)
	for i := range m.shards {
		m.shards[i].m = map[string]V{}
	}
}

func (m *smap[V]) hash(k string) uint64 { return maphash.String(m.seed, k) }

func (m *smap[V]) shard(h uint64) *shard[V] { return &m.shards[h%uint64(len(m.shards))] }

func (m *smap[V]) get(k string) V {
	v, _ := m.getHash(k)
	return v
}

// getHash returns the value of k and k's hash.
func (m *smap[V]) getHash(k string) (V, uint64) {
	h := m.hash(k)
	sh := m.shard(h)
	sh.mu.RLock()
	v := sh.m[k]
	sh.mu.RUnlock()
	return v, h
}

func (m *smap[V]) set(k string, v V) { m.setCount(k, v) }

// setCount stores v under k and returns the number of entries of k's shard.
func (m *smap[V]) setCount(k string, v V) int {
	sh := m.shard(m.hash(k))
	sh.mu.Lock()
	sh.m[k] = v
	n := len(sh.m)
	sh.mu.Unlock()
	return n
}

func (m *smap[V]) del(k string) {
	sh := m.shard(m.hash(k))
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

func (m *smap[V]) len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// each calls f for every entry, copying one shard at a time under its read lock and calling f
// outside it.
func (m *smap[V]) each(f func(string, V)) {
	type kv struct {
		k string
		v V
	}
	var buf []kv
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		buf = buf[:0]
		for k, v := range sh.m {
			buf = append(buf, kv{k, v})
		}
		sh.mu.RUnlock()
		for _, e := range buf {
			f(e.k, e.v)
		}
	}
}

// values copies the values, one shard at a time under its read lock.
func (m *smap[V]) values() []V { return mapValues(m, func(v V) V { return v }) }

// mapValues copies f of each value of m, one shard at a time under its read lock.
func mapValues[V, T any](m *smap[V], f func(V) T) []T {
	var out []T
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		out = slices.Grow(out, len(sh.m))
		for _, v := range sh.m {
			out = append(out, f(v))
		}
		sh.mu.RUnlock()
	}
	return out
}

func (m *smap[V]) keys() []string {
	var ks []string
	m.each(func(k string, _ V) { ks = append(ks, k) })
	sort.Strings(ks)
	return ks
}

// --- indexes ------------------------------------------------------------------------------------

// written is an index's entry: a published object and the kind of the write that published it.
type written[V any] struct {
	v    V
	kind CacheContextKind
}

// index is a sharded map of published objects whose entries record the kind of their last write
// (Store.LastWrite): set takes it, so that no write can leave a stale one, and del removes it
// with the entry. The record costs 8 bytes per map slot (the value grows from a pointer to a
// pointer and a byte, padded): 9 to 18 bytes per entry with the map's fill (BenchmarkCacheMemory
// measures 17.5 more per user and per member at 100k entries).
type index[V any] struct {
	smap[written[V]]
}

func (x *index[V]) get(k string) V { return x.smap.get(k).v }

// getHash returns the value of k and k's hash.
func (x *index[V]) getHash(k string) (V, uint64) {
	e, h := x.smap.getHash(k)
	return e.v, h
}

// set stores v under k, written in a context of kind.
func (x *index[V]) set(k string, v V, kind CacheContextKind) {
	x.smap.set(k, written[V]{v, kind})
}

// setCount stores v under k, written in a context of kind, and returns the number of entries of
// k's shard.
func (x *index[V]) setCount(k string, v V, kind CacheContextKind) int {
	return x.smap.setCount(k, written[V]{v, kind})
}

// lastWrite returns the kind of the write that published k's entry, if there is one.
func (x *index[V]) lastWrite(k string) (CacheContextKind, bool) {
	h := x.hash(k)
	sh := x.shard(h)
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	return e.kind, ok
}

// each calls f for every entry (as smap.each does).
func (x *index[V]) each(f func(string, V)) {
	x.smap.each(func(k string, e written[V]) { f(k, e.v) })
}

// values copies the values, one shard at a time under its read lock.
func (x *index[V]) values() []V { return mapValues(&x.smap, func(e written[V]) V { return e.v }) }

// --- members -----------------------------------------------------------------------------------

// memberTable is one server's members, written only by the server's owner, keyed by the
// member's own user id string (no second copy of the id). A small table is one map under one
// lock; once it holds more than memberShardAt members the owner replaces it with a table of
// memberShards maps, each under its own lock, so that parallel readers of a big server do not
// all contend for one lock (and a copy of the table holds each lock only for its shard).
type memberTable struct {
	index[*stoatpb.Member]
}

const (
	memberShardAt = 1024
	memberShards  = 32
)

func newMemberTable(seed maphash.Seed, shards int) *memberTable {
	t := &memberTable{}
	t.init(seed, shards)
	return t
}

// setMember stores m, written in a context of kind. It reports whether the table has outgrown a
// single map (see grown).
func (t *memberTable) setMember(m *stoatpb.Member, kind CacheContextKind) bool {
	n := t.setCount(m.GetId().GetUser(), m, kind)
	return len(t.shards) == 1 && n > memberShardAt
}

// grown returns a sharded copy of a single-map table (for the owner to publish instead), with
// its records.
func (t *memberTable) grown() *memberTable {
	g := newMemberTable(t.seed, memberShards)
	for _, e := range t.smap.values() {
		g.set(e.v.GetId().GetUser(), e.v, e.kind)
	}
	return g
}

func (t *memberTable) list() []*stoatpb.Member {
	out := t.values()
	sort.Slice(out, func(i, j int) bool { return out[i].GetId().GetUser() < out[j].GetId().GetUser() })
	return out
}

// --- messages ----------------------------------------------------------------------------------

// msgSlot holds a channel's current message window; the channel owner replaces the window with
// one atomic store, readers load it without a lock.
type msgSlot struct {
	w atomic.Pointer[window]
	// used is the LRU epoch of the channel's last read or write (see lru).
	used atomic.Uint32
}

func (sl *msgSlot) load() *window {
	if sl == nil {
		return nil
	}
	return sl.w.Load()
}
