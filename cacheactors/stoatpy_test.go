package cacheactors

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Regression tests for the holes of stoat.py's cache (design/stoatpy-notes.md §2.2). Each would
// fail with stoat.py's behaviour, which its comment names.

// stoat.py: a re-Ready only stores; stale servers, channels, members and emojis stay forever.
func TestReReadyRemovesStaleEntries(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(
		&stoatpb.ServerCreateEvent{ServerId: srv2, Server: &stoatpb.Server{Id: srv2, Name: "two", Channels: []string{"01S2C1"}},
			Channels: []*stoatpb.Channel{{Id: "01S2C1", ChannelType: textType, Server: srv2, Name: "a"}}},
		&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: bob, Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: bob}}},
		msg(general, 1, alice, "still true"),
		msg(lounge, 2, alice, "gone with its channel"),
	)
	// Reconnected: the new Ready lacks srv2, lounge, the DM, the emoji, alice's voice state and
	// the read states; it renames srv and general.
	next := worldReady()
	next.Servers[0].Name = "lab (renamed)"
	next.Servers[0].Channels = []string{general}
	next.Channels = []*stoatpb.Channel{next.Channels[0], next.Channels[3], next.Channels[4]}
	next.Channels[0].Name = "general (renamed)"
	next.Members = next.Members[:1]
	next.Emojis = nil
	next.VoiceStates = nil
	next.ReadStates = []*stoatpb.ChannelUnread{{Id: &stoatpb.ChannelCompositeKey{Channel: group, User: me}, LastId: msgID(5)}}
	r.run(next)

	s := r.store
	expectList(t, "servers", s.ServerIDs(), []string{srv})
	expect(t, "server renamed", s.Server(srv).GetName(), "lab (renamed)")
	expectList(t, "channels", s.ChannelIDs(), []string{general, group, saved})
	expect(t, "channel renamed", s.Channel(general).GetName(), "general (renamed)")
	expect(t, "srv2's channel", s.Channel("01S2C1"), (*stoatpb.Channel)(nil))
	expectList(t, "members", memberIDs(s.Members(srv)), []string{me})
	expect(t, "srv2's members", len(s.Members(srv2)), 0)
	expect(t, "emojis", len(s.EmojiIDs()), 0)
	expect(t, "lounge's messages", len(s.Messages(lounge)), 0)
	expectList(t, "general's messages kept", messageIDs(s.Messages(general)), []string{msgID(1)})
	expect(t, "read state of general (absent from the new list)", s.ReadState(general), (*stoatpb.ChannelUnread)(nil))
	expect(t, "read state of group", s.ReadState(group).GetLastId(), msgID(5))
	expect(t, "voice states", s.Counts()["voice_states"], 0)

	// The router's indexes follow: an emoji of the old Ready no longer routes to srv.
	r.run(&stoatpb.ServerEmojiCreateEvent{Emoji: &stoatpb.Emoji{Id: "01EMNEW", Name: "n", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv}}})
	expectList(t, "emojis", s.EmojiIDs(), []string{"01EMNEW"})
}

// stoat.py: ServerDelete removes the server, members and emojis but keeps its channels and their
// messages cached.
func TestServerDeleteDropsChannelsAndMessages(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(msg(general, 1, alice, "a"), msg(lounge, 2, alice, "b"), &stoatpb.ServerDeleteEvent{ServerId: srv})
	s := r.store
	for _, ch := range []string{general, lounge} {
		if s.Channel(ch) != nil || len(s.Messages(ch)) != 0 {
			t.Errorf("channel %s or its messages are still cached after ServerDelete", ch)
		}
	}
	expect(t, "messages", s.Counts()["messages"], 0)
	expect(t, "emoji", s.Emoji(emoji), (*stoatpb.Emoji)(nil))
}

