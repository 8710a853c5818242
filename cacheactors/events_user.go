package cacheactors

import (
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The user events: a user partition's users (your relations live with your own user).

var userUpdate = on[*userDirOwner, *stoatpb.UserUpdateEvent]{
	key: "id",
	r: `Before, After (clear first: StatusText/StatusPresence clear that part of status, no status
left → none; then data)`,
	w:     "set After (if cached); yours also becomes Me",
	tests: []string{"TestEventEffects/UserUpdate", "TestEventEffects/UserUpdate/clear the whole status"},
	id:    func(e *stoatpb.UserUpdateEvent) string { return e.UserId },
	before: func(o *userDirOwner, e *stoatpb.UserUpdateEvent) {
		if e.Before = o.user(e.UserId); e.Before != nil {
			e.After = applyUser(e.Before, e.User, e.Clear)
		}
	},
	process: func(o *userDirOwner, e *stoatpb.UserUpdateEvent) {
		if e.After != nil {
			o.setUser(e.After)
		}
	},
}.spec()

var userRelationshipUpdate = on[*userDirOwner, *stoatpb.UserRelationshipUpdateEvent]{
	key: "user._id (not id, which is you)", r: "OldUser, Before (old relationship)",
	w:     "set the user (its relationship is the new status)",
	p:     "gated: your relations list: None removes the entry, any other status upserts it",
	tests: []string{"TestEventEffects/UserRelationship"},
	route: func(r *Router, e *stoatpb.UserRelationshipUpdateEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		key := actors.UserDirKey(e.GetNewUser().GetId())
		if r.me != "" && e.GetNewUser().GetId() != "" {
			// Your own relations list lives with your user, maybe in another partition.
			r.cascade(d, key, actors.UserDirKey(r.me), wrapPatch(&ownerpb.SetRelation{User: e.GetNewUser().GetId(), Status: e.GetNewUser().GetRelationship()}), emit)
		}
		return key
	},
	before: func(o *userDirOwner, e *stoatpb.UserRelationshipUpdateEvent) {
		e.OldUser = o.user(e.GetNewUser().GetId())
		e.Before = e.OldUser.GetRelationship()
	},
	process: func(o *userDirOwner, e *stoatpb.UserRelationshipUpdateEvent) {
		// The event's user is authoritative for its relationship; your own relations list is
		// updated by the cascade patch.
		if u := e.GetNewUser(); u != nil {
			o.setUser(u)
			o.setRel(u.GetId(), u.GetRelationship())
		}
	},
}.spec()

var userPlatformWipe = on[*userDirOwner, *stoatpb.UserPlatformWipeEvent]{
	key: "user_id", r: "Before, After (flags set, no relationship, offline)", w: "remove the user",
	p: `gated: your relations lose them; every server drops their membership; every channel drops
their messages and reactions (and those from your mentions), a group drops them from recipients,
voice drops them, and a DM with them is removed entirely`,
	py:    "stoat.py only renames the user; DMs, messages and memberships stay.",
	tests: []string{"TestEventEffects/UserPlatformWipe", "TestPlatformWipeRemovesTheUsersData"},
	route: func(r *Router, e *stoatpb.UserPlatformWipeEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		// BONFIRE.md §2.5: the user's messages, DMs, relationships and memberships go, everywhere.
		key := actors.UserDirKey(e.UserId)
		if r.me != "" {
			r.cascade(d, key, actors.UserDirKey(r.me), wrapPatch(&ownerpb.SetRelation{User: e.UserId}), emit)
		}
		wipe := wrapPatch(&ownerpb.WipeUser{User: e.UserId})
		for srv := range r.servers {
			r.cascade(d, key, serverKey(srv), wipe, emit)
		}
		for ch := range r.channels {
			r.cascade(d, key, channelKey(ch), wipe, emit)
		}
		return key
	},
	before: func(o *userDirOwner, e *stoatpb.UserPlatformWipeEvent) {
		if e.Before = o.user(e.UserId); e.Before != nil {
			e.After = e.Before.ShallowClone()
			e.After.Flags = e.RawFlags
			e.After.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
			e.After.Online = false
		}
	},
	process: func(o *userDirOwner, e *stoatpb.UserPlatformWipeEvent) {
		// The rest of the wipe (relations, memberships, messages, DMs) are gated cascades.
		o.store().users.del(e.UserId)
		delete(o.users, e.UserId)
		o.setRel(e.UserId, stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE)
	},
}.spec()
