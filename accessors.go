package ermine

import "github.com/ermine-rt/ermine/proto/stoatpb"

// The accessors resolve what an event is about from the cache: no accessor makes a REST call. The
// event's own entity (its channel, for a channel's events) reads as its owner left it before the
// event; other entities (the server, users, members) read as the read model has them now, which
// their owners keep up to date in wire order. Each returns nil when the cache does not have it
// (or the event is about no such thing).

// Channel returns the channel the event happens in.
func (c *Context) Channel() *stoatpb.Channel {
	id := channelOf(c.Event())
	if id == "" {
		return nil
	}
	return c.Bot().store.Channel(id)
}

// Server returns the server the event happens in: the event's own, or its channel's.
func (c *Context) Server() *stoatpb.Server {
	id := c.serverID()
	if id == "" {
		return nil
	}
	return c.Bot().store.Server(id)
}

func (c *Context) serverID() string {
	if e, ok := c.Event().(interface{ GetServerId() string }); ok {
		return e.GetServerId()
	}
	if ch := c.Channel(); ch != nil {
		return ch.GetServer()
	}
	return ""
}

// Message returns the message the event is about: a MessageCreate's message, a MessageUpdate's
// message after the edit, the message a reaction, an append or a delete is about (when cached).
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
		return c.Bot().store.User(m.GetAuthor())
	}
	if e, ok := c.Event().(interface{ GetUserId() string }); ok && e.GetUserId() != "" {
		return c.Bot().store.User(e.GetUserId())
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
	if user == "" || server == "" {
		return nil
	}
	return c.Bot().store.Member(server, user)
}

// Me returns the connected user (the bot).
func (c *Context) Me() *stoatpb.User { return c.Bot().store.Me() }
