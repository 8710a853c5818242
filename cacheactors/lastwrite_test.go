package cacheactors

import (
	"hash/maphash"
	"strconv"
	"testing"
	"unsafe"

	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// lastWrite is a step of TestLastWrite: after the events, the entry's record.
type lastWrite struct {
	events []stoatpb.Event
	want   CacheContextKind // CacheUndefined: not cached
}

// TestLastWrite: for each kind of entry, a write in a known context records its kind, a later
// write in another context replaces it, and a removal removes it.
func TestLastWrite(t *testing.T) {
	carolMsg := msg(general, 3, carol, "hi")
	carolMsg.Message.User = &stoatpb.User{Id: carol, Username: "carol"}
	carolMsg.Message.Member = &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: carol}}
	for _, tc := range []struct {
		name  string
		kind  EntryKind
		id    []string
		steps []lastWrite
	}{
		{"user seeded", EntryUser, []string{alice}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{DisplayName: ptr("Alice")}}}, CacheUserUpdateEvent},
			{[]stoatpb.Event{&stoatpb.UserPlatformWipeEvent{UserId: alice}}, CacheUndefined},
		}},
		{"message author", EntryUser, []string{carol}, []lastWrite{
			{[]stoatpb.Event{carolMsg}, CacheMessageCreateEvent},
			{[]stoatpb.Event{&stoatpb.UserUpdateEvent{UserId: carol, User: &stoatpb.PartialUser{DisplayName: ptr("Carol")}}}, CacheUserUpdateEvent},
		}},
		{"server", EntryServer, []string{srv}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.ServerUpdateEvent{ServerId: srv, Server: &stoatpb.PartialServer{Name: ptr("lab2")}}}, CacheServerUpdateEvent},
			{[]stoatpb.Event{&stoatpb.ServerDeleteEvent{ServerId: srv}}, CacheUndefined},
		}},
		{"channel", EntryChannel, []string{general}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.ChannelUpdateEvent{ChannelId: general, Channel: &stoatpb.PartialChannel{Name: ptr("chat")}}}, CacheChannelUpdateEvent},
			{[]stoatpb.Event{&stoatpb.ChannelDeleteEvent{ChannelId: general}}, CacheUndefined},
		}},
		{"member", EntryMember, []string{srv, carol}, []lastWrite{
			{[]stoatpb.Event{carolMsg}, CacheMessageCreateEvent},
			{[]stoatpb.Event{&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: carol}, Member: &stoatpb.PartialMember{Nickname: ptr("caz")}}}, CacheServerMemberUpdateEvent},
			{[]stoatpb.Event{&stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: carol}}, CacheUndefined},
		}},
		{"member seeded", EntryMember, []string{srv, alice}, []lastWrite{{nil, CacheReadyEvent}}},
		{"message", EntryMessage, []string{general, msgID(1)}, []lastWrite{
			{[]stoatpb.Event{msg(general, 1, alice, "a")}, CacheMessageCreateEvent},
			{[]stoatpb.Event{&stoatpb.MessageUpdateEvent{ChannelId: general, MessageId: msgID(1), Message: &stoatpb.PartialMessage{Content: ptr("b")}}}, CacheMessageUpdateEvent},
			// Kept whole (full), with its reaction.
			{[]stoatpb.Event{&stoatpb.MessageReactEvent{ChannelId: general, MessageId: msgID(1), UserId: bob, Emoji: emoji}}, CacheMessageReactEvent},
			{[]stoatpb.Event{&stoatpb.MessageDeleteEvent{ChannelId: general, MessageId: msgID(1)}}, CacheUndefined},
		}},
		{"emoji", EntryEmoji, []string{emoji}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.ServerEmojiUpdateEvent{EmojiId: emoji, Emoji: &stoatpb.PartialEmoji{Name: ptr("stoat")}}}, CacheServerEmojiUpdateEvent},
			{[]stoatpb.Event{&stoatpb.ServerEmojiDeleteEvent{EmojiId: emoji}}, CacheUndefined},
		}},
		{"voice", EntryVoiceState, []string{lounge}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.VoiceChannelJoinEvent{ChannelId: lounge, State: &stoatpb.UserVoiceState{Id: bob}}}, CacheVoiceChannelJoinEvent},
			{[]stoatpb.Event{&stoatpb.VoiceChannelLeaveEvent{ChannelId: lounge, UserId: alice}}, CacheVoiceChannelLeaveEvent},
			{[]stoatpb.Event{&stoatpb.VoiceChannelLeaveEvent{ChannelId: lounge, UserId: bob}}, CacheUndefined},
		}},
		{"read state", EntryReadState, []string{general}, []lastWrite{
			{nil, CacheReadyEvent},
			{[]stoatpb.Event{&stoatpb.MessageAckEvent{ChannelId: general, UserId: me, MessageId: msgID(2)}}, CacheMessageAckEvent},
			{[]stoatpb.Event{&stoatpb.ChannelDeleteEvent{ChannelId: general}}, CacheUndefined},
		}},
		{"webhook", EntryWebhook, []string{hook}, []lastWrite{
			{[]stoatpb.Event{&stoatpb.WebhookCreateEvent{Webhook: &stoatpb.Webhook{Id: hook, Name: "ci", ChannelId: general, CreatorId: alice}}}, CacheWebhookCreateEvent},
			{[]stoatpb.Event{&stoatpb.WebhookUpdateEvent{WebhookId: hook, Webhook: &stoatpb.PartialWebhook{Name: ptr("ci2")}}}, CacheWebhookUpdateEvent},
			{[]stoatpb.Event{&stoatpb.WebhookDeleteEvent{WebhookId: hook}}, CacheUndefined},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newWorld(t, Policy{})
			for i, st := range tc.steps {
				r.run(st.events...)
				got, ok := r.store.LastWrite(tc.kind, tc.id...)
				step := "step " + strconv.Itoa(i)
				expect(t, step+": cached", ok, st.want != CacheUndefined)
				expect(t, step+": last write", got, st.want)
			}
		})
	}
}

