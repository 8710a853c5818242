package cacheactors

import (
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Store is the read side of the cache: the snapshots the owners publish. Each entry is written
// only by the owner of its entity, and every object in it is immutable (an update publishes a new
// object), so reads from any goroutine are race-free and a handler's before/after objects never
// change under it. Readers take a shard lock only for a map lookup, never while they use what they
// read, so a slow reader cannot hold back an owner.
type Store struct {
	users      smap[*stoatpb.User]
	servers    smap[*stoatpb.Server]
	channels   smap[*stoatpb.Channel]
	emojis     smap[*stoatpb.Emoji]
	members    smap[*memberTable] // server id → its members
	messages   smap[*MessageWindow]
	voice      smap[*stoatpb.ChannelVoiceState]
	readStates smap[*stoatpb.ChannelUnread]
	webhooks   smap[*stoatpb.Webhook]
	self       atomic.Pointer[stoatpb.User]
	settings   atomic.Pointer[[]*stoatpb.UserSetting]
}

// NewStore returns an empty store.
func NewStore() *Store {
	seed := maphash.MakeSeed()
	s := &Store{}
	for _, m := range []interface{ init(maphash.Seed) }{&s.users, &s.servers, &s.channels, &s.emojis, &s.members, &s.messages, &s.voice, &s.readStates, &s.webhooks} {
		m.init(seed)
	}
	return s
}

// User returns the cached user, or nil.
func (s *Store) User(id string) *stoatpb.User { return s.users.get(id) }

// Server returns the cached server, or nil.
func (s *Store) Server(id string) *stoatpb.Server { return s.servers.get(id) }

// Channel returns the cached channel, or nil.
func (s *Store) Channel(id string) *stoatpb.Channel { return s.channels.get(id) }

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

// Members returns the cached members of server, ordered by user id.
func (s *Store) Members(server string) []*stoatpb.Member {
	if t := s.members.get(server); t != nil {
		return t.list()
	}
	return nil
}

// Messages returns the cached messages of channel, oldest first.
func (s *Store) Messages(channel string) []*stoatpb.Message {
	if w := s.messages.get(channel); w != nil {
		return w.Messages()
	}
	return nil
}

// Message returns a cached message, or nil.
func (s *Store) Message(channel, id string) *stoatpb.Message {
	if w := s.messages.get(channel); w != nil {
		return w.Find(id)
	}
	return nil
}

// VoiceStates returns the voice participants of channel, or nil.
func (s *Store) VoiceStates(channel string) *stoatpb.ChannelVoiceState { return s.voice.get(channel) }

// ReadState returns the connected user's read state in channel, or nil.
func (s *Store) ReadState(channel string) *stoatpb.ChannelUnread { return s.readStates.get(channel) }

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
	members, messages := 0, 0
	s.members.each(func(_ string, t *memberTable) { members += t.len() })
	s.messages.each(func(_ string, w *MessageWindow) { messages += w.Len() })
	return map[string]int{
		"users": s.users.len(), "servers": s.servers.len(), "channels": s.channels.len(),
		"emojis": s.emojis.len(), "members": members, "messages": messages,
		"voice_channels": s.voice.len(), "read_states": s.readStates.len(), "webhooks": s.webhooks.len(),
	}
}

// ServerIDs returns the ids of the cached servers.
func (s *Store) ServerIDs() []string { return s.servers.keys() }

// ChannelIDs returns the ids of the cached channels.
func (s *Store) ChannelIDs() []string { return s.channels.keys() }

// UserIDs returns the ids of the cached users.
func (s *Store) UserIDs() []string { return s.users.keys() }

// EmojiIDs returns the ids of the cached emojis.
func (s *Store) EmojiIDs() []string { return s.emojis.keys() }

// --- sharded map ----------------------------------------------------------------------------------

const mapShards = 64

type smap[V any] struct {
	seed   maphash.Seed
	shards [mapShards]struct {
		mu sync.RWMutex
		m  map[string]V
	}
}

func (m *smap[V]) init(seed maphash.Seed) {
	m.seed = seed
	for i := range m.shards {
		m.shards[i].m = map[string]V{}
	}
}

func (m *smap[V]) shard(k string) *struct {
	mu sync.RWMutex
	m  map[string]V
} {
	return &m.shards[maphash.String(m.seed, k)%mapShards]
}

