package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// serverOwner owns a server: its roles, members, emojis and channel list.
type serverOwner struct {
	ownerBase
	server  *stoatpb.Server
	members *memberTable
	emojis  []string
}

func (o *serverOwner) patch(msg any) {
	switch m := msg.(type) {
	case *ownerpb.SeedServer:
		// A seed is the whole truth about the server: members and emojis it does not list are
		// gone (a re-Ready lists only your own memberships).
		if m.Me != "" {
			o.me = m.Me
		}
		o.setServer(m.Server)
		o.resetMembers()
		for _, mem := range m.Members {
			o.setMember(mem)
		}
		o.replaceEmojis(m.Emojis)
	case *ownerpb.Drop:
		o.Reset()
	case *stoatpb.Member: // upsert_member
		if o.server != nil { // not for a server you are not in (any more)
			o.setMember(m)
		}
	case *ownerpb.AddChannel:
		if o.server != nil && !slices.Contains(o.server.Channels, m.Channel) {
			n := o.server.ShallowClone()
			n.Channels = append(slices.Clip(n.Channels), m.Channel)
			o.setServer(n)
		}
	case *ownerpb.RemoveChannel:
		o.removeChannel(m.Channel)
	case *ownerpb.WipeUser:
		o.delMember(m.User)
	default:
		o.unknown(msg)
	}
}

// Reset drops everything the server owner caches.
func (o *serverOwner) Reset() {
	s := o.store()
	s.servers.del(o.key.ID)
	s.members.del(o.key.ID)
	for _, e := range o.emojis {
		s.emojis.del(e)
	}
	o.server, o.members, o.emojis = nil, nil, nil
}

func (o *serverOwner) setServer(s *stoatpb.Server) {
	o.server = s
	o.store().servers.set(o.key.ID, s)
}

func (o *serverOwner) resetMembers() {
	o.members = newMemberTable(o.store().members.seed, 1)
	o.store().members.set(o.key.ID, o.members)
}

// putMember stores m in the member table, sharding the table once it is big.
func (o *serverOwner) putMember(m *stoatpb.Member) {
	if o.members.setMember(m) {
		o.members = o.members.grown()
		o.store().members.set(o.key.ID, o.members)
	}
}

func (o *serverOwner) setMember(m *stoatpb.Member) {
	if m.GetId().GetUser() == "" || (o.policy().NoMembers && m.GetId().GetUser() != o.myID()) {
		return
	}
	if o.members == nil {
		o.resetMembers()
	}
	o.putMember(m)
}

func (o *serverOwner) member(user string) *stoatpb.Member {
	if o.members == nil {
		return nil
	}
	return o.members.get(user)
}

func (o *serverOwner) delMember(user string) {
	if o.members != nil {
		o.members.del(user)
	}
}

func (o *serverOwner) replaceEmojis(emojis []*stoatpb.Emoji) {
	s := o.store()
	for _, e := range o.emojis {
		s.emojis.del(e)
	}
	o.emojis = nil
	for _, e := range emojis {
		o.addEmoji(e)
	}
}

func (o *serverOwner) addEmoji(e *stoatpb.Emoji) {
	if o.policy().NoEmojis || e.GetId() == "" {
		return
	}
	if !slices.Contains(o.emojis, e.GetId()) {
		o.emojis = append(o.emojis, e.GetId())
	}
	o.store().emojis.set(e.GetId(), e)
}

// removeChannel drops a channel from the server's channel list and categories: the server sends
// no ServerUpdate after a ChannelDelete.
func (o *serverOwner) removeChannel(ch string) {
	if o.server == nil {
		return
	}
	inCategory := func(c *stoatpb.Category) bool { return slices.Contains(c.Channels, ch) }
	if !slices.Contains(o.server.Channels, ch) && !slices.ContainsFunc(o.server.Categories, inCategory) {
		return
	}
	n := o.server.ShallowClone()
	n.Channels = slices.DeleteFunc(slices.Clone(n.Channels), func(c string) bool { return c == ch })
	if slices.ContainsFunc(o.server.Categories, inCategory) {
		n.Categories = make([]*stoatpb.Category, len(o.server.Categories))
		for i, c := range o.server.Categories {
			if inCategory(c) {
				c = &stoatpb.Category{Id: c.Id, Title: c.Title, Channels: slices.DeleteFunc(slices.Clone(c.Channels), func(x string) bool { return x == ch })}
			}
			n.Categories[i] = c
		}
	}
	o.setServer(n)
}

