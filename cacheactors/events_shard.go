package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The connection's events: the shard owner's, with your settings.

var ready = on[*shardOwner, *stoatpb.ReadyEvent]{
	r: "Me (the connected user, after every seed is applied)",
	w: "user settings, if the Ready carries them",
	p: `seeds: each server (server; members replaced by the Ready's, i.e. your own memberships and
voice participants; emojis replaced); each channel (channel; voice participants replaced, none if
absent; read state replaced if the Ready carries read states); users (set; the one with
relationship User is Me). drop to every server and channel known before (from the previous Ready,
creates, or messages) that this Ready lacks (with their members, emojis, messages, voice, read
states, webhooks). Legacy VoiceChannels become TextChannels with voice {}. Other users are kept
(they are not a set the Ready lists). The Ready's handlers run once every seed and every drop is
applied. A re-Ready is followed by a ReadyDiffEvent.`,
	py:    "a re-Ready never removes anything in stoat.py; its handlers see an empty cache.",
	tests: []string{"TestEventEffects/Ready", "TestEventEffects/Ready/settings", "TestReReadyRemovesStaleEntries", "TestReadyBarrierAcks"},
	route: func(r *Router, e *stoatpb.ReadyEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		d.Barrier = r.seedReady(e, emit)
		return r.shard
	},
	before: func(o *shardOwner, e *stoatpb.ReadyEvent) {
		if e.Me == nil {
			e.Me = o.store().Me()
		}
	},
	process: func(o *shardOwner, e *stoatpb.ReadyEvent) {
		if len(e.UserSettings) > 0 {
			settings := slices.Clone(e.UserSettings)
			o.store().settings.Store(&settings)
		}
	},
}.spec()

// readyDiff is the spec of the event that follows a re-Ready (readydiff.go): the reader routes
// it to the shard owner right after the Ready; it changes no cache (a handler that cancels it
// cancels nothing: the Ready is applied).
var readyDiff = on[*shardOwner, *stoatpb.ReadyDiffEvent]{tests: []string{"TestReadyDiff", "TestEventEffects/ReadyDiff: no effect"}}.spec()

var userSettingsUpdate = on[*shardOwner, *stoatpb.UserSettingsUpdateEvent]{
	r: "Before (settings), After (merged by key)", w: "set the settings",
	tests: []string{"TestEventEffects/UserSettingsUpdate"},
	before: func(o *shardOwner, e *stoatpb.UserSettingsUpdateEvent) {
		e.Before = o.store().Settings()
		e.After = mergeSettings(e.Before, e.Partial)
	},
	process: func(o *shardOwner, e *stoatpb.UserSettingsUpdateEvent) {
		after := e.After
		o.store().settings.Store(&after)
	},
}.spec()

// connection is the spec of the connection's events that change no cache: authentication,
// sessions, errors, reports, slowmodes, unknown types, and UserMoveVoiceChannel (an instruction
// to your voice client: the participant lists change through VoiceChannelMoveEvent).
var connection = on[*shardOwner, stoatpb.Event]{tests: []string{"TestEventEffects/connection events: no effect"}}.spec()

func mergeSettings(old, update []*stoatpb.UserSetting) []*stoatpb.UserSetting {
	out := slices.Clone(old)
	for _, u := range update {
		if i := slices.IndexFunc(out, func(s *stoatpb.UserSetting) bool { return s.Key == u.Key }); i >= 0 {
			out[i] = u
		} else {
			out = append(out, u)
		}
	}
	return out
}
