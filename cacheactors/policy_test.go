package cacheactors

import (
	"fmt"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

func TestPolicyToggles(t *testing.T) {
	stream := []stoatpb.Event{
		&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: carol, Mentions: []string{me},
			User:   &stoatpb.User{Id: carol, Username: "carol"},
			Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: carol}}}},
		&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: bob},
		&stoatpb.ServerEmojiCreateEvent{Emoji: &stoatpb.Emoji{Id: "01EM2", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv}}},
		&stoatpb.VoiceChannelJoinEvent{ChannelId: general, State: &stoatpb.UserVoiceState{Id: bob}},
		&stoatpb.MessageAckEvent{ChannelId: dm, UserId: me, MessageId: msgID(1)},
	}
	for _, tc := range []struct {
		policy Policy
		check  func(t *testing.T, s *Store)
	}{
		{Policy{NoUsers: true}, func(t *testing.T, s *Store) {
			expectList(t, "users", s.UserIDs(), []string{me})
			expect(t, "me", s.Me().GetUsername(), "bot")
		}},
		{Policy{NoMembers: true}, func(t *testing.T, s *Store) {
			expectList(t, "members (your own only)", memberIDs(s.Members(srv)), []string{me})
		}},
		{Policy{NoMessages: true}, func(t *testing.T, s *Store) {
			expect(t, "messages", s.Counts()["messages"], 0)
			expect(t, "last_message_id still tracked", s.Channel(general).GetLastMessageId(), msgID(1))
		}},
		{Policy{MessagesPerChannel: -1}, func(t *testing.T, s *Store) {
			expect(t, "messages", s.Counts()["messages"], 0)
		}},
		{Policy{NoEmojis: true}, func(t *testing.T, s *Store) {
			expect(t, "emojis", len(s.EmojiIDs()), 0)
		}},
		{Policy{NoVoice: true}, func(t *testing.T, s *Store) {
			expect(t, "voice states", s.Counts()["voice_states"], 0)
		}},
		{Policy{NoReadStates: true}, func(t *testing.T, s *Store) {
			expect(t, "read states", len(s.ReadStates()), 0)
		}},
		{Policy{}, func(t *testing.T, s *Store) {
			expectList(t, "users", s.UserIDs(), []string{alice, bob, carol, me})
			expectList(t, "members", memberIDs(s.Members(srv)), []string{alice, bob, carol, me})
			expect(t, "messages", s.Counts()["messages"], 1)
			expect(t, "emojis", len(s.EmojiIDs()), 2)
			expect(t, "voice states", s.Counts()["voice_states"], 2)
			expect(t, "read states", len(s.ReadStates()), 2)
		}},
	} {
		t.Run(fmt.Sprintf("%+v", tc.policy), func(t *testing.T) {
			r := newWorld(t, tc.policy)
			r.run(stream...)
			tc.check(t, r.store)
		})
	}
}

func TestMessagesPerChannel(t *testing.T) {
	r := newWorld(t, Policy{MessagesPerChannel: 5})
	for i := 1; i <= 12; i++ {
		r.ingest(msg(general, i, alice, fmt.Sprint(i)))
	}
	r.drain()
	expectList(t, "messages", messageIDs(r.store.Messages(general)), []string{msgID(8), msgID(9), msgID(10), msgID(11), msgID(12)})
}

// The window's backing array is shared between successive windows; evicted slots before the
// live part must not keep many old messages alive.
func TestWindowReleasesEvictedMessages(t *testing.T) {
	var w *window
	var records recordArena
	msg := func(id string) *cmsg {
		return compact(&stoatpb.Message{Id: id, Channel: "c"}, "c", false, &records, CacheUndefined)
	}
	const limit = 1000
	for i := 0; i < 20*limit; i++ {
		w, _ = w.with("c", msg(msgID(i)), limit)
		if w.dead > limit/8+8 || w.Len() > limit {
			t.Fatalf("after %d messages: %d live, %d dead slots", i+1, w.Len(), w.dead)
		}
	}
	if c := cap(w.msgs) + w.dead; c > 2*limit {
		t.Errorf("backing array of %d slots for %d messages", c, w.Len())
	}
	// Inserting out of order keeps the id order.
	w, _ = w.with("c", msg(msgID(20*limit-5)+"x"), limit)
	for i := 1; i < w.Len(); i++ {
		if w.at(i-1).id() >= w.at(i).id() {
			t.Fatal("window out of order")
		}
	}
}

