package ermine

import (
	"context"
	"time"

	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/permissions"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The accessors resolve what an event is about from the cache: no accessor makes a REST call.
// Each read is made in its cache context (cacheactors.CacheContext: Channel reads as
// ChannelThroughMessageChannel, and so on), which Stats counts and a policy may refuse
// (CachePolicy.Reads: a refused read answers nil). The
// event's own entity (its channel, for a channel's events) reads as its owner left it before the
// event; other entities (the server, users, members) read as the read model has them now, which
// their owners keep up to date in wire order. Each returns nil when the cache does not have it
// (or the event is about no such thing).

// Channel returns the channel the event happens in.
func (c *Context) Channel() *stoatpb.Channel {
	id := channelOf(c.Event())
	if id == "" || !c.reading(cacheactors.CacheChannelThroughMessageChannel) {
		return nil
	}
	return c.lookup().channel(id)
}

// lookup reads the cache for the handler (this node's; in cluster mode also the owner's node).
func (c *Context) lookup() lookup { return lookup{b: c.Bot(), ctx: c} }

// reading counts a read of the accessors in its cache context and reports whether the policy
// lets the cache answer it.
func (c *Context) reading(kind cacheactors.CacheContextKind) bool {
	return c.Bot().store.Reading(cacheactors.CacheContext{Kind: kind, Event: c.Event()})
}

// Server returns the server the event happens in: the event's own, or its channel's.
func (c *Context) Server() *stoatpb.Server {
	id := c.serverID()
	if id == "" || !c.reading(cacheactors.CacheServerThroughMessageServer) {
		return nil
	}
	return c.lookup().server(id)
}

func (c *Context) serverID() string {
	if e, ok := c.Event().(interface{ GetServerId() string }); ok {
		return e.GetServerId()
	}
	if id := channelOf(c.Event()); id != "" {
		return c.lookup().channel(id).GetServer() // not a read of the bot's: not counted
	}
	return ""
}

// Message returns the message the event is about: a MessageCreate's message, a MessageUpdate's
// message after the edit, the message a reaction, an append or a delete is about (when cached:
// the owner read it for the event, in the event's cache context).
func (c *Context) Message() *stoatpb.Message {
	switch e := c.Event().(type) {
	case *stoatpb.MessageUpdateEvent:
		return e.GetAfter()
	case interface{ GetMessage() *stoatpb.Message }:
		return e.GetMessage()
	}
	return nil
}

// Author returns the user who acted: the author of the event's message, or the user the event
// names (who typed, reacted, joined…).
func (c *Context) Author() *stoatpb.User {
	if m := c.Message(); m != nil {
		if u := m.GetUser(); u != nil {
			return u // the snapshot the message came with
		}
		if !c.reading(cacheactors.CacheUserThroughMessageAuthor) {
			return nil
		}
		return c.lookup().user(m.GetAuthor())
	}
	if e, ok := c.Event().(interface{ GetUserId() string }); ok && e.GetUserId() != "" {
		return c.lookup().user(e.GetUserId())
	}
	return nil
}

// Member returns the Author's membership of the event's server (nil outside servers).
func (c *Context) Member() *stoatpb.Member {
	user := ""
	if m := c.Message(); m != nil {
		if mem := m.GetMember(); mem != nil {
			return mem // the snapshot the message came with
		}
		user = m.GetAuthor()
	} else if e, ok := c.Event().(interface{ GetUserId() string }); ok {
		user = e.GetUserId()
	}
	server := c.serverID()
	if user == "" || server == "" || !c.reading(cacheactors.CacheMemberThroughMessageAuthor) {
		return nil
	}
	return c.lookup().member(server, user)
}

// Me returns the connected user (the bot).
func (c *Context) Me() *stoatpb.User {
	if me := c.Bot().store.Me(); me != nil {
		return me
	}
	return c.lookup().user(c.dc().MeID()) // cluster mode: it lives with the connection
}

// Permissions returns the Author's permissions in the event's channel, computed from the cache
// (see Bot.Permissions).
func (c *Context) Permissions() permissions.Set {
	if !c.reading(cacheactors.CacheServerThroughMemberServerPermissions) {
		return 0
	}
	u := ""
	if a := c.Author(); a != nil {
		u = a.GetId()
	} else if m := c.Message(); m != nil {
		u = m.GetAuthor()
	}
	return c.Bot().permissions(c.lookup(), channelOf(c.Event()), u)
}

// Permissions returns user's permissions in channel as the backend computes them (package
// permissions), from what the cache holds: the channel, its server, user's membership and, in a
// DM, the other recipient. It is 0 when the channel is not cached; what the cache lacks counts as
// absent (a user not cached is neither privileged nor a bot; in a DM with the bot, the peer
// counts as a mutual connection when the cache has it as a member of one of the bot's servers).
//
// In cluster mode what this node's cache lacks is read from its owner's node (Bot.Read), each
// read within 2 s; a DM's mutual connection is looked for in this node's servers only.
func (b *Bot) Permissions(channel, user string) permissions.Set {
	return b.permissions(lookup{b: b, ctx: context.Background()}, channel, user)
}

func (b *Bot) permissions(l lookup, channel, user string) permissions.Set {
	ch := l.channel(channel)
	if ch == nil {
		return 0
	}
	who := permissions.Subject{ID: user}
	if u := l.user(user); u != nil {
		who = permissions.SubjectOf(u)
	}
	sc := permissions.Scope{Now: time.Now()}
	if srv := ch.GetServer(); srv != "" {
		sc.Server, sc.Member = l.server(srv), l.member(srv, user)
	}
	if ch.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE {
		sc.Peer = b.peer(ch, user)
	}
	return permissions.InChannel(ch, who, sc)
}

// peer is the other recipient of a DM, as the cache knows it.
func (b *Bot) peer(ch *stoatpb.Channel, user string) permissions.Peer {
	s := b.store
	var p permissions.Peer
	for _, r := range ch.GetRecipients() {
		if r != user {
			p.User = s.User(r)
		}
	}
	if p.User == nil {
		return p
	}
	if me := s.Me(); me.GetId() == user {
		p.Relationship = p.User.GetRelationship() // the connected user's view of the peer
		for _, srv := range s.ServerIDs() {
			if s.Member(srv, p.User.GetId()) != nil {
				p.Mutual = true
				break
			}
		}
	} else if u := s.User(user); u != nil {
		p.Relationship = permissions.RelationshipOf(u, p.User)
	}
	return p
}

// CacheContext returns the cache context in which the event's owner reads and writes the cache
// for it (stoat.py's event.cache_context), or nil for an event that writes no cache
// (cacheactors.Writes: typing, connection events).
func (c *Context) CacheContext() *cacheactors.CacheContext {
	ev := c.Event()
	if !cacheactors.Writes(ev.EventType()) {
		return nil
	}
	cc := cacheactors.EventCacheContext(ev)
	return &cc
}
