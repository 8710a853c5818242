package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The channel events: a channel owner's channel, its read state.

var privateChannelCreate = on[*channelOwner, *stoatpb.PrivateChannelCreateEvent]{
	key:   "id",
	w:     "set the channel",
	py:    "stoat.py invents an empty read state.",
	tests: []string{"TestEventEffects/ChannelCreate/DM"},
	route: func(r *Router, e *stoatpb.PrivateChannelCreateEvent, _ *ownerpb.Dispatch, emit emitFunc) actors.Key {
		return r.channelCreated(&e.Channel, emit)
	},
	process: func(o *channelOwner, e *stoatpb.PrivateChannelCreateEvent) { o.setChannel(e.GetChannel()) },
}.spec()

var serverChannelCreate = on[*channelOwner, *stoatpb.ServerChannelCreateEvent]{
	key: "id",
	w:   "set the channel (legacy VoiceChannel normalised to TextChannel with voice {}, in the event too)",
	p:   "plain: the channel joins its server's channel list",
	py: `stoat.py does not add it to the server (it waits for a ServerUpdateEvent) and invents an empty
read state.`,
	tests: []string{"TestEventEffects/ChannelCreate/server channel", "TestEventEffects/ChannelCreate/legacy VoiceChannel", "TestNewServerChannelJoinsItsServer"},
	route: func(r *Router, e *stoatpb.ServerChannelCreateEvent, _ *ownerpb.Dispatch, emit emitFunc) actors.Key {
		return r.channelCreated(&e.Channel, emit)
	},
	process: func(o *channelOwner, e *stoatpb.ServerChannelCreateEvent) { o.setChannel(e.GetChannel()) },
}.spec()

var channelUpdate = on[*channelOwner, *stoatpb.ChannelUpdateEvent]{
	key: "id", r: "Before, After", w: "set After; clearing Voice also removes the voice participants",
	tests: []string{"TestEventEffects/ChannelUpdate"},
	id:    func(e *stoatpb.ChannelUpdateEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.ChannelUpdateEvent) {
		if e.Before = o.channelNow(); e.Before != nil {
			e.After = applyChannel(e.Before, e.Channel, e.Clear)
		}
	},
	process: func(o *channelOwner, e *stoatpb.ChannelUpdateEvent) {
		if e.After != nil {
			o.setChannel(e.After)
			if e.After.Voice == nil && slices.Contains(e.Clear, stoatpb.FieldsChannel_FIELDS_CHANNEL_VOICE) {
				o.setVoice(nil) // no longer voice-capable: nobody is connected
			}
		}
	},
}.spec()

var channelDelete = on[*channelOwner, *stoatpb.ChannelDeleteEvent]{
	key: "id", r: "Channel",
	w: `remove the channel, its messages, voice participants, read state and webhooks (the event
may also mean you lost access)`,
	p:     "gated: its server drops it from channels and every category",
	py:    "stoat.py leaves the read state, the voice state and the DM index behind.",
	tests: []string{"TestEventEffects/ChannelDelete", "TestChannelDeleteDropsReadAndVoiceState"},
	route: func(r *Router, e *stoatpb.ChannelDeleteEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		key := channelKey(e.ChannelId)
		if srv, ok := r.channelServer[e.ChannelId]; ok {
			// The server sends no ServerUpdate after a ChannelDelete.
			r.cascade(d, key, serverKey(srv), wrapPatch(&ownerpb.RemoveChannel{Channel: e.ChannelId}), emit)
		}
		r.forgetChannel(e.ChannelId)
		return key
	},
	before:  func(o *channelOwner, e *stoatpb.ChannelDeleteEvent) { e.Channel = o.channelNow() },
	process: func(o *channelOwner, _ *stoatpb.ChannelDeleteEvent) { o.Reset() },
}.spec()

var groupRecipientAdd = on[*channelOwner, *stoatpb.GroupRecipientAddEvent]{
	key: "id", r: "Group", w: "add the user to recipients (once)",
	tests:  []string{"TestEventEffects/ChannelGroupJoin"},
	id:     func(e *stoatpb.GroupRecipientAddEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.GroupRecipientAddEvent) { e.Group = o.channelNow() },
	process: func(o *channelOwner, e *stoatpb.GroupRecipientAddEvent) {
		if o.channel != nil && !slices.Contains(o.channel.Recipients, e.UserId) {
			n := o.edit()
			n.Recipients = append(slices.Clip(n.Recipients), e.UserId)
			o.setChannel(n)
		}
	},
}.spec()

var groupRecipientRemove = on[*channelOwner, *stoatpb.GroupRecipientRemoveEvent]{
	key: "id", r: "Group", w: "you: remove the whole group (as ChannelDeleteEvent); another user: remove them from recipients",
	py:    "stoat.py keeps a group you left, and mutates recipients in place.",
	tests: []string{"TestEventEffects/ChannelGroupLeave/other", "TestEventEffects/ChannelGroupLeave/me"},
	route: func(r *Router, e *stoatpb.GroupRecipientRemoveEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		if e.UserId == r.me && r.me != "" {
			r.forgetChannel(e.ChannelId) // the channel owner drops the group
		}
		return channelKey(e.ChannelId)
	},
	before: func(o *channelOwner, e *stoatpb.GroupRecipientRemoveEvent) { e.Group = o.channelNow() },
	process: func(o *channelOwner, e *stoatpb.GroupRecipientRemoveEvent) {
		if e.UserId == o.myID() {
			o.Reset() // you left the group (stoat.py keeps it)
		} else if o.channel != nil && slices.Contains(o.channel.Recipients, e.UserId) {
			n := o.edit()
			n.Recipients = slices.DeleteFunc(slices.Clone(n.Recipients), func(u string) bool { return u == e.UserId })
			o.setChannel(n)
		}
	},
}.spec()

// Typing is ephemeral: not cached.
var (
	channelStartTyping = on[*channelOwner, *stoatpb.ChannelStartTypingEvent]{
		key: "id", tests: []string{"TestEventEffects/MessageStartEditing, typing, VoiceCallUpdate: no effect"},
		id: func(e *stoatpb.ChannelStartTypingEvent) string { return e.ChannelId },
	}.spec()
	channelStopTyping = on[*channelOwner, *stoatpb.ChannelStopTypingEvent]{
		key: "id", tests: []string{"TestEventEffects/MessageStartEditing, typing, VoiceCallUpdate: no effect"},
		id: func(e *stoatpb.ChannelStopTypingEvent) string { return e.ChannelId },
	}.spec()
)

var messageAck = on[*channelOwner, *stoatpb.MessageAckEvent]{
	key: "id", w: "read state: last_id = message_id, mentions up to it dropped",
	py:    "stoat.py prunes the mentions against the previous last_id, in place.",
	tests: []string{"TestEventEffects/ChannelAck", "TestAckClearsMentionsUpToIt"},
	id:    func(e *stoatpb.MessageAckEvent) string { return e.ChannelId },
	process: func(o *channelOwner, e *stoatpb.MessageAckEvent) {
		// The ack covers every mention up to it (stoat.py prunes against the previous ack).
		rs := &stoatpb.ChannelUnread{Id: &stoatpb.ChannelCompositeKey{Channel: o.key.ID, User: e.UserId}, LastId: e.MessageId}
		for _, m := range o.readState.GetMentions() {
			if m > e.MessageId {
				rs.Mentions = append(rs.Mentions, m)
			}
		}
		o.setReadState(rs)
	},
}.spec()
