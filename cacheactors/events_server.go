package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The server events: a server owner's server, members, roles and emojis.

var serverCreate = on[*serverOwner, *stoatpb.ServerCreateEvent]{
	key: "id", r: "JoinedAt (now, for your synthesised member)",
	w: `set the server; members replaced by your own, synthesised (no ServerMemberJoinEvent comes
for you); emojis replaced`,
	p: `seeds: each channel (channel, voice participants; legacy VoiceChannel normalised); drop to
channels a previous ServerCreateEvent of the same server listed and this one lacks`,
	tests: []string{"TestEventEffects/ServerCreate", "TestRejoinAfterLeaveKeepsTheNewChannels"},
	route: func(r *Router, e *stoatpb.ServerCreateEvent, _ *ownerpb.Dispatch, emit emitFunc) actors.Key {
		return r.serverCreated(e, emit)
	},
	before: func(o *serverOwner, e *stoatpb.ServerCreateEvent) { e.JoinedAt = o.deps.now().UnixMilli() },
	process: func(o *serverOwner, e *stoatpb.ServerCreateEvent) {
		o.setServer(e.GetServer())
		o.resetMembers()
		if me := o.myID(); me != "" {
			// ServerCreate carries no Member for yourself, and you get no ServerMemberJoin
			// (BONFIRE.md §2.4): synthesise it, joined now.
			o.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: me}, JoinedAt: e.JoinedAt})
		}
		o.replaceEmojis(e.Emojis)
	},
}.spec()

var serverUpdate = on[*serverOwner, *stoatpb.ServerUpdateEvent]{
	key: "id", r: "Before, After (clear, then data)", w: "set After",
	tests: []string{"TestEventEffects/ServerUpdate"},
	id:    func(e *stoatpb.ServerUpdateEvent) string { return e.ServerId },
	before: func(o *serverOwner, e *stoatpb.ServerUpdateEvent) {
		if e.Before = o.server; e.Before != nil {
			e.After = applyServer(e.Before, e.Server, e.Clear)
		}
	},
	process: func(o *serverOwner, e *stoatpb.ServerUpdateEvent) {
		if e.After != nil {
			o.setServer(e.After)
		}
	},
}.spec()

var serverDelete = on[*serverOwner, *stoatpb.ServerDeleteEvent]{
	key: "id", r: "Server", w: "remove the server, its members, roles and emojis",
	p:     "gated: drop to each of its channels (messages, voice, read states, webhooks)",
	py:    "stoat.py keeps the channels and their messages, and the emojis in its global map.",
	tests: []string{"TestEventEffects/ServerDelete", "TestServerDeleteDropsChannelsAndMessages", "TestCascadesWaitForTheirEvent"},
	route: func(r *Router, e *stoatpb.ServerDeleteEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		key := serverKey(e.ServerId)
		r.serverGone(d, key, e.ServerId, emit)
		return key
	},
	before:  func(o *serverOwner, e *stoatpb.ServerDeleteEvent) { e.Server = o.server },
	process: func(o *serverOwner, _ *stoatpb.ServerDeleteEvent) { o.Reset() },
}.spec()

var serverMemberJoin = on[*serverOwner, *stoatpb.ServerMemberJoinEvent]{
	key: "id", r: "Member (synthesised from user, joined now, if the server sent none)", w: "set it (if the server is cached)",
	tests: []string{"TestEventEffects/ServerMemberJoin"},
	route: func(r *Router, e *stoatpb.ServerMemberJoinEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		if e.UserId == r.me && r.me != "" {
			r.myRoles[e.ServerId] = e.GetMember().GetRoles()
		}
		return serverKey(e.ServerId)
	},
	before: func(o *serverOwner, e *stoatpb.ServerMemberJoinEvent) {
		if e.Member == nil && e.UserId != "" {
			// Servers before 2025-08 send only the user id: a member who just joined.
			e.Member = &stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: e.UserId}, JoinedAt: o.deps.now().UnixMilli()}
		}
	},
	process: func(o *serverOwner, e *stoatpb.ServerMemberJoinEvent) {
		if o.server != nil {
			o.setMember(e.GetMember())
		}
	},
}.spec()

