package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The message events: a channel owner's message window.

var messageCreate = on[*channelOwner, *stoatpb.MessageCreateEvent]{
	key: "channel",
	w: `cache the message (without its embedded user and member), evicting the channel's oldest
beyond MessagesPerChannel; channel last_message_id (DM, Group, TextChannel); a DM becomes active;
a Group's owner follows a channel_ownership_changed system message (the server sends no
ChannelUpdateEvent for it); if it mentions you (your id, @everyone/@online flags, or one of your roles
in the server), its id joins your read state's mentions`,
	p: `plain: the author's user snapshot → its user partition (keeping the cached relationship,
which Bonfire may get wrong, and your own relations); the member snapshot → its server (if you
are in it)`,
	py: `stoat.py changes last_message_id in place (the handlers' channel object changes) and
replaces the author object by its id on the very message the handlers hold.`,
	tests: []string{"TestEventEffects/Message", "TestEventEffects/Message/DM becomes active", "TestEventEffects/Message/mentions", "TestEventEffects/Message/group ownership changes"},
	route: func(r *Router, e *stoatpb.MessageCreateEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		// The author and membership snapshots go to their owners from here, in wire order, so
		// that a later UserUpdate or UserPlatformWipe cannot be overtaken by a stale snapshot.
		// They are not gated: they are true whatever the handlers decide, and gating would make
		// every user partition wait for every channel's handlers.
		m := e.GetMessage()
		r.seen(m.GetChannel(), m.GetId()) // cached from now on, wherever it came from
		if u := m.GetUser(); u != nil {
			emit(actors.UserDirKey(u.GetId()), u) // an upsert_user: the User itself
		}
		if mem := m.GetMember(); mem != nil {
			emit(serverKey(mem.GetId().GetServer()), mem)
		}
		if len(m.GetRoleMentions()) > 0 {
			d.MyRoles = r.myRoles[r.channelServer[m.GetChannel()]]
		}
		return channelKey(m.GetChannel())
	},
	process: func(o *channelOwner, e *stoatpb.MessageCreateEvent) { o.messageCreated(e.GetMessage()) },
}.spec()

var messageUpdate = on[*channelOwner, *stoatpb.MessageUpdateEvent]{
	key: "channel_id", r: "Before (cached message), After (Before + clear, then data)", w: "set After (if cached)",
	tests: []string{"TestEventEffects/MessageUpdate", "TestEventEffects/MessageUpdate/unpin"},
	id:    func(e *stoatpb.MessageUpdateEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageUpdateEvent) {
		if e.Before = o.find(e.MessageId); e.Before != nil {
			e.After = applyMessage(e.Before, e.Message, e.Clear)
		}
	},
	process: func(o *channelOwner, e *stoatpb.MessageUpdateEvent) {
		if e.After != nil {
			o.putMessage(e.After)
		}
	},
}.spec()

var messageAppend = on[*channelOwner, *stoatpb.MessageAppendEvent]{
	key: "channel_id", r: "Message (cached)", w: "set the message with the embeds appended",
	py:     "stoat.py extends the cached message's embeds in place.",
	tests:  []string{"TestEventEffects/MessageAppend"},
	id:     func(e *stoatpb.MessageAppendEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageAppendEvent) { e.Message = o.find(e.MessageId) },
	process: func(o *channelOwner, e *stoatpb.MessageAppendEvent) {
		if e.Message != nil && len(e.GetData().GetEmbeds()) > 0 {
			n := e.Message.ShallowClone()
			n.Embeds = append(slices.Clip(n.Embeds), e.GetData().GetEmbeds()...)
			o.putMessage(n)
		}
	},
}.spec()

var messageDelete = on[*channelOwner, *stoatpb.MessageDeleteEvent]{
	key: "channel_id", r: "Message", w: "remove it; drop it from your unread mentions",
	tests:  []string{"TestEventEffects/MessageDelete"},
	id:     func(e *stoatpb.MessageDeleteEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageDeleteEvent) { e.Message = o.find(e.MessageId) },
	process: func(o *channelOwner, e *stoatpb.MessageDeleteEvent) {
		if e.Message != nil {
			o.setWindow(o.window.without(e.MessageId))
		}
		o.pruneMentions(func(id string) bool { return id == e.MessageId })
	},
}.spec()