// TestLastWriteRequest: what a REST response teaches is recorded as CacheUserRequest.
func TestLastWriteRequest(t *testing.T) {
	r := newWorld(t, Policy{})
	r.dir.Deliver(Learn{}.User(&stoatpb.User{Id: alice, Username: "alice"}))
	r.dir.Deliver(Learn{}.Member(&stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: alice}}))
	r.drain()
	for _, e := range []struct {
		kind EntryKind
		id   []string
	}{{EntryUser, []string{alice}}, {EntryMember, []string{srv, alice}}} {
		got, ok := r.store.LastWrite(e.kind, e.id...)
		expect(t, "cached", ok, true)
		expect(t, "last write", got, CacheUserRequest)
	}
}

// TestLastWriteIDs: LastWrite with the wrong number of ids, or of an entry not cached, reports
// nothing.
func TestLastWriteIDs(t *testing.T) {
	r := newWorld(t, Policy{})
	for _, tc := range []struct {
		name string
		kind EntryKind
		id   []string
	}{
		{"user, two ids", EntryUser, []string{alice, bob}},
		{"member, one id", EntryMember, []string{srv}},
		{"message, none", EntryMessage, nil},
		{"member of an unknown server", EntryMember, []string{srv2, alice}},
		{"message of an empty channel", EntryMessage, []string{general, msgID(1)}},
		{"unknown kind", EntryWebhook + 1, []string{alice}},
	} {
		got, ok := r.store.LastWrite(tc.kind, tc.id...)
		expect(t, tc.name, ok, false)
		expect(t, tc.name, got, CacheUndefined)
	}
}

// TestLastWritePassivation: a passivated owner's rebuilt member table and message window keep
// their entries' records.
func TestLastWritePassivation(t *testing.T) {
	r := newRig(t, Policy{})
	lounge := seededManual(t, r, channelKey(lounge))
	lounge.get(ownerpb.NewDispatch(msg(lounge.ctx.key.ID, 1, bob, "compact")),
		ownerpb.NewDispatch(&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: lounge.ctx.key.ID, Message: &stoatpb.PartialMessage{Content: ptr("edited")}}),
		ownerpb.NewDispatch(msg(lounge.ctx.key.ID, 2, bob, "new")))
	passivated(t, r, lounge)
	for i, want := range []CacheContextKind{CacheMessageUpdateEvent, CacheMessageCreateEvent} {
		got, _ := r.store.LastWrite(EntryMessage, lounge.ctx.key.ID, msgID(i+1))
		expect(t, msgID(i+1), got, want)
	}

	server := seededManual(t, r, serverKey(srv))
	server.get(ownerpb.NewDispatch(&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: alice}, Member: &stoatpb.PartialMember{Nickname: ptr("ally")}}))
	passivated(t, r, server)
	for user, want := range map[string]CacheContextKind{alice: CacheServerMemberUpdateEvent, me: CacheReadyEvent} {
		got, _ := r.store.LastWrite(EntryMember, srv, user)
		expect(t, user, got, want)
	}
}

// A member table that grows keeps its records.
func TestMemberTableGrown(t *testing.T) {
	tb := newMemberTable(maphash.MakeSeed(), 1)
	for i := range memberShardAt {
		tb.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: msgID(i)}}, CacheReadyEvent)
	}
	expect(t, "grows", tb.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: alice}}, CacheServerMemberJoinEvent), true)
	g := tb.grown()
	for user, want := range map[string]CacheContextKind{msgID(7): CacheReadyEvent, alice: CacheServerMemberJoinEvent} {
		got, ok := g.lastWrite(user)
		expect(t, user+" cached", ok, true)
		expect(t, user, got, want)
	}
}

// A compact message's header is 8 bytes, its kind included.
func TestCompactMessageSize(t *testing.T) {
	expect(t, "sizeof(cmsg)", unsafe.Sizeof(cmsg{}), uintptr(8))
}