// stoat.py: your own ServerMemberLeave removes the server but keeps its channels and messages.
func TestLeavingAServerDropsChannelsAndMessages(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(msg(general, 1, alice, "a"), &stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: me})
	s := r.store
	expect(t, "server", s.Server(srv), (*stoatpb.Server)(nil))
	expect(t, "general", s.Channel(general), (*stoatpb.Channel)(nil))
	expect(t, "messages", s.Counts()["messages"], 0)
	expect(t, "members", len(s.Members(srv)), 0)
}

// A rejoin right after leaving: the channels of the new ServerCreate must survive the cascade of
// the leave (it lands in each channel in wire order, before the new seed).
func TestRejoinAfterLeaveKeepsTheNewChannels(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(
		&stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: me},
		&stoatpb.ServerCreateEvent{ServerId: srv, Server: &stoatpb.Server{Id: srv, Name: "lab", Channels: []string{general}},
			Channels: []*stoatpb.Channel{{Id: general, ChannelType: textType, Server: srv, Name: "general"}}},
	)
	expect(t, "general", r.store.Channel(general).GetName(), "general")
	expectList(t, "members", memberIDs(r.store.Members(srv)), []string{me})
}

// stoat.py: a new server channel is not added to its server's channel list.
func TestNewServerChannelJoinsItsServer(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01NEW", ChannelType: textType, Server: srv, Name: "new"}})
	expectList(t, "channels", r.store.Server(srv).GetChannels(), []string{general, lounge, "01NEW"})
	// A ServerUpdate{channels} that came first does not make it appear twice.
	r.run(
		&stoatpb.ServerUpdateEvent{ServerId: srv, Server: &stoatpb.PartialServer{Channels: &stoatpb.StringList{Items: []string{general, lounge, "01NEW", "01NEW2"}}}},
		&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01NEW2", ChannelType: textType, Server: srv, Name: "new2"}},
	)
	expectList(t, "channels", r.store.Server(srv).GetChannels(), []string{general, lounge, "01NEW", "01NEW2"})
}

// stoat.py: ChannelDelete leaves the read state and the voice state behind.
func TestChannelDeleteDropsReadAndVoiceState(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(&stoatpb.MessageAckEvent{ChannelId: lounge, UserId: me, MessageId: msgID(3)})
	if r.store.ReadState(lounge) == nil || r.store.VoiceStates(lounge) == nil {
		t.Fatal("setup: lounge has no read state or voice state")
	}
	r.run(&stoatpb.ChannelDeleteEvent{ChannelId: lounge})
	expect(t, "read state", r.store.ReadState(lounge), (*stoatpb.ChannelUnread)(nil))
	expect(t, "voice state", r.store.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
}

// stoat.py: UserVoiceStateUpdate computes `after` but never writes it back.
func TestVoiceStateUpdateIsWrittenBack(t *testing.T) {
	r := newWorld(t, Policy{})
	var after *stoatpb.UserVoiceState
	handle(r, func(ev *stoatpb.UserVoiceStateUpdateEvent) { after = ev.After })
	r.run(&stoatpb.UserVoiceStateUpdateEvent{UserId: alice, ChannelId: lounge, State: &stoatpb.PartialUserVoiceState{Camera: ptr(true)}})
	got := r.store.VoiceStates(lounge).GetParticipants()[0]
	expect(t, "camera", got.GetCamera(), true)
	if got != after {
		t.Error("the cached state is not the After the handlers saw")
	}
}

// stoat.py: a replayed MessageReact appends the user again.
func TestReplayedReactionIsNotDuplicated(t *testing.T) {
	r := newWorld(t, Policy{})
	react := &stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: alice, Emoji: "👍"}
	again := proto.Clone(react).(*stoatpb.MessageReactEvent)
	r.run(msg(general, 1, bob, "x"), react, again)
	expectList(t, "👍", reactions(r.store.Message(general, msgID(1)))["👍"], []string{alice})
}