var messageDeleteBulk = on[*channelOwner, *stoatpb.MessageDeleteBulkEvent]{
	key: "channel_id", r: "Messages (those cached)", w: "remove them; drop them from your unread mentions",
	tests: []string{"TestEventEffects/BulkMessageDelete"},
	id:    func(e *stoatpb.MessageDeleteBulkEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageDeleteBulkEvent) {
		for _, id := range e.MessageIds {
			if m := o.find(id); m != nil {
				e.Messages = append(e.Messages, m)
			}
		}
	},
	process: func(o *channelOwner, e *stoatpb.MessageDeleteBulkEvent) {
		ids := make(map[string]bool, len(e.MessageIds))
		for _, id := range e.MessageIds {
			ids[id] = true
		}
		if len(e.Messages) > 0 {
			o.setWindow(o.window.without(e.MessageIds...))
		}
		o.pruneMentions(func(id string) bool { return ids[id] })
	},
}.spec()

var messageReact = on[*channelOwner, *stoatpb.MessageReactEvent]{
	key: "channel_id", r: "Message", w: "add the user to reactions[emoji] once",
	py:     "stoat.py appends in place and again on a replayed event (duplicates).",
	tests:  []string{"TestEventEffects/MessageReact", "TestReplayedReactionIsNotDuplicated"},
	id:     func(e *stoatpb.MessageReactEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageReactEvent) { e.Message = o.find(e.MessageId) },
	process: func(o *channelOwner, e *stoatpb.MessageReactEvent) {
		if e.Message != nil {
			o.putMessage(react(e.Message, e.Emoji, e.UserId, true))
		}
	},
}.spec()

var messageUnreact = on[*channelOwner, *stoatpb.MessageUnreactEvent]{
	key: "channel_id", r: "Message",
	w: `remove the user; an emptied emoji is dropped unless it is one of the message's
interactions.reactions (as stoat.js)`,
	py:     "stoat.py mutates in place and leaves (or creates) an empty entry.",
	tests:  []string{"TestEventEffects/MessageUnreact"},
	id:     func(e *stoatpb.MessageUnreactEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageUnreactEvent) { e.Message = o.find(e.MessageId) },
	process: func(o *channelOwner, e *stoatpb.MessageUnreactEvent) {
		if e.Message != nil {
			o.putMessage(react(e.Message, e.Emoji, e.UserId, false))
		}
	},
}.spec()

var messageClearReaction = on[*channelOwner, *stoatpb.MessageClearReactionEvent]{
	key: "channel_id", r: "Message", w: "remove reactions[emoji] entirely",
	tests:  []string{"TestEventEffects/MessageRemoveReaction"},
	id:     func(e *stoatpb.MessageClearReactionEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.MessageClearReactionEvent) { e.Message = o.find(e.MessageId) },
	process: func(o *channelOwner, e *stoatpb.MessageClearReactionEvent) {
		if e.Message != nil && slices.ContainsFunc(e.Message.Reactions, func(r *stoatpb.Reaction) bool { return r.Emoji == e.Emoji }) {
			n := e.Message.ShallowClone()
			n.Reactions = slices.DeleteFunc(slices.Clone(n.Reactions), func(r *stoatpb.Reaction) bool { return r.Emoji == e.Emoji })
			o.putMessage(n)
		}
	},
}.spec()

// Editing indicators are ephemeral: not cached.
var (
	messageStartEditing = on[*channelOwner, *stoatpb.MessageStartEditingEvent]{
		key: "channel_id", tests: []string{"TestEventEffects/MessageStartEditing, typing, VoiceCallUpdate: no effect"},
		id: func(e *stoatpb.MessageStartEditingEvent) string { return e.ChannelId },
	}.spec()
	messageStopEditing = on[*channelOwner, *stoatpb.MessageStopEditingEvent]{
		key: "channel_id", tests: []string{"TestEventEffects/MessageStartEditing, typing, VoiceCallUpdate: no effect"},
		id: func(e *stoatpb.MessageStopEditingEvent) string { return e.ChannelId },
	}.spec()
)

// tracksLastMessage reports whether c's type has a last_message_id (Stoat's text channels,
// DMs and groups).
func tracksLastMessage(c *stoatpb.Channel) bool {
	switch c.GetChannelType() {
	case stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, stoatpb.ChannelType_CHANNEL_TYPE_GROUP, stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL:
		return true
	}
	return false
}