var serverMemberUpdate = on[*serverOwner, *stoatpb.ServerMemberUpdateEvent]{
	key: "id.server",
	r: `Before, After (clear first: Roles → none, CanPublish/CanReceive → absent (true), JoinedAt
and VoiceChannel are no-ops; then data)`,
	w:     "set After (if cached)",
	tests: []string{"TestEventEffects/ServerMemberUpdate", "TestEventEffects/Message/mentions"},
	route: func(r *Router, e *stoatpb.ServerMemberUpdateEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		id := e.GetMemberId()
		if id.GetUser() == r.me && r.me != "" {
			if slices.Contains(e.Clear, stoatpb.FieldsMember_FIELDS_MEMBER_ROLES) {
				delete(r.myRoles, id.GetServer())
			}
			if roles := e.GetMember().GetRoles(); roles != nil {
				r.myRoles[id.GetServer()] = roles.GetItems()
			}
		}
		return serverKey(id.GetServer())
	},
	before: func(o *serverOwner, e *stoatpb.ServerMemberUpdateEvent) {
		if e.Before = o.member(e.GetMemberId().GetUser()); e.Before != nil {
			e.After = applyMember(e.Before, e.Member, e.Clear)
		}
	},
	process: func(o *serverOwner, e *stoatpb.ServerMemberUpdateEvent) {
		if e.After != nil {
			o.setMember(e.After)
		}
	},
}.spec()

var serverMemberRemove = on[*serverOwner, *stoatpb.ServerMemberRemoveEvent]{
	key: "id", r: "Member", w: "another user: remove the member; you: as ServerDeleteEvent, for your view",
	p:     "you: as ServerDeleteEvent",
	py:    "stoat.py keeps the channels and their messages when you leave.",
	tests: []string{"TestEventEffects/ServerMemberLeave/other", "TestEventEffects/ServerMemberLeave/me", "TestLeavingAServerDropsChannelsAndMessages"},
	route: func(r *Router, e *stoatpb.ServerMemberRemoveEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		key := serverKey(e.ServerId)
		if e.UserId == r.me && r.me != "" {
			// Leaving (or being removed from) a server removes it from your view.
			r.serverGone(d, key, e.ServerId, emit)
		}
		return key
	},
	before: func(o *serverOwner, e *stoatpb.ServerMemberRemoveEvent) { e.Member = o.member(e.UserId) },
	process: func(o *serverOwner, e *stoatpb.ServerMemberRemoveEvent) {
		if e.UserId == o.myID() {
			o.Reset() // leaving a server removes it from your view, like ServerDelete
			return
		}
		o.delMember(e.UserId)
	},
}.spec()

var rawServerRoleUpdate = on[*serverOwner, *stoatpb.RawServerRoleUpdateEvent]{
	key: "id", r: "Server, OldRole, NewRole (OldRole, or a new role, + clear, then data)",
	w:     "set the server with NewRole in place (or added)",
	py:    "stoat.py upserts the role in place.",
	tests: []string{"TestEventEffects/ServerRoleUpdate"},
	id:    func(e *stoatpb.RawServerRoleUpdateEvent) string { return e.ServerId },
	before: func(o *serverOwner, e *stoatpb.RawServerRoleUpdateEvent) {
		e.Server = o.server
		e.OldRole = o.role(e.RoleId)
		base := e.OldRole
		if base == nil {
			base = &stoatpb.Role{Id: e.RoleId, Permissions: &stoatpb.PermissionOverride{}}
		}
		e.NewRole = applyRole(base, e.Role, e.Clear)
		e.NewRole.Id = e.RoleId
	},
	process: func(o *serverOwner, e *stoatpb.RawServerRoleUpdateEvent) {
		if o.server != nil {
			n := o.server.ShallowClone()
			n.Roles = slices.Clone(n.Roles)
			if i := slices.IndexFunc(n.Roles, func(r *stoatpb.Role) bool { return r.GetId() == e.RoleId }); i >= 0 {
				n.Roles[i] = e.NewRole
			} else {
				n.Roles = append(n.Roles, e.NewRole)
			}
			o.setServer(n)
		}
	},
}.spec()

var serverRoleDelete = on[*serverOwner, *stoatpb.ServerRoleDeleteEvent]{
	key: "id", r: "Server, Role", w: "remove the role from the server and from every cached member",
	p:     "gated: strip it from each of the server's channels' role_permissions",
	py:    "stoat.py mutates the server and the channels in place.",
	tests: []string{"TestEventEffects/ServerRoleDelete"},
	route: func(r *Router, e *stoatpb.ServerRoleDeleteEvent, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
		// The server sends no events for the channels' role_permissions.
		key := serverKey(e.ServerId)
		if mine := r.myRoles[e.ServerId]; slices.Contains(mine, e.RoleId) {
			r.myRoles[e.ServerId] = slices.DeleteFunc(slices.Clone(mine), func(id string) bool { return id == e.RoleId })
		}
		if chs := r.serverChannels[e.ServerId]; len(chs) > 0 {
			strip := wrapPatch(&ownerpb.StripRole{Role: e.RoleId})
			for ch := range chs {
				r.cascade(d, key, channelKey(ch), strip, emit)
			}
		}
		return key
	},
	before:  func(o *serverOwner, e *stoatpb.ServerRoleDeleteEvent) { e.Server, e.Role = o.server, o.role(e.RoleId) },
	process: func(o *serverOwner, e *stoatpb.ServerRoleDeleteEvent) { o.deleteRole(e.RoleId) },
}.spec()