func (m *smap[V]) get(k string) V {
	sh := m.shard(k)
	sh.mu.RLock()
	v := sh.m[k]
	sh.mu.RUnlock()
	return v
}

func (m *smap[V]) set(k string, v V) {
	sh := m.shard(k)
	sh.mu.Lock()
	sh.m[k] = v
	sh.mu.Unlock()
}

func (m *smap[V]) del(k string) {
	sh := m.shard(k)
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

func (m *smap[V]) each(f func(string, V)) {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		kv := make([]struct {
			k string
			v V
		}, 0, len(sh.m))
		for k, v := range sh.m {
			kv = append(kv, struct {
				k string
				v V
			}{k, v})
		}
		sh.mu.RUnlock()
		for _, e := range kv {
			f(e.k, e.v)
		}
	}
}

func (m *smap[V]) keys() []string {
	var ks []string
	m.each(func(k string, _ V) { ks = append(ks, k) })
	sort.Strings(ks)
	return ks
}

// --- members -----------------------------------------------------------------------------------

// memberTable is one server's members, written only by the server's owner.
type memberTable struct {
	mu sync.RWMutex
	m  map[string]*stoatpb.Member
}

func newMemberTable() *memberTable { return &memberTable{m: map[string]*stoatpb.Member{}} }

func (t *memberTable) get(user string) *stoatpb.Member {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[user]
}

func (t *memberTable) set(user string, m *stoatpb.Member) {
	t.mu.Lock()
	t.m[user] = m
	t.mu.Unlock()
}

func (t *memberTable) del(user string) {
	t.mu.Lock()
	delete(t.m, user)
	t.mu.Unlock()
}

func (t *memberTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

func (t *memberTable) list() []*stoatpb.Member {
	t.mu.RLock()
	out := make([]*stoatpb.Member, 0, len(t.m))
	for _, m := range t.m {
		out = append(out, m)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetId().GetUser() < out[j].GetId().GetUser() })
	return out
}

// --- messages ----------------------------------------------------------------------------------

// MessageWindow is an immutable view of a channel's cached messages, oldest first. The channel
// owner publishes a new window for every change; appending shares the backing array (readers only
// see their own length), any other change copies it.
type MessageWindow struct {
	msgs []*stoatpb.Message
}

// Messages returns the messages, oldest first. The slice must not be changed.
func (w *MessageWindow) Messages() []*stoatpb.Message {
	if w == nil {
		return nil
	}
	return w.msgs[:len(w.msgs):len(w.msgs)]
}

// Len is the number of messages.
func (w *MessageWindow) Len() int {
	if w == nil {
		return 0
	}
	return len(w.msgs)
}

// Find returns the message with id, or nil. Message ids are ULIDs, so the window is ordered by id.
func (w *MessageWindow) Find(id string) *stoatpb.Message {
	if w == nil {
		return nil
	}
	i := sort.Search(len(w.msgs), func(i int) bool { return w.msgs[i].GetId() >= id })
	if i < len(w.msgs) && w.msgs[i].GetId() == id {
		return w.msgs[i]
	}
	return nil
}

// with returns a window with m added (or replacing the message with its id), keeping at most
// limit messages (the oldest are evicted first).
func (w *MessageWindow) with(m *stoatpb.Message, limit int) *MessageWindow {
	var msgs []*stoatpb.Message
	if w != nil {
		msgs = w.msgs // full capacity: an append shares the backing array
	}
	n := len(msgs)
	switch {
	case n == 0 || msgs[n-1].GetId() < m.GetId():
		msgs = append(msgs, m) // readers of w see only their own length
	default:
		i := sort.Search(n, func(i int) bool { return msgs[i].GetId() >= m.GetId() })
		cp := make([]*stoatpb.Message, 0, n+1)
		cp = append(cp, msgs[:i]...)
		cp = append(cp, m)
		if i < n && msgs[i].GetId() == m.GetId() {
			i++
		}
		msgs = append(cp, msgs[i:]...)
	}
	if limit > 0 && len(msgs) > limit {
		msgs = msgs[len(msgs)-limit:]
	}
	return &MessageWindow{msgs: msgs}
}

// without returns a window without the messages whose ids are in ids.
func (w *MessageWindow) without(ids map[string]bool) *MessageWindow {
	cp := make([]*stoatpb.Message, 0, w.Len())
	for _, m := range w.Messages() {
		if !ids[m.GetId()] {
			cp = append(cp, m)
		}
	}
	return &MessageWindow{msgs: cp}
}