// TestMaxMessagesEvictsLeastRecentlyUsedChannels: the global bound evicts the oldest messages of
// the channels least recently read or written.
func TestMaxMessagesEvictsLeastRecentlyUsedChannels(t *testing.T) {
	const a, b, c = "01CHA", "01CHB", "01CHC"
	r := newRig(t, Policy{MaxMessages: 100})
	s := r.store
	n := 0
	add := func(ch string, k int) {
		for i := 0; i < k; i++ {
			n++
			r.ingest(msg(ch, n, alice, "x"))
		}
		r.drain()
	}
	add(a, 60)
	add(b, 40)
	count := func(ch string) int { return s.messages.get(ch).load().Len() } // reads through the Store would count as use
	expect(t, "under the bound", s.Counts()["messages"], 100)
	add(c, 1) // 101: a round evicts down to 95, from the biggest of equally old channels (a)
	expect(t, "a", count(a), 54)
	expect(t, "b", count(b), 40)
	// Now a is read, b is not: when c passes the bound again, b's oldest messages go.
	s.Message(a, msgID(60))
	add(c, 10)
	expect(t, "a (recently read)", count(a), 54)
	expect(t, "b (least recently used)", count(b), 34)
	expect(t, "c", count(c), 11)
	expect(t, "b lost its oldest", s.messages.get(b).load().at(0).id(), msgID(67))
	expect(t, "total", s.Counts()["messages"], 99)
	expect(t, "evicted", s.Stats().EvictedMessages, uint64(12))
}

// TestMaxUsersEvictsLeastRecentlyUsed: the users bound keeps the connected user and users read
// recently.
func TestMaxUsersEvictsLeastRecentlyUsed(t *testing.T) {
	r := newWorld(t, Policy{MaxUsers: 64}) // 4 per user partition
	s := r.store
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("01USER%020d", i)
		r.ingest(&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(i), Channel: general, Author: id, User: &stoatpb.User{Id: id, Username: "u"}}})
		r.drain()
		s.User(alice) // read often: never the least recently used
	}
	expect(t, "me", s.Me() != nil && s.User(me) != nil, true)
	expect(t, "alice (read)", s.User(alice) != nil, true)
	if n := s.Counts()["users"]; n > 64 {
		t.Errorf("users = %d, bound 64", n)
	}
	// The recency table is hashed: a user whose slot is alice's or mine looks as recently used
	// as we are (by design: a collision keeps a user longer, never evicts a used one). The least
	// recently used user is the first one with a slot of its own.
	b := s.lru.users.Load()
	slot := func(id string) uint64 { return s.users.hash(id) & b.mask }
	oldest := ""
	for i := 0; oldest == ""; i++ {
		if id := fmt.Sprintf("01USER%020d", i); slot(id) != slot(alice) && slot(id) != slot(me) {
			oldest = id
		}
	}
	if s.User(oldest) != nil {
		t.Errorf("the least recently used user (%s) is still cached", oldest)
	}
	if s.User(fmt.Sprintf("01USER%020d", 299)) == nil {
		t.Error("the most recent user was evicted")
	}
	if s.Stats().EvictedUsers == 0 {
		t.Error("no evictions counted")
	}
}

