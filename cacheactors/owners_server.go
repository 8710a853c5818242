package cacheactors

import (
	"slices"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// serverOwner owns a server: its roles, members, emojis and channel list.
type serverOwner struct {
	ownerBase
	server  *stoatpb.Server
	members *memberTable
	emojis  []string
}

func (o *serverOwner) Receive(ctx actors.Context, msg any) {
	o.ctx = ctx
	switch m := msg.(type) {
	case *Dispatch:
		o.dispatch(m, o)
	case *seedServer:
		o.setServer(m.server)
		o.resetMembers()
		for _, mem := range m.members {
			o.setMember(mem)
		}
		o.replaceEmojis(m.emojis)
		done(m.barrier)
	case drop:
		o.Reset()
	case upsertMember:
		o.setMember(m.member)
	case addChannel:
		if o.server != nil && !slices.Contains(o.server.Channels, m.channel) {
			n := o.server.ShallowClone()
			n.Channels = append(slices.Clone(n.Channels), m.channel)
			o.setServer(n)
		}
	case removeChannel:
		o.removeChannel(m.channel)
	case wipeUser:
		o.delMember(m.user)
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
	o.members = newMemberTable()
	o.store().members.set(o.key.ID, o.members)
}

func (o *serverOwner) setMember(m *stoatpb.Member) {
	if o.deps.Policy.NoMembers {
		return
	}
	if o.members == nil {
		o.resetMembers()
	}
	o.members.set(m.GetId().GetUser(), m)
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
	if o.deps.Policy.NoEmojis {
		return
	}
	o.emojis = append(o.emojis, e.GetId())
	o.store().emojis.set(e.GetId(), e)
}

// removeChannel drops a channel from the server's channel list and categories: the server sends
// no ServerUpdate after a ChannelDelete.
func (o *serverOwner) removeChannel(ch string) {
	if o.server == nil {
		return
	}
	n := o.server.ShallowClone()
	n.Channels = slices.DeleteFunc(slices.Clone(n.Channels), func(c string) bool { return c == ch })
	n.Categories = nil
	for _, c := range o.server.Categories {
		if slices.Contains(c.Channels, ch) {
			c = &stoatpb.Category{Id: c.Id, Title: c.Title, Channels: slices.DeleteFunc(slices.Clone(c.Channels), func(x string) bool { return x == ch })}
		}
		n.Categories = append(n.Categories, c)
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
		now := time.Now
		if o.deps.Now != nil {
			now = o.deps.Now
		}
		e.JoinedAt = now().UnixMilli()
	case *stoatpb.ServerUpdateEvent:
		if e.Before = o.server; e.Before != nil {
			e.After = applyServer(e.Before, e.Server, e.Clear)
		}
	case *stoatpb.ServerDeleteEvent:
		e.Server = o.server
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
		if me := o.store().Me(); me != nil {
			// ServerCreate carries no Member for yourself (BONFIRE.md §2.4).
			o.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: e.ServerId, User: me.GetId()}, JoinedAt: e.JoinedAt})
		}
		o.replaceEmojis(e.Emojis)
	case *stoatpb.ServerUpdateEvent:
		if e.After != nil {
			o.setServer(e.After)
		}
	case *stoatpb.ServerDeleteEvent:
		o.leave()
	case *stoatpb.ServerMemberJoinEvent:
		o.setMember(e.GetMember())
	case *stoatpb.ServerMemberUpdateEvent:
		if e.After != nil {
			o.setMember(e.After)
		}
	case *stoatpb.ServerMemberRemoveEvent:
		if me := o.store().Me(); me != nil && me.GetId() == e.UserId {
			o.leave() // leaving a server removes it from your view, like ServerDelete
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
		if e.After != nil {
			o.store().emojis.set(e.EmojiId, e.After)
		}
	case *stoatpb.ServerEmojiDeleteEvent:
		o.store().emojis.del(e.EmojiId)
		o.emojis = slices.DeleteFunc(o.emojis, func(x string) bool { return x == e.EmojiId })
	}
}

// leave drops the server and cascades to its channels (stoat.py leaves them cached).
func (o *serverOwner) leave() {
	for _, ch := range o.server.GetChannels() {
		o.ctx.Deliver(channelKey(ch), drop{})
	}
	o.Reset()
}