func (o *serverOwner) role(id string) *stoatpb.Role {
	for _, r := range o.server.GetRoles() {
		if r.GetId() == id {
			return r
		}
	}
	return nil
}

// BeforeDispatch implements dispatch.Hooks.
func (o *serverOwner) BeforeDispatch(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.ServerCreateEvent:
		e.JoinedAt = o.deps.now().UnixMilli()
	case *stoatpb.ServerUpdateEvent:
		if e.Before = o.server; e.Before != nil {
			e.After = applyServer(e.Before, e.Server, e.Clear)
		}
	case *stoatpb.ServerDeleteEvent:
		e.Server = o.server
	case *stoatpb.ServerMemberJoinEvent:
		if e.Member == nil && e.UserId != "" {
			// Servers before 2025-08 send only the user id: a member who just joined.
			e.Member = &stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: e.UserId}, JoinedAt: o.deps.now().UnixMilli()}
		}
	case *stoatpb.ServerMemberUpdateEvent:
		if e.Before = o.member(e.GetMemberId().GetUser()); e.Before != nil {
			e.After = applyMember(e.Before, e.Member, e.Clear)
		}
	case *stoatpb.ServerMemberRemoveEvent:
		e.Member = o.member(e.UserId)
	case *stoatpb.RawServerRoleUpdateEvent:
		e.Server = o.server
		e.OldRole = o.role(e.RoleId)
		base := e.OldRole
		if base == nil {
			base = &stoatpb.Role{Id: e.RoleId, Permissions: &stoatpb.PermissionOverride{}}
		}
		e.NewRole = applyRole(base, e.Role, e.Clear)
		e.NewRole.Id = e.RoleId
	case *stoatpb.ServerRoleDeleteEvent:
		e.Server, e.Role = o.server, o.role(e.RoleId)
	case *stoatpb.ServerRoleRanksUpdateEvent:
		e.Server = o.server
	case *stoatpb.ServerEmojiUpdateEvent:
		if e.Before = o.store().emojis.get(e.EmojiId); e.Before != nil {
			e.After = e.Before.ShallowClone()
			if e.GetEmoji().Name != nil {
				e.After.Name = e.GetEmoji().GetName()
			}
		}
	case *stoatpb.ServerEmojiDeleteEvent:
		e.Emoji = o.store().emojis.get(e.EmojiId)
	}
}

// Process implements dispatch.Hooks.
func (o *serverOwner) Process(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.ServerCreateEvent:
		o.setServer(e.GetServer())
		o.resetMembers()
		if me := o.myID(); me != "" {
			// ServerCreate carries no Member for yourself, and you get no ServerMemberJoin
			// (BONFIRE.md §2.4): synthesise it, joined now.
			o.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: me}, JoinedAt: e.JoinedAt})
		}
		o.replaceEmojis(e.Emojis)
	case *stoatpb.ServerUpdateEvent:
		if e.After != nil {
			o.setServer(e.After)
		}
	case *stoatpb.ServerDeleteEvent:
		o.Reset() // its channels get gated drops from the router
	case *stoatpb.ServerMemberJoinEvent:
		if o.server != nil {
			o.setMember(e.GetMember())
		}
	case *stoatpb.ServerMemberUpdateEvent:
		if e.After != nil {
			o.setMember(e.After)
		}
	case *stoatpb.ServerMemberRemoveEvent:
		if e.UserId == o.myID() {
			o.Reset() // leaving a server removes it from your view, like ServerDelete
			return
		}
		o.delMember(e.UserId)
	case *stoatpb.RawServerRoleUpdateEvent:
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
	case *stoatpb.ServerRoleDeleteEvent:
		o.deleteRole(e.RoleId)
	case *stoatpb.ServerRoleRanksUpdateEvent:
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
	case *stoatpb.ServerEmojiCreateEvent:
		o.addEmoji(e.GetEmoji())
	case *stoatpb.ServerEmojiUpdateEvent:
		if e.After != nil && slices.Contains(o.emojis, e.EmojiId) {
			o.store().emojis.set(e.EmojiId, e.After)
		}
	case *stoatpb.ServerEmojiDeleteEvent:
		o.store().emojis.del(e.EmojiId)
		o.emojis = slices.DeleteFunc(o.emojis, func(x string) bool { return x == e.EmojiId })
	}
}

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