// stoat.py: a platform-wiped user is only renamed; their DMs, messages and memberships stay.
func TestPlatformWipeRemovesTheUsersData(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(msg(general, 1, alice, "a"), msg(dm, 2, alice, "b"), msg(general, 3, bob, "c"),
		&stoatpb.UserPlatformWipeEvent{UserId: alice, RawFlags: 4})
	s := r.store
	expect(t, "user", s.User(alice), (*stoatpb.User)(nil))
	expect(t, "DM", s.Channel(dm), (*stoatpb.Channel)(nil))
	expect(t, "membership", s.Member(srv, alice), (*stoatpb.Member)(nil))
	expectList(t, "messages", messageIDs(s.Messages(general)), []string{msgID(3)})
	for _, rel := range s.Me().GetRelations() {
		if rel.GetId() == alice {
			t.Error("the wiped user is still in your relations")
		}
	}
}

// stoat.py prunes an ack's mentions against the previous ack, so mentions up to the new ack stay.
func TestAckClearsMentionsUpToIt(t *testing.T) {
	r := newWorld(t, Policy{})
	r.run(
		&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice, Mentions: []string{me}}},
		&stoatpb.MessageAckEvent{ChannelId: general, UserId: me, MessageId: msgID(1)},
	)
	expect(t, "mentions", len(r.store.ReadState(general).GetMentions()), 0)
}