// messageCreated caches a new message and applies what the server does not announce: the
// channel's last_message_id, a DM becoming active, a group's new owner (the only signal is the
// system message), and your unread mentions.
func (o *channelOwner) messageCreated(m *stoatpb.Message) {
	c := o.channel
	if c != nil && m.GetId() > max(c.LastMessageId, o.lastID) && tracksLastMessage(c) {
		o.lastID = m.GetId() // published with the window putMessage publishes
	}
	o.putMessage(m)
	if c != nil {
		var n *stoatpb.Channel
		edit := func() *stoatpb.Channel {
			if n == nil {
				n = o.edit()
			}
			return n
		}
		if o.window == nil && o.lastID != "" {
			edit() // no window to carry last_message_id (messages are not cached)
		}
		if c.ChannelType == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE && !c.Active {
			edit().Active = true
		}
		if sys := m.GetSystem(); c.ChannelType == stoatpb.ChannelType_CHANNEL_TYPE_GROUP &&
			sys.GetType() == stoatpb.SystemMessageType_SYSTEM_MESSAGE_TYPE_CHANNEL_OWNERSHIP_CHANGED && sys.GetTo() != "" && sys.GetTo() != c.Owner {
			edit().Owner = sys.GetTo()
		}
		if n != nil {
			o.setChannel(n)
		}
	}
	if o.mentionsMe(m) {
		me := o.myID()
		rs := &stoatpb.ChannelUnread{Id: &stoatpb.ChannelCompositeKey{Channel: o.key.ID, User: me}}
		if o.readState != nil {
			rs = o.readState.ShallowClone()
		}
		if !slices.Contains(rs.Mentions, m.GetId()) {
			rs.Mentions = append(slices.Clip(rs.Mentions), m.GetId())
		}
		o.setReadState(rs)
	}
}

// Message flags as the backend writes them (BONFIRE.md §3.7: bit indexes, so 4 and 8).
const (
	flagMentionsEveryone = 1 << 2
	flagMentionsOnline   = 1 << 3
)

// mentionsMe reports whether m mentions the connected user: by id, by @everyone/@online, or by
// one of their roles in the channel's server.
func (o *channelOwner) mentionsMe(m *stoatpb.Message) bool {
	me := o.myID()
	if me == "" || m.GetAuthor() == me || o.policy().NoReadStates {
		return false
	}
	if slices.Contains(m.GetMentions(), me) || m.GetFlags()&(flagMentionsEveryone|flagMentionsOnline) != 0 {
		return true
	}
	if len(m.GetRoleMentions()) > 0 {
		for _, r := range o.current.GetMyRoles() {
			if slices.Contains(m.GetRoleMentions(), r) {
				return true
			}
		}
	}
	return false
}

// react returns m with user added to (or removed from) the reactions of emoji. Adding is
// idempotent: a replayed reaction is not counted twice (stoat.py appends it again). Removing the
// last user drops the emoji, unless it is one of the message's preset interactions.reactions
// (as stoat.js does; stoat.py leaves an empty entry).
func react(m *stoatpb.Message, emoji, user string, add bool) *stoatpb.Message {
	n := m.ShallowClone()
	n.Reactions = slices.Clone(n.Reactions)
	i := slices.IndexFunc(n.Reactions, func(r *stoatpb.Reaction) bool { return r.Emoji == emoji })
	switch {
	case add && i < 0:
		n.Reactions = append(n.Reactions, &stoatpb.Reaction{Emoji: emoji, Users: []string{user}})
	case add && !slices.Contains(n.Reactions[i].Users, user):
		n.Reactions[i] = &stoatpb.Reaction{Emoji: emoji, Users: append(slices.Clip(n.Reactions[i].Users), user)}
	case !add && i >= 0 && slices.Contains(n.Reactions[i].Users, user):
		users := slices.DeleteFunc(slices.Clone(n.Reactions[i].Users), func(u string) bool { return u == user })
		if len(users) == 0 && !slices.Contains(n.GetInteractions().GetReactions(), emoji) {
			n.Reactions = slices.Delete(n.Reactions, i, i+1)
		} else {
			n.Reactions[i] = &stoatpb.Reaction{Emoji: emoji, Users: users}
		}
	}
	if len(n.Reactions) == 0 {
		n.Reactions = nil
	}
	return n
}