// --- user directory ----------------------------------------------------------------------------

// userDirOwner owns the users whose ids hash to its partition.
type userDirOwner struct {
	ownerBase
	// users is the partition's state: the owner reads its users here, never from the Store,
	// which it only publishes to (for readers outside the owners).
	users map[string]userEntry
}

// userEntry is a cached user and the LRU epoch of its last write.
type userEntry struct {
	user  *stoatpb.User
	epoch uint32
}

// user returns the partition's user id, or nil.
func (o *userDirOwner) user(id string) *stoatpb.User { return o.users[id].user }

func (o *userDirOwner) patch(msg any) {
	switch m := msg.(type) {
	case *ownerpb.SeedUsers:
		if m.Me != "" {
			o.me = m.Me
		}
		for _, u := range m.Users {
			o.setUser(u)
		}
	case *stoatpb.User: // upsert_user
		o.learnUser(m)
	case *ownerpb.SetRelation:
		o.setRelation(m.User, m.Status)
	case *ownerpb.Drop:
		o.Reset()
	default:
		o.unknown(msg)
	}
}

// Reset drops every user of the partition.
func (o *userDirOwner) Reset() {
	s := o.store()
	for id := range o.users {
		s.users.del(id)
		if s.Me().GetId() == id {
			s.self.Store(nil)
		}
	}
	o.users = nil
}

// isMe reports whether u is the connected user: by id once it is known (Bonfire may mark
// another user's snapshot with relationship User, BONFIRE.md §6 bug 1), else by relationship.
func (o *userDirOwner) isMe(u *stoatpb.User) bool {
	if me := o.myID(); me != "" {
		return u.GetId() == me
	}
	return u.GetRelationship() == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
}

func (o *userDirOwner) setUser(u *stoatpb.User) {
	if u.GetId() == "" {
		return
	}
	me := o.isMe(u)
	if o.policy().NoUsers && !me {
		return
	}
	s := o.store()
	if o.users == nil {
		o.users = map[string]userEntry{}
	}
	_, known := o.users[u.GetId()]
	o.users[u.GetId()] = userEntry{user: u, epoch: s.lru.clock.Load()}
	if me {
		s.self.Store(u)
	}
	s.users.set(u.GetId(), u)
	if !known {
		for _, id := range s.evictUsers(o.users, o.myID()) {
			delete(o.users, id)
			s.users.del(id)
		}
	}
}

// learnUser caches a user snapshot that came with a message (or a REST response). Such a
// snapshot's relationship is Bonfire's guess and can be wrong (BONFIRE.md §6, bug 1), your own
// user arrives there without its relations, and no snapshot carries the profile: those are kept
// from the cache (or, for a user not cached yet, the relationship is derived from your relations).
func (o *userDirOwner) learnUser(u *stoatpb.User) {
	rel := stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	cur := o.user(u.GetId())
	switch {
	case !o.isMe(u) && cur != nil:
		rel = cur.Relationship
	case !o.isMe(u):
		rel = o.relationTo(u.GetId())
	}
	keepRelations := len(u.GetRelations()) == 0 && len(cur.GetRelations()) > 0
	keepProfile := u.GetProfile() == nil && cur.GetProfile() != nil
	if u.GetRelationship() != rel || keepRelations || keepProfile {
		u = u.ShallowClone()
		u.Relationship = rel
		if keepRelations {
			u.Relations = cur.Relations
		}
		if keepProfile {
			u.Profile = cur.Profile
		}
	}
	o.setUser(u)
}

