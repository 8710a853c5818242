package cacheactors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// The test world: you (me) are in server srv with a text channel (general), a voice-capable
// channel (lounge, where alice is connected) and a role (mod, held by alice); you have a DM with
// alice, a group with alice and bob, and a saved-messages channel; alice is your friend.
const (
	me      = "01ME000000000000000000000A"
	alice   = "01ALICE0000000000000000000"
	bob     = "01BOB000000000000000000000"
	carol   = "01CAROL0000000000000000000"
	srv     = "01SRV000000000000000000000"
	srv2    = "01SRV200000000000000000000"
	general = "01GENERAL00000000000000000"
	lounge  = "01LOUNGE000000000000000000"
	dm      = "01DM000000000000000000000A"
	group   = "01GROUP0000000000000000000"
	saved   = "01SAVED0000000000000000000"
	mod     = "01ROLEMOD00000000000000000"
	emoji   = "01EMOJI0000000000000000000"
	hook    = "01HOOK0000000000000000000A"
)

const (
	relUser   = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	relFriend = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND
	relNone   = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
	textType  = stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL
)

func ptr[T any](v T) *T { return &v }

func msgID(i int) string { return fmt.Sprintf("01MSG%021d", i) }

func worldReady() *stoatpb.ReadyEvent {
	return &stoatpb.ReadyEvent{
		Users: []*stoatpb.User{
			{Id: alice, Username: "alice", Discriminator: "0001", Relationship: relFriend, Online: true, Status: &stoatpb.UserStatus{Text: "hi", Presence: stoatpb.Presence_PRESENCE_ONLINE}},
			{Id: bob, Username: "bob", Discriminator: "0002"},
			{Id: me, Username: "bot", Discriminator: "0003", Relationship: relUser, Relations: []*stoatpb.Relationship{{Id: alice, Status: relFriend}}},
		},
		Servers: []*stoatpb.Server{{
			Id: srv, Owner: alice, Name: "lab", Channels: []string{general, lounge},
			Categories: []*stoatpb.Category{{Id: "cat", Title: "All", Channels: []string{general, lounge}}},
			Roles:      []*stoatpb.Role{{Id: mod, Name: "mod", Permissions: &stoatpb.PermissionOverride{A: 1}, Rank: 0}},
		}},
		Channels: []*stoatpb.Channel{
			{Id: general, ChannelType: textType, Server: srv, Name: "general",
				RolePermissions: []*stoatpb.RoleOverride{{RoleId: mod, A: 8}}},
			{Id: lounge, ChannelType: textType, Server: srv, Name: "lounge", Voice: &stoatpb.VoiceInformation{}},
			{Id: dm, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, Recipients: []string{me, alice}},
			{Id: group, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_GROUP, Name: "trio", Owner: alice, Recipients: []string{me, alice, bob}},
			{Id: saved, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES, User: me},
		},
		Members: []*stoatpb.Member{
			{Id: &stoatpb.MemberId{Server: srv, User: me}, JoinedAt: 1000},
			{Id: &stoatpb.MemberId{Server: srv, User: alice}, JoinedAt: 2000, Roles: []string{mod}, Nickname: "al"},
		},
		Emojis: []*stoatpb.Emoji{{Id: emoji, Name: "otter", CreatorId: alice,
			Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv}}},
		VoiceStates: []*stoatpb.ChannelVoiceState{{Id: lounge, Participants: []*stoatpb.UserVoiceState{{Id: alice, JoinedAt: 5000, IsReceiving: true}}}},
		ReadStates:  []*stoatpb.ChannelUnread{{Id: &stoatpb.ChannelCompositeKey{Channel: general, User: me}, LastId: msgID(0)}},
	}
}

// newWorld returns a rig with the world's Ready applied.
func newWorld(tb testing.TB, p Policy) *rig {
	tb.Helper()
	r := newRig(tb, p)
	r.run(worldReady())
	return r
}

func msg(channel string, i int, author, content string) *stoatpb.MessageCreateEvent {
	return &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(i), Channel: channel, Author: author, Content: content, Nonce: fmt.Sprintf("nonce-%d", i)}}
}

func ids[T interface{ GetId() string }](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.GetId()
	}
	return out
}

func memberIDs(ms []*stoatpb.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.GetId().GetUser()
	}
	return out
}

func messageIDs(ms []*stoatpb.Message) []string { return ids(ms) }

func participants(v *stoatpb.ChannelVoiceState) []string { return ids(v.GetParticipants()) }

func reactions(m *stoatpb.Message) map[string][]string {
	out := map[string][]string{}
	for _, r := range m.GetReactions() {
		out[r.Emoji] = r.Users
	}
	return out
}

// expect fails the test with what when got != want.
func expect[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func expectList[T comparable](t testing.TB, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func expectProto(t testing.TB, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