// TestCompactMessagesRoundTrip: what a reader gets is exactly the message that was cached
// (without its embedded user and member), in the compact form and kept whole.
func TestCompactMessagesRoundTrip(t *testing.T) {
	msgs := []*stoatpb.Message{
		{Id: msgID(1), Channel: general, Author: alice, Content: "plain"},
		{Id: msgID(2), Channel: general, Author: alice, Content: "with nonce, edited, pinned, flags", Nonce: "01NONCE", Edited: 77, Pinned: true, Flags: 2},
		{Id: msgID(3), Channel: general, Author: alice},
		{Id: msgID(4), Channel: general, Author: alice, Content: "ünïcødé 🦦", Nonce: "ñ"},
		{Id: msgID(5), Channel: general, Author: alice, Content: "reply", Replies: []string{msgID(1)}, Mentions: []string{bob}},
		{Id: msgID(6), Channel: general, Author: hook, Webhook: &stoatpb.MessageWebhook{Name: "ci"}, Masquerade: &stoatpb.Masquerade{Name: "m"}},
		{Id: msgID(7), Channel: general, Author: alice, Attachments: []*stoatpb.File{{Id: "f", Tag: "attachments"}}, Embeds: []*stoatpb.Embed{{Type: stoatpb.EmbedType_EMBED_TYPE_TEXT}}},
		{Id: msgID(8), Channel: general, Author: alice, Content: "author", User: &stoatpb.User{Id: alice}, Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: alice}}},
	}
	for _, full := range []bool{false, true} {
		r := newWorld(t, Policy{FullMessages: full})
		for _, m := range msgs {
			r.ingest(&stoatpb.MessageCreateEvent{Message: m})
		}
		r.drain()
		got := r.store.Messages(general)
		expect(t, "messages", len(got), len(msgs))
		for i, m := range msgs {
			want := m.ShallowClone()
			want.User, want.Member = nil, nil
			expectProto(t, fmt.Sprintf("full=%v message %d", full, i+1), got[i], want)
			expectProto(t, "Message()", r.store.Message(general, m.Id), want)
		}
	}
}

func TestStats(t *testing.T) {
	r := newWorld(t, Policy{})
	for i := 1; i <= 100; i++ {
		r.ingest(msg(general, i, alice, "hello there, a message of a usual length"))
	}
	r.drain()
	st := r.store.Stats()
	c := r.store.Counts()
	for _, k := range []struct {
		name string
		ks   KindStats
	}{
		{"users", st.Users}, {"servers", st.Servers}, {"channels", st.Channels}, {"members", st.Members},
		{"messages", st.Messages}, {"emojis", st.Emojis}, {"voice_states", st.VoiceStates}, {"read_states", st.ReadStates},
	} {
		expect(t, k.name+" entries", k.ks.Entries, c[k.name])
		if k.ks.Entries > 0 && (k.ks.Bytes < int64(k.ks.Entries)*32 || k.ks.Bytes > int64(k.ks.Entries)*4096) {
			t.Errorf("%s: %d bytes for %d entries", k.name, k.ks.Bytes, k.ks.Entries)
		}
	}
	if per := st.Messages.Bytes / int64(st.Messages.Entries); per < 100 || per > 400 {
		t.Errorf("a compact message is estimated at %d bytes", per)
	}
	if st.Total().Entries == 0 {
		t.Error("no total")
	}
	// The estimate of a whole message counts its struct and strings.
	m := &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice, Content: "x"}
	if b := protoHeap(m); b < int64(proto.Size(m)) || b < 352 {
		t.Errorf("protoHeap = %d", b)
	}
}

// A big server's member table is sharded once it passes memberShardAt: lookups, updates,
// removals and the listing still see every member.
func TestBigMemberTable(t *testing.T) {
	r := newWorld(t, Policy{})
	const n = 3 * memberShardAt
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("01M%023d", i)
		r.ingest(&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: u, Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: u}, JoinedAt: int64(i)}})
	}
	r.ingest(
		&stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: fmt.Sprintf("01M%023d", 7)},
		&stoatpb.ServerRoleDeleteEvent{ServerId: srv, RoleId: mod},
	)
	r.drain()
	s := r.store
	if len(s.members.get(srv).shards) != memberShards {
		t.Fatalf("the table has %d shards", len(s.members.get(srv).shards))
	}
	expect(t, "members", len(s.Members(srv)), n+2-1)
	expect(t, "a member", s.Member(srv, fmt.Sprintf("01M%023d", 2000)).GetJoinedAt(), int64(2000))
	expect(t, "removed", s.Member(srv, fmt.Sprintf("01M%023d", 7)), (*stoatpb.Member)(nil))
	expect(t, "alice's roles stripped", len(s.Member(srv, alice).GetRoles()), 0)
	expect(t, "counts", s.Counts()["members"], n+1)
}
