package cacheactors

import (
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The voice events: a channel owner's voice participants.

var voiceChannelJoin = on[*channelOwner, *stoatpb.VoiceChannelJoinEvent]{
	key: "id", w: "add (or replace) the participant",
	tests: []string{"TestEventEffects/VoiceChannelJoin/Leave"},
	id:    func(e *stoatpb.VoiceChannelJoinEvent) string { return e.ChannelId },
	process: func(o *channelOwner, e *stoatpb.VoiceChannelJoinEvent) {
		if e.GetState() != nil {
			o.withParticipant(e.GetState())
		}
	},
}.spec()

var voiceChannelLeave = on[*channelOwner, *stoatpb.VoiceChannelLeaveEvent]{
	key: "id", r: "Container, State", w: "remove the participant (no participants: no entry)",
	tests: []string{"TestEventEffects/VoiceChannelJoin/Leave", "TestEventEffects/VoiceChannelLeave/last"},
	id:    func(e *stoatpb.VoiceChannelLeaveEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.VoiceChannelLeaveEvent) {
		e.Container, e.State = o.voice, o.participant(e.UserId)
	},
	process: func(o *channelOwner, e *stoatpb.VoiceChannelLeaveEvent) { o.removeParticipant(e.UserId) },
}.spec()

var voiceChannelMove = on[*channelOwner, *stoatpb.VoiceChannelMoveEvent]{
	key:   "to (from gets a patch)",
	r:     "NewContainer, OldContainer (the Store's `from`, still unchanged: its patch is gated)",
	w:     "add (or replace) the participant in `to`",
	p:     "gated: remove the user from `from`",
	py:    "stoat.py does nothing when `from` is not cached, and mutates both in place.",
	tests: []string{"TestEventEffects/VoiceChannelMove", "TestEventEffects/VoiceChannelMove/from uncached", "TestCascadesWaitForTheirEvent"},
	route: func(r *Router, e *stoatpb.VoiceChannelMoveEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		key := channelKey(e.To)
		if e.From != "" && e.From != e.To {
			r.cascade(d, key, channelKey(e.From), wrapPatch(&ownerpb.RemoveVoice{User: e.UserId}), emit)
		}
		return key
	},
	before: func(o *channelOwner, e *stoatpb.VoiceChannelMoveEvent) {
		// The patch that removes the user from `from` waits for this event (gated), so the
		// Store still holds `from` as it was.
		e.NewContainer = o.voice
		if e.From != "" && e.From != e.To {
			e.OldContainer = o.store().voice.get(e.From)
		}
	},
	process: func(o *channelOwner, e *stoatpb.VoiceChannelMoveEvent) {
		if e.GetState() != nil {
			o.withParticipant(e.GetState())
		}
	},
}.spec()

var userVoiceStateUpdate = on[*channelOwner, *stoatpb.UserVoiceStateUpdateEvent]{
	key: "channel_id", r: "Container, Before, After", w: "set After in place of Before",
	py:    "stoat.py never writes After back (the update is lost).",
	tests: []string{"TestEventEffects/UserVoiceStateUpdate", "TestVoiceStateUpdateIsWrittenBack"},
	id:    func(e *stoatpb.UserVoiceStateUpdateEvent) string { return e.ChannelId },
	before: func(o *channelOwner, e *stoatpb.UserVoiceStateUpdateEvent) {
		e.Container = o.voice
		if e.Before = o.participant(e.UserId); e.Before != nil {
			e.After = applyVoiceState(e.Before, e.State)
		}
	},
	process: func(o *channelOwner, e *stoatpb.UserVoiceStateUpdateEvent) {
		if e.After != nil {
			o.withParticipant(e.After) // written back (stoat.py loses it)
		}
	},
}.spec()

var voiceCallUpdate = on[*channelOwner, *stoatpb.VoiceCallUpdateEvent]{
	key: "channel_id", tests: []string{"TestEventEffects/MessageStartEditing, typing, VoiceCallUpdate: no effect"},
	id: func(e *stoatpb.VoiceCallUpdateEvent) string { return e.ChannelId },
}.spec()