// stoat.py mutates cached objects in place (reactions, embeds, recipients, roles, ranks, voice,
// read states, last_message_id), so an object a handler holds changes under it. Here handlers
// keep every snapshot they are given or read, a goroutine keeps reading them (the race detector
// would flag any write), and after a long stream of further events each must still equal the
// copy taken when it was handed over.
func TestSnapshotsNeverChange(t *testing.T) {
	r := newWorld(t, Policy{})
	type held struct {
		what string
		obj  proto.Message
		copy proto.Message
	}
	var (
		mu    sync.Mutex
		kept  []held
		stop  atomic.Bool
		reads atomic.Int64
	)
	keep := func(what string, objs ...proto.Message) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range objs {
			if o != nil && !isNil(o) {
				kept = append(kept, held{what, o, proto.Clone(o)})
			}
		}
	}
	s := r.store
	dispatch.Handle(r.reg, func(_ *dispatch.Context, ev stoatpb.Event) error {
		switch e := ev.(type) {
		case *stoatpb.MessageCreateEvent:
			keep("message", e.Message, s.Channel(e.GetMessage().GetChannel()), s.ReadState(e.GetMessage().GetChannel()))
		case *stoatpb.MessageUpdateEvent:
			keep("message update", e.Before, e.After)
		case *stoatpb.MessageReactEvent:
			keep("react", e.Message)
		case *stoatpb.MessageUnreactEvent:
			keep("unreact", e.Message)
		case *stoatpb.MessageAppendEvent:
			keep("append", e.Message)
		case *stoatpb.ChannelUpdateEvent:
			keep("channel update", e.Before, e.After)
		case *stoatpb.GroupRecipientAddEvent:
			keep("group join", e.Group)
		case *stoatpb.ServerUpdateEvent:
			keep("server update", e.Before, e.After)
		case *stoatpb.RawServerRoleUpdateEvent:
			keep("role update", e.Server, e.OldRole, e.NewRole)
		case *stoatpb.ServerRoleDeleteEvent:
			keep("role delete", e.Server, e.Role, s.Channel(general), s.Member(srv, alice))
		case *stoatpb.ServerRoleRanksUpdateEvent:
			keep("ranks", e.Server)
		case *stoatpb.ServerMemberUpdateEvent:
			keep("member update", e.Before, e.After)
		case *stoatpb.UserUpdateEvent:
			keep("user update", e.Before, e.After, s.Me())
		case *stoatpb.UserVoiceStateUpdateEvent:
			keep("voice update", e.Container, e.Before, e.After)
		case *stoatpb.VoiceChannelMoveEvent:
			keep("voice move", e.OldContainer, e.NewContainer)
		case *stoatpb.MessageAckEvent:
			keep("ack", s.ReadState(e.ChannelId))
		}
		return nil
	})
	done := make(chan struct{})
	go func() { // a reader of everything held, concurrent with the owners
		defer close(done)
		for !stop.Load() {
			mu.Lock()
			objs := append([]held(nil), kept...)
			mu.Unlock()
			for _, h := range objs {
				proto.Size(h.obj)
				reads.Add(1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for round := 0; round < 20; round++ {
		id := round * 10
		r.run(
			msg(general, id+1, alice, fmt.Sprint("m", round)),
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(id + 2), Channel: general, Author: alice, Mentions: []string{me}}},
			&stoatpb.MessageUpdateEvent{MessageId: msgID(id + 1), ChannelId: general, Message: &stoatpb.PartialMessage{Content: ptr(fmt.Sprint("edit", round))}},
			&stoatpb.MessageReactEvent{MessageId: msgID(id + 1), ChannelId: general, UserId: bob, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(id + 1), ChannelId: general, UserId: alice, Emoji: "👍"},
			&stoatpb.MessageUnreactEvent{MessageId: msgID(id + 1), ChannelId: general, UserId: bob, Emoji: "👍"},
			&stoatpb.MessageAppendEvent{MessageId: msgID(id + 1), ChannelId: general, Data: &stoatpb.MessageAppendData{Embeds: []*stoatpb.Embed{{Type: stoatpb.EmbedType_EMBED_TYPE_NONE}}}},
			&stoatpb.ChannelUpdateEvent{ChannelId: general, Channel: &stoatpb.PartialChannel{Name: ptr(fmt.Sprint("g", round))}},
			&stoatpb.GroupRecipientAddEvent{ChannelId: group, UserId: fmt.Sprint("01U", round)},
			&stoatpb.ServerUpdateEvent{ServerId: srv, Server: &stoatpb.PartialServer{Name: ptr(fmt.Sprint("s", round))}},
			&stoatpb.RawServerRoleUpdateEvent{ServerId: srv, RoleId: fmt.Sprint("01R", round), Role: &stoatpb.PartialRole{Name: ptr("r")}},
			&stoatpb.ServerRoleRanksUpdateEvent{ServerId: srv, RoleIds: []string{fmt.Sprint("01R", round), mod}},
			&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: alice}, Member: &stoatpb.PartialMember{Nickname: ptr(fmt.Sprint("n", round)), Roles: &stoatpb.StringList{Items: []string{mod, fmt.Sprint("01R", round)}}}},
			&stoatpb.ServerRoleDeleteEvent{ServerId: srv, RoleId: fmt.Sprint("01R", round)},
			&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{DisplayName: ptr(fmt.Sprint("a", round))}},
			&stoatpb.UserUpdateEvent{UserId: me, User: &stoatpb.PartialUser{DisplayName: ptr(fmt.Sprint("me", round))}},
			&stoatpb.UserRelationshipUpdateEvent{NewUser: &stoatpb.User{Id: fmt.Sprint("01U", round), Relationship: relFriend}},
			&stoatpb.UserVoiceStateUpdateEvent{UserId: alice, ChannelId: lounge, State: &stoatpb.PartialUserVoiceState{Camera: ptr(round%2 == 0)}},
			&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}},
			&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: general, To: lounge, State: &stoatpb.UserVoiceState{Id: alice}},
			&stoatpb.MessageAckEvent{ChannelId: general, UserId: me, MessageId: msgID(id + 1)},
		)
	}
	stop.Store(true)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(kept) < 300 || reads.Load() == 0 {
		t.Fatalf("setup: kept %d snapshots, read %d", len(kept), reads.Load())
	}
	for _, h := range kept {
		if !proto.Equal(h.obj, h.copy) {
			t.Errorf("%s: a snapshot a handler held changed:\nheld %v\nnow  %v", h.what, h.copy, h.obj)
		}
	}
}

func isNil(m proto.Message) bool { return !m.ProtoReflect().IsValid() }

