package cacheactors

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestEventEffects runs, for every event type, a short stream after the world's Ready and checks
// the cache through the Store's getters (the same Store that `ermine replay` dumps).
func TestEventEffects(t *testing.T) {
	type check func(t *testing.T, s *Store)
	cases := []struct {
		name   string
		policy Policy
		setup  []stoatpb.Event // run (and drained) before events
		events []stoatpb.Event
		check  check
	}{
		{name: "Ready", check: func(t *testing.T, s *Store) {
			expect(t, "me", s.Me().GetUsername(), "bot")
			expectList(t, "servers", s.ServerIDs(), []string{srv})
			expectList(t, "channels", s.ChannelIDs(), []string{dm, general, group, lounge, saved})
			expectList(t, "members", memberIDs(s.Members(srv)), []string{alice, me})
			expectList(t, "users", s.UserIDs(), []string{alice, bob, me})
			expect(t, "emoji", s.Emoji(emoji).GetName(), "otter")
			expectList(t, "voice", participants(s.VoiceStates(lounge)), []string{alice})
			expect(t, "read state", s.ReadState(general).GetLastId(), msgID(0))
		}},
		{name: "Ready/settings", events: []stoatpb.Event{&stoatpb.ReadyEvent{
			Users:        []*stoatpb.User{{Id: me, Relationship: relUser}},
			UserSettings: []*stoatpb.UserSetting{{Key: "theme", Revision: 1, Value: `"dark"`}},
		}}, check: func(t *testing.T, s *Store) {
			expect(t, "settings", len(s.Settings()), 1)
			expect(t, "theme", s.Settings()[0].GetValue(), `"dark"`)
		}},
		{name: "UserSettingsUpdate", events: []stoatpb.Event{
			&stoatpb.UserSettingsUpdateEvent{CurrentUserId: me, Partial: []*stoatpb.UserSetting{{Key: "theme", Revision: 1, Value: "a"}}},
			&stoatpb.UserSettingsUpdateEvent{CurrentUserId: me, Partial: []*stoatpb.UserSetting{{Key: "theme", Revision: 2, Value: "b"}, {Key: "locale", Revision: 2, Value: "fr"}}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "settings", len(s.Settings()), 2)
			expect(t, "theme", s.Settings()[0].GetValue(), "b")
		}},

		// --- messages ---
		{name: "Message", events: []stoatpb.Event{&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
			Id: msgID(1), Channel: general, Author: carol, Content: "hi", Nonce: "n1",
			User:   &stoatpb.User{Id: carol, Username: "carol", Relationship: relFriend}, // Bonfire's guess: wrong
			Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: carol}, JoinedAt: 3000},
		}}}, check: func(t *testing.T, s *Store) {
			m := s.Message(general, msgID(1))
			expect(t, "content", m.GetContent(), "hi")
			expect(t, "nonce", m.GetNonce(), "n1")
			expect(t, "author", m.GetAuthor(), carol)
			expect(t, "embedded user", m.GetUser(), (*stoatpb.User)(nil))
			expect(t, "embedded member", m.GetMember(), (*stoatpb.Member)(nil))
			expect(t, "last_message_id", s.Channel(general).GetLastMessageId(), msgID(1))
			expect(t, "author cached", s.User(carol).GetUsername(), "carol")
			expect(t, "author relationship (from your relations)", s.User(carol).GetRelationship(), relNone)
			expect(t, "member cached", s.Member(srv, carol).GetJoinedAt(), int64(3000))
		}},
		{name: "Message/last_message_id outlives the newest message's deletion and a channel update", events: []stoatpb.Event{
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: carol, Content: "a"}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(2), Channel: general, Author: carol, Content: "b"}},
			&stoatpb.MessageDeleteEvent{ChannelId: general, MessageId: msgID(2)},
			&stoatpb.MessageDeleteEvent{ChannelId: general, MessageId: msgID(1)},
			&stoatpb.ChannelUpdateEvent{ChannelId: general, Channel: &stoatpb.PartialChannel{Name: proto.String("renamed")}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "messages", len(s.Messages(general)), 0)
			expect(t, "name", s.Channel(general).GetName(), "renamed")
			expect(t, "last_message_id", s.Channel(general).GetLastMessageId(), msgID(2))
		}},
		{name: "Message/own message keeps my relations", events: []stoatpb.Event{&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
			Id: msgID(1), Channel: general, Author: me, Content: "hi", User: &stoatpb.User{Id: me, Username: "bot2", Relationship: relUser},
		}}}, check: func(t *testing.T, s *Store) {
			expect(t, "username", s.Me().GetUsername(), "bot2")
			expect(t, "relations", len(s.Me().GetRelations()), 1)
		}},
		{name: "Message/a snapshot marked User is not you", events: []stoatpb.Event{&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
			Id: msgID(1), Channel: dm, Author: alice, Content: "hi", User: &stoatpb.User{Id: alice, Username: "alice2", Relationship: relUser},
		}}}, check: func(t *testing.T, s *Store) {
			expect(t, "me", s.Me().GetId(), me)
			expect(t, "alice updated", s.User(alice).GetUsername(), "alice2")
			expect(t, "alice's relationship kept", s.User(alice).GetRelationship(), relFriend)
		}},
		{name: "Message/DM becomes active", events: []stoatpb.Event{msg(dm, 1, alice, "psst")}, check: func(t *testing.T, s *Store) {
			expect(t, "active", s.Channel(dm).GetActive(), true)
			expect(t, "last_message_id", s.Channel(dm).GetLastMessageId(), msgID(1))
		}},
		{name: "Message/saved messages has no last_message_id", events: []stoatpb.Event{msg(saved, 1, me, "note")}, check: func(t *testing.T, s *Store) {
			expect(t, "last_message_id", s.Channel(saved).GetLastMessageId(), "")
			expect(t, "cached", s.Message(saved, msgID(1)).GetContent(), "note")
		}},
		{name: "Message/group ownership changes", events: []stoatpb.Event{&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
			Id: msgID(1), Channel: group, Author: "00000000000000000000000000",
			System: &stoatpb.SystemMessage{Type: stoatpb.SystemMessageType_SYSTEM_MESSAGE_TYPE_CHANNEL_OWNERSHIP_CHANGED, From: alice, To: bob},
		}}}, check: func(t *testing.T, s *Store) {
			expect(t, "owner", s.Channel(group).GetOwner(), bob)
			expect(t, "system message", s.Message(group, msgID(1)).GetSystem().GetTo(), bob)
		}},
		{name: "Message/mentions", setup: []stoatpb.Event{
			// Your roles travel with a message that mentions roles: the reader follows them
			// from your member events, in wire order.
			&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: me}, Member: &stoatpb.PartialMember{Roles: &stoatpb.StringList{Items: []string{mod}}}},
		}, events: []stoatpb.Event{
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice, Mentions: []string{me}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(2), Channel: general, Author: alice, Mentions: []string{bob}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(3), Channel: general, Author: alice, Flags: 4}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(4), Channel: general, Author: me, Mentions: []string{me}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(5), Channel: general, Author: alice, RoleMentions: []string{mod}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(6), Channel: general, Author: alice, RoleMentions: []string{"01OTHERROLE"}}},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "mentions", s.ReadState(general).GetMentions(), []string{msgID(1), msgID(3), msgID(5)})
			expect(t, "last_id kept", s.ReadState(general).GetLastId(), msgID(0))
		}},
		{name: "MessageUpdate", events: []stoatpb.Event{
			msg(general, 1, alice, "draft"),
			&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: general, Message: &stoatpb.PartialMessage{Content: ptr("final"), Edited: ptr(int64(9000)), Embeds: &stoatpb.EmbedList{}}},
			&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: general, Message: &stoatpb.PartialMessage{Pinned: ptr(true)}},
			&stoatpb.MessageUpdateEvent{MessageId: msgID(9), ChannelId: general, Message: &stoatpb.PartialMessage{Content: ptr("not cached")}},
		}, check: func(t *testing.T, s *Store) {
			m := s.Message(general, msgID(1))
			expect(t, "content", m.GetContent(), "final")
			expect(t, "edited", m.GetEdited(), int64(9000))
			expect(t, "pinned", m.GetPinned(), true)
			expect(t, "nonce kept", m.GetNonce(), "nonce-1")
			expect(t, "uncached update", s.Message(general, msgID(9)), (*stoatpb.Message)(nil))
		}},
		{name: "MessageUpdate/unpin", events: []stoatpb.Event{
			msg(general, 1, alice, "x"),
			&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: general, Message: &stoatpb.PartialMessage{Pinned: ptr(true)}},
			&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: general, Message: &stoatpb.PartialMessage{}, Clear: []stoatpb.FieldsMessage{stoatpb.FieldsMessage_FIELDS_MESSAGE_PINNED}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "pinned", s.Message(general, msgID(1)).GetPinned(), false)
		}},
		{name: "MessageAppend", events: []stoatpb.Event{
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice, Content: "see https://a",
				Embeds: []*stoatpb.Embed{{Type: stoatpb.EmbedType_EMBED_TYPE_WEBSITE, Title: "a"}}}},
			&stoatpb.MessageAppendEvent{MessageId: msgID(1), ChannelId: general, Data: &stoatpb.MessageAppendData{Embeds: []*stoatpb.Embed{{Type: stoatpb.EmbedType_EMBED_TYPE_WEBSITE, Title: "b"}}}},
		}, check: func(t *testing.T, s *Store) {
			embeds := s.Message(general, msgID(1)).GetEmbeds()
			expect(t, "embeds", len(embeds), 2)
			expect(t, "appended", embeds[1].GetTitle(), "b")
		}},
		{name: "MessageDelete", events: []stoatpb.Event{
			msg(general, 1, alice, "a"), msg(general, 2, alice, "b"),
			&stoatpb.MessageDeleteEvent{MessageId: msgID(1), ChannelId: general},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "messages", messageIDs(s.Messages(general)), []string{msgID(2)})
		}},
		{name: "BulkMessageDelete", events: []stoatpb.Event{
			msg(general, 1, alice, "a"), msg(general, 2, alice, "b"), msg(general, 3, alice, "c"),
			&stoatpb.MessageDeleteBulkEvent{ChannelId: general, MessageIds: []string{msgID(1), msgID(3), msgID(7)}},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "messages", messageIDs(s.Messages(general)), []string{msgID(2)})
		}},
		{name: "MessageReact", events: []stoatpb.Event{
			msg(general, 1, alice, "a"),
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: alice, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: emoji},
		}, check: func(t *testing.T, s *Store) {
			r := reactions(s.Message(general, msgID(1)))
			expectList(t, "👍", r["👍"], []string{alice, bob})
			expectList(t, "custom", r[emoji], []string{bob})
		}},
		{name: "MessageUnreact", events: []stoatpb.Event{
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice,
				Interactions: &stoatpb.Interactions{Reactions: []string{"✅"}}}},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: alice, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "🎉"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "✅"},
			&stoatpb.MessageUnreactEvent{MessageId: msgID(1), ChannelId: general, UserId: alice, Emoji: "👍"},
			&stoatpb.MessageUnreactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "🎉"},
			&stoatpb.MessageUnreactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "✅"},
			&stoatpb.MessageUnreactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "🦦"},
		}, check: func(t *testing.T, s *Store) {
			r := reactions(s.Message(general, msgID(1)))
			expectList(t, "👍", r["👍"], []string{bob})
			if _, ok := r["🎉"]; ok {
				t.Error("an emptied reaction stayed")
			}
			if users, ok := r["✅"]; !ok || len(users) != 0 {
				t.Errorf("a preset reaction (interactions.reactions) = %v, %v; want kept, empty", users, ok)
			}
			if _, ok := r["🦦"]; ok {
				t.Error("unreacting an absent emoji created it")
			}
		}},
		{name: "MessageRemoveReaction", events: []stoatpb.Event{
			msg(general, 1, alice, "a"),
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: alice, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "👍"},
			&stoatpb.MessageReactEvent{MessageId: msgID(1), ChannelId: general, UserId: bob, Emoji: "🎉"},
			&stoatpb.MessageClearReactionEvent{MessageId: msgID(1), ChannelId: general, Emoji: "👍"},
		}, check: func(t *testing.T, s *Store) {
			r := reactions(s.Message(general, msgID(1)))
			expect(t, "emojis left", len(r), 1)
			expectList(t, "🎉", r["🎉"], []string{bob})
		}},

		// --- channels ---
		{name: "ChannelCreate/server channel", events: []stoatpb.Event{
			&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01NEW", ChannelType: textType, Server: srv, Name: "new"}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "channel", s.Channel("01NEW").GetName(), "new")
			expectList(t, "server channels", s.Server(srv).GetChannels(), []string{general, lounge, "01NEW"})
		}},
		{name: "ChannelCreate/DM", events: []stoatpb.Event{
			&stoatpb.PrivateChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01DM2", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, Recipients: []string{me, bob}}},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "recipients", s.Channel("01DM2").GetRecipients(), []string{me, bob})
			expect(t, "no invented read state", s.ReadState("01DM2"), (*stoatpb.ChannelUnread)(nil))
		}},
		{name: "ChannelCreate/legacy VoiceChannel", events: []stoatpb.Event{
			&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01VC", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL, Server: srv, Name: "old voice"}},
		}, check: func(t *testing.T, s *Store) {
			c := s.Channel("01VC")
			expect(t, "type", c.GetChannelType(), textType)
			expect(t, "voice", c.GetVoice() != nil, true)
		}},
		{name: "ChannelUpdate", events: []stoatpb.Event{
			&stoatpb.ChannelUpdateEvent{ChannelId: general, Channel: &stoatpb.PartialChannel{Name: ptr("chat"), Description: ptr("talk")}},
			&stoatpb.ChannelUpdateEvent{ChannelId: general, Channel: &stoatpb.PartialChannel{Nsfw: ptr(true)}, Clear: []stoatpb.FieldsChannel{stoatpb.FieldsChannel_FIELDS_CHANNEL_DESCRIPTION}},
			&stoatpb.ChannelUpdateEvent{ChannelId: lounge, Channel: &stoatpb.PartialChannel{}, Clear: []stoatpb.FieldsChannel{stoatpb.FieldsChannel_FIELDS_CHANNEL_VOICE}},
		}, check: func(t *testing.T, s *Store) {
			c := s.Channel(general)
			expect(t, "name", c.GetName(), "chat")
			expect(t, "description", c.GetDescription(), "")
			expect(t, "nsfw", c.GetNsfw(), true)
			expect(t, "lounge voice", s.Channel(lounge).GetVoice(), (*stoatpb.VoiceInformation)(nil))
			expect(t, "lounge participants", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
		}},
		{name: "ChannelDelete", events: []stoatpb.Event{
			msg(lounge, 1, alice, "a"),
			&stoatpb.WebhookCreateEvent{Webhook: &stoatpb.Webhook{Id: hook, Name: "ci", ChannelId: lounge, CreatorId: alice}},
			&stoatpb.MessageAckEvent{ChannelId: lounge, UserId: me, MessageId: msgID(1)},
			&stoatpb.ChannelDeleteEvent{ChannelId: lounge},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "channel", s.Channel(lounge), (*stoatpb.Channel)(nil))
			expect(t, "messages", len(s.Messages(lounge)), 0)
			expect(t, "voice", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
			expect(t, "read state", s.ReadState(lounge), (*stoatpb.ChannelUnread)(nil))
			expect(t, "webhook", s.Webhook(hook), (*stoatpb.Webhook)(nil))
			expectList(t, "server channels", s.Server(srv).GetChannels(), []string{general})
			expectList(t, "category channels", s.Server(srv).GetCategories()[0].GetChannels(), []string{general})
		}},
		{name: "ChannelGroupJoin", events: []stoatpb.Event{
			&stoatpb.GroupRecipientAddEvent{ChannelId: group, UserId: carol},
			&stoatpb.GroupRecipientAddEvent{ChannelId: group, UserId: carol},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "recipients", s.Channel(group).GetRecipients(), []string{me, alice, bob, carol})
		}},
		{name: "ChannelGroupLeave/other", events: []stoatpb.Event{
			&stoatpb.GroupRecipientRemoveEvent{ChannelId: group, UserId: bob},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "recipients", s.Channel(group).GetRecipients(), []string{me, alice})
		}},
		{name: "ChannelGroupLeave/me", events: []stoatpb.Event{
			msg(group, 1, alice, "bye"),
			&stoatpb.GroupRecipientRemoveEvent{ChannelId: group, UserId: me},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "group", s.Channel(group), (*stoatpb.Channel)(nil))
			expect(t, "messages", len(s.Messages(group)), 0)
		}},
		{name: "ChannelAck", events: []stoatpb.Event{
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: alice, Mentions: []string{me}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(2), Channel: general, Author: alice, Mentions: []string{me}}},
			&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(3), Channel: general, Author: alice, Mentions: []string{me}}},
			&stoatpb.MessageAckEvent{ChannelId: general, UserId: me, MessageId: msgID(2)},
			&stoatpb.MessageAckEvent{ChannelId: dm, UserId: me, MessageId: msgID(7)},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "last_id", s.ReadState(general).GetLastId(), msgID(2))
			expectList(t, "mentions after the ack", s.ReadState(general).GetMentions(), []string{msgID(3)})
			expect(t, "new read state", s.ReadState(dm).GetLastId(), msgID(7))
			expect(t, "read states", len(s.ReadStates()), 2)
		}},
		{name: "MessageStartEditing, typing, VoiceCallUpdate: no effect", events: []stoatpb.Event{
			&stoatpb.MessageStartEditingEvent{ChannelId: general, MessageId: msgID(1), UserId: alice},
			&stoatpb.MessageStopEditingEvent{ChannelId: general, MessageId: msgID(1), UserId: alice},
			&stoatpb.ChannelStartTypingEvent{ChannelId: general, UserId: alice},
			&stoatpb.ChannelStopTypingEvent{ChannelId: general, UserId: alice},
			&stoatpb.VoiceCallUpdateEvent{ChannelId: dm, InitiatorId: alice, StartedAt: 5},
		}},
		{name: "connection events: no effect", events: []stoatpb.Event{
			&stoatpb.AuthenticatedEvent{}, &stoatpb.PongEvent{}, &stoatpb.ErrorEvent{Error: "x"}, &stoatpb.BeesEvent{},
			&stoatpb.SessionDeleteEvent{CurrentUserId: me, SessionId: "s"}, &stoatpb.SessionDeleteAllEvent{CurrentUserId: me},
			&stoatpb.SessionCreateEvent{}, &stoatpb.ReportCreateEvent{}, &stoatpb.UserSlowmodesEvent{},
			&stoatpb.UserMoveVoiceChannelEvent{Node: "n", FromId: lounge, ToId: general}, &stoatpb.UnknownEvent{Type: "Future"},
			&stoatpb.LogoutEvent{},
		}},
		// It reports what the Ready did; the drops were the Ready's.
		{name: "ReadyDiff: no effect", events: []stoatpb.Event{
			&stoatpb.ReadyDiffEvent{ServersRemoved: []string{srv}, ChannelsRemoved: []string{general}, EmojisRemoved: []string{emoji}},
		}},

		// --- webhooks ---
		{name: "WebhookCreate/Update/Delete", events: []stoatpb.Event{
			&stoatpb.WebhookCreateEvent{Webhook: &stoatpb.Webhook{Id: hook, Name: "ci", ChannelId: general, CreatorId: alice, Avatar: &stoatpb.File{Id: "f"}}},
			&stoatpb.WebhookCreateEvent{Webhook: &stoatpb.Webhook{Id: "01HOOK2", Name: "cd", ChannelId: general, CreatorId: alice}},
			&stoatpb.WebhookUpdateEvent{WebhookId: hook, Webhook: &stoatpb.PartialWebhook{Name: ptr("ci2")}, Remove: []stoatpb.FieldsWebhook{stoatpb.FieldsWebhook_FIELDS_WEBHOOK_AVATAR}},
			&stoatpb.WebhookDeleteEvent{WebhookId: "01HOOK2"},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "name", s.Webhook(hook).GetName(), "ci2")
			expect(t, "avatar", s.Webhook(hook).GetAvatar(), (*stoatpb.File)(nil))
			expect(t, "deleted", s.Webhook("01HOOK2"), (*stoatpb.Webhook)(nil))
		}},
		{name: "WebhookUpdate/moves channel", events: []stoatpb.Event{
			&stoatpb.WebhookCreateEvent{Webhook: &stoatpb.Webhook{Id: hook, Name: "ci", ChannelId: general, CreatorId: alice}},
			&stoatpb.WebhookUpdateEvent{WebhookId: hook, Webhook: &stoatpb.PartialWebhook{ChannelId: ptr(lounge)}},
			&stoatpb.ChannelDeleteEvent{ChannelId: general},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "channel", s.Webhook(hook).GetChannelId(), lounge)
		}},

		// --- voice ---
		{name: "VoiceChannelJoin/Leave", events: []stoatpb.Event{
			&stoatpb.VoiceChannelJoinEvent{ChannelId: lounge, State: &stoatpb.UserVoiceState{Id: bob, JoinedAt: 6000}},
			&stoatpb.VoiceChannelJoinEvent{ChannelId: lounge, State: &stoatpb.UserVoiceState{Id: bob, JoinedAt: 6000, Camera: true}},
			&stoatpb.VoiceChannelLeaveEvent{ChannelId: lounge, UserId: alice},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "participants", participants(s.VoiceStates(lounge)), []string{bob})
			expect(t, "camera", s.VoiceStates(lounge).GetParticipants()[0].GetCamera(), true)
		}},
		{name: "VoiceChannelLeave/last", events: []stoatpb.Event{
			&stoatpb.VoiceChannelLeaveEvent{ChannelId: lounge, UserId: alice},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "container", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
		}},
		{name: "VoiceChannelMove", events: []stoatpb.Event{
			&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice, JoinedAt: 7000}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "from", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
			expectList(t, "to", participants(s.VoiceStates(general)), []string{alice})
		}},
		{name: "VoiceChannelMove/from uncached", events: []stoatpb.Event{
			&stoatpb.VoiceChannelMoveEvent{UserId: bob, From: "01UNSEEN", To: lounge, State: &stoatpb.UserVoiceState{Id: bob}},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "to", participants(s.VoiceStates(lounge)), []string{alice, bob})
		}},
		{name: "UserVoiceStateUpdate", events: []stoatpb.Event{
			&stoatpb.VoiceChannelJoinEvent{ChannelId: lounge, State: &stoatpb.UserVoiceState{Id: bob}},
			&stoatpb.UserVoiceStateUpdateEvent{UserId: alice, ChannelId: lounge, State: &stoatpb.PartialUserVoiceState{IsPublishing: ptr(true), Screensharing: ptr(true)}},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "order kept", participants(s.VoiceStates(lounge)), []string{alice, bob})
			a := s.VoiceStates(lounge).GetParticipants()[0]
			expect(t, "publishing", a.GetIsPublishing(), true)
			expect(t, "screensharing", a.GetScreensharing(), true)
			expect(t, "receiving kept", a.GetIsReceiving(), true)
		}},

		// --- servers ---
		{name: "ServerCreate", events: []stoatpb.Event{&stoatpb.ServerCreateEvent{
			ServerId: srv2, Server: &stoatpb.Server{Id: srv2, Name: "two", Owner: bob, Channels: []string{"01S2C1", "01S2C2"}},
			Channels: []*stoatpb.Channel{
				{Id: "01S2C1", ChannelType: textType, Server: srv2, Name: "a"},
				{Id: "01S2C2", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL, Server: srv2, Name: "b"},
			},
			Emojis:      []*stoatpb.Emoji{{Id: "01EM2", Name: "e2", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv2}}},
			VoiceStates: []*stoatpb.ChannelVoiceState{{Id: "01S2C2", Participants: []*stoatpb.UserVoiceState{{Id: bob}}}},
		}}, check: func(t *testing.T, s *Store) {
			expect(t, "server", s.Server(srv2).GetName(), "two")
			expect(t, "channel", s.Channel("01S2C1").GetName(), "a")
			expect(t, "legacy voice normalised", s.Channel("01S2C2").GetChannelType(), textType)
			expect(t, "emoji", s.Emoji("01EM2").GetName(), "e2")
			expectList(t, "voice", participants(s.VoiceStates("01S2C2")), []string{bob})
			expectList(t, "members", memberIDs(s.Members(srv2)), []string{me})
			expect(t, "own joined_at", s.Member(srv2, me).GetJoinedAt(), testNow.UnixMilli())
		}},
		{name: "ServerUpdate", events: []stoatpb.Event{
			&stoatpb.ServerUpdateEvent{ServerId: srv, Server: &stoatpb.PartialServer{Name: ptr("lab2"), Description: ptr("d")}},
			&stoatpb.ServerUpdateEvent{ServerId: srv, Server: &stoatpb.PartialServer{}, Clear: []stoatpb.FieldsServer{stoatpb.FieldsServer_FIELDS_SERVER_DESCRIPTION, stoatpb.FieldsServer_FIELDS_SERVER_CATEGORIES}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "name", s.Server(srv).GetName(), "lab2")
			expect(t, "description", s.Server(srv).GetDescription(), "")
			expect(t, "categories", len(s.Server(srv).GetCategories()), 0)
		}},
		{name: "ServerDelete", events: []stoatpb.Event{
			msg(general, 1, alice, "a"),
			&stoatpb.ServerDeleteEvent{ServerId: srv},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "server", s.Server(srv), (*stoatpb.Server)(nil))
			expect(t, "members", len(s.Members(srv)), 0)
			expect(t, "emoji", s.Emoji(emoji), (*stoatpb.Emoji)(nil))
			expectList(t, "channels", s.ChannelIDs(), []string{dm, group, saved})
			expect(t, "messages", len(s.Messages(general)), 0)
			expect(t, "voice", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
			expect(t, "read state", s.ReadState(general), (*stoatpb.ChannelUnread)(nil))
		}},
		{name: "ServerMemberJoin", events: []stoatpb.Event{
			&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: bob, Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: bob}, JoinedAt: 4000}},
			&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: carol}, // a server before 2025-08
		}, check: func(t *testing.T, s *Store) {
			expect(t, "bob", s.Member(srv, bob).GetJoinedAt(), int64(4000))
			expect(t, "carol (synthesised)", s.Member(srv, carol).GetJoinedAt(), testNow.UnixMilli())
		}},
		{name: "ServerMemberUpdate", events: []stoatpb.Event{
			&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: alice},
				Member: &stoatpb.PartialMember{Pronouns: ptr("she"), CanPublish: ptr(false), Timeout: ptr(int64(99))}},
			&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: alice}, Member: &stoatpb.PartialMember{Nickname: ptr("ally")},
				Clear: []stoatpb.FieldsMember{stoatpb.FieldsMember_FIELDS_MEMBER_ROLES, stoatpb.FieldsMember_FIELDS_MEMBER_CAN_PUBLISH,
					stoatpb.FieldsMember_FIELDS_MEMBER_TIMEOUT, stoatpb.FieldsMember_FIELDS_MEMBER_NICKNAME, stoatpb.FieldsMember_FIELDS_MEMBER_JOINED_AT}},
			&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: carol}, Member: &stoatpb.PartialMember{Nickname: ptr("c")}},
		}, check: func(t *testing.T, s *Store) {
			m := s.Member(srv, alice)
			expect(t, "nickname (clear, then data)", m.GetNickname(), "ally")
			expect(t, "pronouns", m.GetPronouns(), "she")
			expect(t, "roles cleared", len(m.GetRoles()), 0)
			expect(t, "can_publish cleared (absent = true)", m.CanPublish, (*bool)(nil))
			expect(t, "timeout cleared", m.GetTimeout(), int64(0))
			expect(t, "joined_at kept (JoinedAt clear is a no-op)", m.GetJoinedAt(), int64(2000))
			expect(t, "uncached member", s.Member(srv, carol), (*stoatpb.Member)(nil))
		}},
		{name: "ServerMemberLeave/other", events: []stoatpb.Event{
			&stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: alice, Reason: stoatpb.MemberRemovalIntention_MEMBER_REMOVAL_INTENTION_KICK},
		}, check: func(t *testing.T, s *Store) {
			expectList(t, "members", memberIDs(s.Members(srv)), []string{me})
			expect(t, "server kept", s.Server(srv) != nil, true)
		}},
		{name: "ServerMemberLeave/me", events: []stoatpb.Event{
			msg(general, 1, alice, "a"),
			&stoatpb.ServerMemberRemoveEvent{ServerId: srv, UserId: me},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "server", s.Server(srv), (*stoatpb.Server)(nil))
			expectList(t, "channels", s.ChannelIDs(), []string{dm, group, saved})
			expect(t, "messages", len(s.Messages(general)), 0)
			expect(t, "emoji", s.Emoji(emoji), (*stoatpb.Emoji)(nil))
		}},
		{name: "ServerRoleUpdate", events: []stoatpb.Event{
			&stoatpb.RawServerRoleUpdateEvent{ServerId: srv, RoleId: mod, Role: &stoatpb.PartialRole{Colour: ptr("red"), Hoist: ptr(true)}},
			&stoatpb.RawServerRoleUpdateEvent{ServerId: srv, RoleId: mod, Role: &stoatpb.PartialRole{Name: ptr("moderator")}, Clear: []stoatpb.FieldsRole{stoatpb.FieldsRole_FIELDS_ROLE_COLOUR}},
			&stoatpb.RawServerRoleUpdateEvent{ServerId: srv, RoleId: "01ROLENEW", Role: &stoatpb.PartialRole{Id: ptr("01ROLENEW"), Name: ptr("new"), Rank: ptr(int64(1)), Permissions: &stoatpb.PermissionOverride{A: 2}}},
		}, check: func(t *testing.T, s *Store) {
			roles := s.Server(srv).GetRoles()
			expectList(t, "roles", ids(roles), []string{mod, "01ROLENEW"})
			expect(t, "name", roles[0].GetName(), "moderator")
			expect(t, "colour", roles[0].GetColour(), "")
			expect(t, "hoist", roles[0].GetHoist(), true)
			expect(t, "new rank", roles[1].GetRank(), int64(1))
		}},
		{name: "ServerRoleDelete", events: []stoatpb.Event{
			&stoatpb.ServerRoleDeleteEvent{ServerId: srv, RoleId: mod},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "roles", len(s.Server(srv).GetRoles()), 0)
			expect(t, "alice's roles", len(s.Member(srv, alice).GetRoles()), 0)
			expect(t, "general role_permissions", len(s.Channel(general).GetRolePermissions()), 0)
		}},
		{name: "ServerRoleRanksUpdate", events: []stoatpb.Event{
			&stoatpb.RawServerRoleUpdateEvent{ServerId: srv, RoleId: "01R2", Role: &stoatpb.PartialRole{Name: ptr("two"), Rank: ptr(int64(1))}},
			&stoatpb.ServerRoleRanksUpdateEvent{ServerId: srv, RoleIds: []string{"01R2", mod}},
		}, check: func(t *testing.T, s *Store) {
			for _, r := range s.Server(srv).GetRoles() {
				want := map[string]int64{"01R2": 0, mod: 1}[r.GetId()]
				expect(t, "rank of "+r.GetName(), r.GetRank(), want)
			}
		}},
		{name: "EmojiCreate/Update/Delete", events: []stoatpb.Event{
			&stoatpb.ServerEmojiCreateEvent{Emoji: &stoatpb.Emoji{Id: "01EM2", Name: "two", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv}}},
			&stoatpb.ServerEmojiUpdateEvent{EmojiId: "01EM2", Emoji: &stoatpb.PartialEmoji{Name: ptr("deux")}},
			&stoatpb.ServerEmojiDeleteEvent{EmojiId: emoji},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "renamed", s.Emoji("01EM2").GetName(), "deux")
			expect(t, "deleted", s.Emoji(emoji), (*stoatpb.Emoji)(nil))
			expectList(t, "emojis", s.EmojiIDs(), []string{"01EM2"})
		}},

		// --- users ---
		{name: "UserUpdate", events: []stoatpb.Event{
			&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{DisplayName: ptr("Alice"), Online: ptr(false)}},
			&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{}, Clear: []stoatpb.FieldsUser{stoatpb.FieldsUser_FIELDS_USER_STATUS_TEXT}},
			&stoatpb.UserUpdateEvent{UserId: carol, User: &stoatpb.PartialUser{Username: ptr("not cached")}},
			&stoatpb.UserUpdateEvent{UserId: me, User: &stoatpb.PartialUser{DisplayName: ptr("Ermine")}},
		}, check: func(t *testing.T, s *Store) {
			a := s.User(alice)
			expect(t, "display name", a.GetDisplayName(), "Alice")
			expect(t, "online", a.GetOnline(), false)
			expect(t, "status text", a.GetStatus().GetText(), "")
			expect(t, "presence kept", a.GetStatus().GetPresence(), stoatpb.Presence_PRESENCE_ONLINE)
			expect(t, "uncached", s.User(carol), (*stoatpb.User)(nil))
			expect(t, "me", s.Me().GetDisplayName(), "Ermine")
		}},
		{name: "UserUpdate/clear the whole status", events: []stoatpb.Event{
			&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{}, Clear: []stoatpb.FieldsUser{stoatpb.FieldsUser_FIELDS_USER_STATUS_TEXT, stoatpb.FieldsUser_FIELDS_USER_STATUS_PRESENCE}},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "status", s.User(alice).GetStatus(), (*stoatpb.UserStatus)(nil))
		}},
		{name: "UserRelationship", events: []stoatpb.Event{
			&stoatpb.UserRelationshipUpdateEvent{CurrentUserId: me, NewUser: &stoatpb.User{Id: bob, Username: "bob", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING}},
			&stoatpb.UserRelationshipUpdateEvent{CurrentUserId: me, NewUser: &stoatpb.User{Id: alice, Username: "alice", Relationship: relNone}},
			&stoatpb.UserRelationshipUpdateEvent{CurrentUserId: me, NewUser: &stoatpb.User{Id: carol, Username: "carol", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED}},
		}, check: func(t *testing.T, s *Store) {
			rel := map[string]stoatpb.RelationshipStatus{}
			for _, r := range s.Me().GetRelations() {
				rel[r.GetId()] = r.GetStatus()
			}
			expect(t, "relations", len(rel), 2)
			expect(t, "bob", rel[bob], stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING)
			expect(t, "carol", rel[carol], stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED)
			expect(t, "alice's relationship", s.User(alice).GetRelationship(), relNone)
			expect(t, "carol cached", s.User(carol).GetRelationship(), stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED)
		}},
		{name: "UserPlatformWipe", events: []stoatpb.Event{
			msg(general, 1, alice, "mine"), msg(general, 2, bob, "bob's"),
			&stoatpb.MessageReactEvent{MessageId: msgID(2), ChannelId: general, UserId: alice, Emoji: "👍"},
			msg(dm, 3, alice, "dm"),
			&stoatpb.UserPlatformWipeEvent{UserId: alice, RawFlags: 2},
		}, check: func(t *testing.T, s *Store) {
			expect(t, "user", s.User(alice), (*stoatpb.User)(nil))
			expect(t, "relations", len(s.Me().GetRelations()), 0)
			expect(t, "member", s.Member(srv, alice), (*stoatpb.Member)(nil))
			expectList(t, "general", messageIDs(s.Messages(general)), []string{msgID(2)})
			expect(t, "reaction", len(s.Message(general, msgID(2)).GetReactions()), 0)
			expect(t, "DM", s.Channel(dm), (*stoatpb.Channel)(nil))
			expect(t, "DM messages", len(s.Messages(dm)), 0)
			expectList(t, "group", s.Channel(group).GetRecipients(), []string{me, bob})
			expect(t, "voice", s.VoiceStates(lounge), (*stoatpb.ChannelVoiceState)(nil))
		}},
	}
	covered := map[stoatpb.EventType]bool{stoatpb.EventTypeReady: true}
	for _, c := range cases {
		for _, ev := range append(c.setup, c.events...) {
			covered[ev.EventType()] = true
		}
		t.Run(c.name, func(t *testing.T) {
			r := newWorld(t, c.policy)
			r.run(c.setup...)
			if c.check == nil {
				// No cache effect: the dump is unchanged.
				var before, after bytes.Buffer
				r.store.WriteCanonicalJSON(&before)
				r.run(c.events...)
				r.store.WriteCanonicalJSON(&after)
				if before.String() != after.String() {
					t.Fatalf("the cache changed:\nbefore %s\nafter  %s", before.String(), after.String())
				}
				return
			}
			r.run(c.events...)
			c.check(t, r.store)
		})
	}
	for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
		switch typ {
		case stoatpb.EventTypeBeforeConnect, stoatpb.EventTypeAfterConnect: // synthetic, never routed
			continue
		}
		if !covered[typ] {
			t.Errorf("no test case for %s", typ)
		}
	}
}

// TestRelationOfAUserLearntLater: a user the Ready did not list, but whom your relations list
// names, is cached with that relationship when a message brings them (Bonfire's guess in the
// snapshot is wrong), wherever your own user lives: each user-directory partition keeps your
// relations with its users.
func TestRelationOfAUserLearntLater(t *testing.T) {
	r := newRig(t, Policy{})
	rd := worldReady()
	for _, u := range rd.Users {
		if u.GetId() == me {
			u.Relations = append(u.Relations, &stoatpb.Relationship{Id: carol, Status: relFriend})
		}
	}
	r.run(rd)
	if r.store.User(carol) != nil {
		t.Fatal("the world's Ready lists carol: the test needs a user it does not list")
	}
	r.run(&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: carol, Content: "hi",
		User: &stoatpb.User{Id: carol, Username: "carol", Relationship: relNone}}})
	expect(t, "carol's relationship", r.store.User(carol).GetRelationship(), relFriend)
}
