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
	case *ownerpb.Rebuild:
		if m.Gone {
			o.Reset()
		} else if m.Server != nil {
			o.patch(m.Server)
		}
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
		o.learnMember(m)
	case *ownerpb.LearnMember:
		o.learnMember(m.Member)
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
	o.store().servers.set(o.key.ID, s, o.writing.Kind)
	o.store().wrote(&o.writing)
}

func (o *serverOwner) resetMembers() {
	o.members = newMemberTable(o.store().members.seed, 1)
	o.store().members.set(o.key.ID, o.members)
}

// putMember stores m in the member table, sharding the table once it is big.
func (o *serverOwner) putMember(m *stoatpb.Member) {
	if o.members.setMember(m, o.writing.Kind) {
		o.members = o.members.grown()
		o.store().members.set(o.key.ID, o.members)
	}
}

func (o *serverOwner) setMember(m *stoatpb.Member) {
	user := m.GetId().GetUser()
	if user == "" {
		return
	}
	if k := o.deps.keep.members; k != nil && user != o.myID() && !k(o.writing, m) {
		o.delMember(user)
		return
	}
	if o.members == nil {
		o.resetMembers()
	}
	o.putMember(m)
	o.store().wrote(&o.writing)
}

// learnMember caches a member snapshot that came with a message or a REST response, not for a
// server you are not in (any more).
func (o *serverOwner) learnMember(m *stoatpb.Member) {
	if o.server != nil {
		o.setMember(m)
	}
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
	if e.GetId() == "" {
		return
	}
	if k := o.deps.keep.emojis; k != nil && !k(o.writing, e) {
		if i := slices.Index(o.emojis, e.GetId()); i >= 0 {
			o.emojis = slices.Delete(slices.Clone(o.emojis), i, i+1)
			o.store().emojis.del(e.GetId())
		}
		return
	}
	if !slices.Contains(o.emojis, e.GetId()) {
		o.emojis = append(o.emojis, e.GetId())
	}
	o.store().emojis.set(e.GetId(), e, o.writing.Kind)
	o.store().wrote(&o.writing)
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

// --- user directory ----------------------------------------------------------------------------

// userDirOwner owns the users whose ids hash to its partition.
type userDirOwner struct {
	ownerBase
	// users is the partition's state: the owner reads its users here, never from the Store,
	// which it only publishes to (for readers outside the owners).
	users map[string]userEntry
	// rels are the connected user's relationships with users of this partition, from the
	// Ready's relations list and the relationship events (the list itself lives with your own
	// user, maybe in another partition): what a user learnt later starts with.
	rels map[string]stoatpb.RelationshipStatus
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
		o.rels = nil // a Ready's relations list is the whole truth
		for _, r := range m.Relations {
			o.setRel(r.GetId(), r.GetStatus())
		}
	case *stoatpb.User: // upsert_user
		o.learnUser(m)
	case *ownerpb.LearnUser:
		o.learnUser(m.User)
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
	o.users, o.rels = nil, nil
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
	s := o.store()
	if k := o.deps.keep.users; k != nil && !me && !k(o.writing, u) {
		if _, ok := o.users[u.GetId()]; ok {
			delete(o.users, u.GetId())
			s.users.del(u.GetId())
		}
		return
	}
	if o.users == nil {
		o.users = map[string]userEntry{}
	}
	_, known := o.users[u.GetId()]
	o.users[u.GetId()] = userEntry{user: u, epoch: s.lru.clock.Load()}
	if me {
		s.self.Store(u)
	}
	s.users.set(u.GetId(), u, o.writing.Kind)
	s.wrote(&o.writing)
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

// relationTo is your relationship with user, one of this partition's (rels).
func (o *userDirOwner) relationTo(user string) stoatpb.RelationshipStatus {
	if r, ok := o.rels[user]; ok {
		return r
	}
	return stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
}

// setRel records your relationship with user, one of this partition's.
func (o *userDirOwner) setRel(user string, status stoatpb.RelationshipStatus) {
	if status == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE {
		delete(o.rels, user)
		return
	}
	if o.rels == nil {
		o.rels = map[string]stoatpb.RelationshipStatus{}
	}
	o.rels[user] = status
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

// --- shard -------------------------------------------------------------------------------------

// shardOwner owns a connection's events: Ready, authentication, sessions, settings.
type shardOwner struct {
	ownerBase
}

// patch: the shard owner gets no patches.
func (o *shardOwner) patch(msg any) { o.unknown(msg) }