// The handlers of a cascading event see every owner as it was before the event; a cancelled
// event has no effect anywhere (gated cascades).
func TestCascadesWaitForTheirEvent(t *testing.T) {
	t.Run("ServerDelete handler sees the channels", func(t *testing.T) {
		r := newWorld(t, Policy{})
		var seen []string
		handle(r, func(ev *stoatpb.ServerDeleteEvent) {
			time.Sleep(10 * time.Millisecond) // let a cascade that did not wait land
			for _, ch := range ev.GetServer().GetChannels() {
				if c := r.store.Channel(ch); c != nil {
					seen = append(seen, c.GetName())
				}
			}
		})
		r.run(&stoatpb.ServerDeleteEvent{ServerId: srv})
		expectList(t, "channels seen", seen, []string{"general", "lounge"})
		expect(t, "then dropped", r.store.Channel(general), (*stoatpb.Channel)(nil))
	})
	t.Run("cancelled ServerDelete keeps everything", func(t *testing.T) {
		r := newWorld(t, Policy{})
		dispatch.Handle(r.reg, func(ctx *dispatch.Context, ev *stoatpb.ServerDeleteEvent) error {
			ctx.Cancel()
			return nil
		})
		r.run(&stoatpb.ServerDeleteEvent{ServerId: srv})
		expect(t, "server", r.store.Server(srv) != nil, true)
		expect(t, "channel", r.store.Channel(general) != nil, true)
	})
	t.Run("ChannelDelete handler sees the server's list", func(t *testing.T) {
		r := newWorld(t, Policy{})
		var listed []string
		handle(r, func(ev *stoatpb.ChannelDeleteEvent) {
			time.Sleep(10 * time.Millisecond)
			listed = r.store.Server(srv).GetChannels()
		})
		r.run(&stoatpb.ChannelDeleteEvent{ChannelId: lounge})
		expectList(t, "listed during", listed, []string{general, lounge})
		expectList(t, "listed after", r.store.Server(srv).GetChannels(), []string{general})
	})
	t.Run("VoiceChannelMove handler sees both containers; cancel keeps them", func(t *testing.T) {
		r := newWorld(t, Policy{})
		var old []string
		dispatch.Handle(r.reg, func(ctx *dispatch.Context, ev *stoatpb.VoiceChannelMoveEvent) error {
			time.Sleep(10 * time.Millisecond)
			old = participants(r.store.VoiceStates(lounge))
			ctx.Cancel()
			return nil
		})
		r.run(&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}})
		expectList(t, "from, during", old, []string{alice})
		expectList(t, "from, after the cancelled move", participants(r.store.VoiceStates(lounge)), []string{alice})
		expect(t, "to, after the cancelled move", r.store.VoiceStates(general), (*stoatpb.ChannelVoiceState)(nil))
	})
}

// Cascades find their targets in wire order (the router's indexes), not in the Store, which may
// lag behind: a channel created just before the event still gets the cascade.
func TestCascadesReachChannelsNotYetApplied(t *testing.T) {
	for i := 0; i < 20; i++ {
		r := newWorld(t, Policy{})
		r.run(
			&stoatpb.PrivateChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01DM2", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, Recipients: []string{me, carol}}},
			msg("01DM2", 1, carol, "hi"),
			msg("01NEVERSEEN", 2, carol, "a channel known only from its messages"),
			&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01NEW", ChannelType: textType, Server: srv, Name: "new",
				RolePermissions: []*stoatpb.RoleOverride{{RoleId: mod, A: 1}}}},
			&stoatpb.UserPlatformWipeEvent{UserId: carol},
			&stoatpb.ServerRoleDeleteEvent{ServerId: srv, RoleId: mod},
		)
		s := r.store
		if s.Channel("01DM2") != nil || len(s.Messages("01NEVERSEEN")) != 0 {
			t.Fatalf("round %d: the wipe missed a channel", i)
		}
		if n := len(s.Channel("01NEW").GetRolePermissions()); n != 0 {
			t.Fatalf("round %d: the role delete missed a channel", i)
		}
	}
}