// deleteRole removes a role from the server, from every member that holds it and from every
// channel's role permissions; the server sends no events for the latter two.
func (o *serverOwner) deleteRole(role string) {
	if o.server == nil {
		return
	}
	n := o.server.ShallowClone()
	n.Roles = slices.DeleteFunc(slices.Clone(n.Roles), func(r *stoatpb.Role) bool { return r.GetId() == role })
	o.setServer(n)
	if o.members != nil {
		for _, m := range o.members.list() {
			if slices.Contains(m.Roles, role) {
				c := m.ShallowClone()
				c.Roles = slices.DeleteFunc(slices.Clone(c.Roles), func(r string) bool { return r == role })
				o.members.set(m.GetId().GetUser(), c)
			}
		}
	}
	for _, ch := range n.Channels {
		o.ctx.Deliver(channelKey(ch), stripRole{role: role})
	}
}

// --- user directory ----------------------------------------------------------------------------

// userDirOwner owns the users whose ids hash to its partition.
type userDirOwner struct {
	ownerBase
	users map[string]bool
}

func (o *userDirOwner) Receive(ctx actors.Context, msg any) {
	o.ctx = ctx
	switch m := msg.(type) {
	case *Dispatch:
		o.dispatch(m, o)
	case *seedUsers:
		for _, u := range m.users {
			o.setUser(u)
		}
		done(m.barrier)
	case upsertUser:
		o.setUser(m.user)
	case setRelation:
		o.setRelation(m.user, m.status)
	case drop:
		o.Reset()
	}
}

// Reset drops every user of the partition.
func (o *userDirOwner) Reset() {
	for id := range o.users {
		o.store().users.del(id)
	}
	o.users = nil
}

func (o *userDirOwner) setUser(u *stoatpb.User) {
	if o.deps.Policy.NoUsers && u.GetRelationship() != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER {
		return
	}
	if o.users == nil {
		o.users = map[string]bool{}
	}
	o.users[u.GetId()] = true
	if u.GetRelationship() == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER {
		o.store().self.Store(u)
	}
	o.store().users.set(u.GetId(), u)
}

// setRelation updates the own user's relations list (it lives in this partition).
func (o *userDirOwner) setRelation(user string, status stoatpb.RelationshipStatus) {
	me := o.store().Me()
	if me == nil {
		return
	}
	n := me.ShallowClone()
	n.Relations = slices.DeleteFunc(slices.Clone(n.Relations), func(r *stoatpb.Relationship) bool { return r.GetId() == user })
	if status != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE {
		n.Relations = append(n.Relations, &stoatpb.Relationship{Id: user, Status: status})
	}
	o.setUser(n)
}

// BeforeDispatch implements dispatch.Hooks.
func (o *userDirOwner) BeforeDispatch(ev stoatpb.Event) {
	s := o.store()
	switch e := ev.(type) {
	case *stoatpb.UserUpdateEvent:
		if e.Before = s.users.get(e.UserId); e.Before != nil {
			e.After = applyUser(e.Before, e.User, e.Clear)
		}
	case *stoatpb.UserRelationshipUpdateEvent:
		e.OldUser = s.users.get(e.GetNewUser().GetId())
		e.Before = e.OldUser.GetRelationship()
	case *stoatpb.UserPlatformWipeEvent:
		if e.Before = s.users.get(e.UserId); e.Before != nil {
			e.After = e.Before.ShallowClone()
			e.After.Flags = e.RawFlags
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
		o.setUser(e.GetNewUser())
		if me := s.Me(); me != nil {
			o.ctx.Deliver(actors.UserDirKey(me.GetId()), setRelation{user: e.GetNewUser().GetId(), status: e.GetNewUser().GetRelationship()})
		}
	case *stoatpb.UserPlatformWipeEvent:
		s.users.del(e.UserId)
		delete(o.users, e.UserId)
		if me := s.Me(); me != nil {
			o.ctx.Deliver(actors.UserDirKey(me.GetId()), setRelation{user: e.UserId})
		}
		for _, id := range s.ServerIDs() {
			o.ctx.Deliver(serverKey(id), wipeUser{user: e.UserId})
		}
		for _, id := range s.ChannelIDs() {
			o.ctx.Deliver(channelKey(id), wipeUser{user: e.UserId})
		}
	}
}

// --- shard -------------------------------------------------------------------------------------

// shardOwner owns a connection's events: Ready, authentication, sessions, settings.
type shardOwner struct {
	ownerBase
}

func (o *shardOwner) Receive(ctx actors.Context, msg any) {
	o.ctx = ctx
	if d, ok := msg.(*Dispatch); ok {
		o.dispatch(d, o)
	}
}

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
		o.store().settings.Store(&e.After)
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