// relationTo derives your relationship with user from your own relations list. Your own user
// may live in another partition: this is still a read of another owner's state through the
// Store (the owner protocol's remaining in-process assumption here).
func (o *userDirOwner) relationTo(user string) stoatpb.RelationshipStatus {
	for _, r := range o.store().Me().GetRelations() {
		if r.GetId() == user {
			return r.GetStatus()
		}
	}
	return stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
}

// setRelation updates the own user's relations list (the own user lives in this partition).
func (o *userDirOwner) setRelation(user string, status stoatpb.RelationshipStatus) {
	me := o.user(o.myID())
	if me == nil || me.GetId() == user {
		return
	}
	i := slices.IndexFunc(me.Relations, func(r *stoatpb.Relationship) bool { return r.GetId() == user })
	if (i < 0 && status == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE) || (i >= 0 && me.Relations[i].GetStatus() == status) {
		return
	}
	n := me.ShallowClone()
	n.Relations = slices.DeleteFunc(slices.Clone(n.Relations), func(r *stoatpb.Relationship) bool { return r.GetId() == user })
	if status != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE {
		n.Relations = append(n.Relations, &stoatpb.Relationship{Id: user, Status: status})
	}
	if len(n.Relations) == 0 {
		n.Relations = nil
	}
	o.setUser(n)
}

// BeforeDispatch implements dispatch.Hooks.
func (o *userDirOwner) BeforeDispatch(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.UserUpdateEvent:
		if e.Before = o.user(e.UserId); e.Before != nil {
			e.After = applyUser(e.Before, e.User, e.Clear)
		}
	case *stoatpb.UserRelationshipUpdateEvent:
		e.OldUser = o.user(e.GetNewUser().GetId())
		e.Before = e.OldUser.GetRelationship()
	case *stoatpb.UserPlatformWipeEvent:
		if e.Before = o.user(e.UserId); e.Before != nil {
			e.After = e.Before.ShallowClone()
			e.After.Flags = e.RawFlags
			e.After.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
			e.After.Online = false
		}
	}
}

// Process implements dispatch.Hooks.
func (o *userDirOwner) Process(ev stoatpb.Event) {
	s := o.store()
	switch e := ev.(type) {
	case *stoatpb.UserUpdateEvent:
		if e.After != nil {
			o.setUser(e.After)
		}
	case *stoatpb.UserRelationshipUpdateEvent:
		// The event's user is authoritative for its relationship; your own relations list is
		// updated by a cascade patch (see Router).
		if e.GetNewUser() != nil {
			o.setUser(e.GetNewUser())
		}
	case *stoatpb.UserPlatformWipeEvent:
		// The rest of the wipe (relations, memberships, messages, DMs) are gated cascades.
		s.users.del(e.UserId)
		delete(o.users, e.UserId)
	}
}

// --- shard -------------------------------------------------------------------------------------

// shardOwner owns a connection's events: Ready, authentication, sessions, settings.
type shardOwner struct {
	ownerBase
}

// patch: the shard owner gets no patches.
func (o *shardOwner) patch(msg any) { o.unknown(msg) }

// BeforeDispatch implements dispatch.Hooks.
func (o *shardOwner) BeforeDispatch(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.ReadyEvent:
		if e.Me == nil {
			e.Me = o.store().Me()
		}
	case *stoatpb.UserSettingsUpdateEvent:
		e.Before = o.store().Settings()
		e.After = mergeSettings(e.Before, e.Partial)
	}
}

// Process implements dispatch.Hooks.
func (o *shardOwner) Process(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.ReadyEvent:
		if len(e.UserSettings) > 0 {
			settings := slices.Clone(e.UserSettings)
			o.store().settings.Store(&settings)
		}
	case *stoatpb.UserSettingsUpdateEvent:
		after := e.After
		o.store().settings.Store(&after)
	}
}

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