var serverRoleRanksUpdate = on[*serverOwner, *stoatpb.ServerRoleRanksUpdateEvent]{
	key: "id", r: "Server", w: "each listed role's rank = its index",
	py:     "stoat.py sets the ranks in place.",
	tests:  []string{"TestEventEffects/ServerRoleRanksUpdate"},
	id:     func(e *stoatpb.ServerRoleRanksUpdateEvent) string { return e.ServerId },
	before: func(o *serverOwner, e *stoatpb.ServerRoleRanksUpdateEvent) { e.Server = o.server },
	process: func(o *serverOwner, e *stoatpb.ServerRoleRanksUpdateEvent) {
		if o.server != nil {
			n := o.server.ShallowClone()
			n.Roles = make([]*stoatpb.Role, len(o.server.Roles))
			for i, r := range o.server.Roles {
				if rank := slices.Index(e.RoleIds, r.GetId()); rank >= 0 && int64(rank) != r.Rank {
					r = r.ShallowClone()
					r.Rank = int64(rank)
				}
				n.Roles[i] = r
			}
			o.setServer(n)
		}
	},
}.spec()

var serverEmojiCreate = on[*serverOwner, *stoatpb.ServerEmojiCreateEvent]{
	key: "parent.id (remembered per emoji)", w: "cache the emoji",
	tests: []string{"TestEventEffects/EmojiCreate/Update/Delete"},
	route: func(r *Router, e *stoatpb.ServerEmojiCreateEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		p := e.GetEmoji().GetParent()
		if p.GetType() != stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER {
			return r.shard
		}
		r.emojiServer[e.GetEmoji().GetId()] = p.GetId()
		return serverKey(p.GetId())
	},
	process: func(o *serverOwner, e *stoatpb.ServerEmojiCreateEvent) { o.addEmoji(e.GetEmoji()) },
}.spec()

var serverEmojiUpdate = on[*serverOwner, *stoatpb.ServerEmojiUpdateEvent]{
	key: "the emoji's server (index)", r: "Before, After (renamed)", w: "set After",
	tests: []string{"TestEventEffects/EmojiCreate/Update/Delete"},
	route: func(r *Router, e *stoatpb.ServerEmojiUpdateEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		s, ok := r.emojiServer[e.EmojiId]
		if !ok {
			return r.shard
		}
		e.ServerId = s
		return serverKey(s)
	},
	before: func(o *serverOwner, e *stoatpb.ServerEmojiUpdateEvent) {
		if e.Before = o.store().emojis.get(e.EmojiId); e.Before != nil {
			e.After = e.Before.ShallowClone()
			if e.GetEmoji().Name != nil {
				e.After.Name = e.GetEmoji().GetName()
			}
		}
	},
	process: func(o *serverOwner, e *stoatpb.ServerEmojiUpdateEvent) {
		if e.After != nil && slices.Contains(o.emojis, e.EmojiId) {
			o.store().emojis.set(e.EmojiId, e.After, o.writing.Kind)
			o.store().wrote(&o.writing)
		}
	},
}.spec()

var serverEmojiDelete = on[*serverOwner, *stoatpb.ServerEmojiDeleteEvent]{
	key: "the emoji's server (index)", r: "Emoji", w: "remove it",
	tests: []string{"TestEventEffects/EmojiCreate/Update/Delete"},
	route: func(r *Router, e *stoatpb.ServerEmojiDeleteEvent, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
		s, ok := r.emojiServer[e.EmojiId]
		if !ok {
			return r.shard
		}
		delete(r.emojiServer, e.EmojiId)
		e.ServerId = s
		return serverKey(s)
	},
	before: func(o *serverOwner, e *stoatpb.ServerEmojiDeleteEvent) { e.Emoji = o.store().emojis.get(e.EmojiId) },
	process: func(o *serverOwner, e *stoatpb.ServerEmojiDeleteEvent) {
		o.store().emojis.del(e.EmojiId)
		o.emojis = slices.DeleteFunc(o.emojis, func(x string) bool { return x == e.EmojiId })
	},
}.spec()

// deleteRole removes a role from the server and from every member that holds it (the server
// sends no events for the members; the channels get gated cascades from the router).
func (o *serverOwner) deleteRole(role string) {
	if o.server == nil {
		return
	}
	n := o.server.ShallowClone()
	n.Roles = slices.DeleteFunc(slices.Clone(n.Roles), func(r *stoatpb.Role) bool { return r.GetId() == role })
	o.setServer(n)
	if o.members != nil {
		for _, m := range o.members.values() {
			if slices.Contains(m.Roles, role) {
				c := m.ShallowClone()
				c.Roles = slices.DeleteFunc(slices.Clone(c.Roles), func(r string) bool { return r == role })
				if len(c.Roles) == 0 {
					c.Roles = nil
				}
				o.putMember(c)
			}
		}
	}
}
