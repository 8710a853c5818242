// Package cacheactors holds the owners of ermine's cache: server actors, channel actors, the
// user-directory partitions and the shard (connection) owner, each owning its slice of the cache
// and publishing immutable snapshots to a Store that any goroutine can read.
//
// # Routing: event → primary owner
//
// Every event has exactly one primary owner, which runs the bot's handlers for it. This table is
// the one place that decides it (Router.Route):
//
//	event                                         owner      routing key
//	Message, MessageUpdate/Append/Delete,         channel    channel (channel_id for reactions)
//	  BulkMessageDelete, MessageReact/Unreact/
//	  RemoveReaction, MessageStart/StopEditing
//	ChannelCreate/Update/Delete, ChannelGroup-    channel    id
//	  Join/Leave, ChannelStart/StopTyping,
//	  ChannelAck, VoiceChannelJoin/Leave
//	VoiceChannelMove                              channel    to (from gets a patch)
//	UserVoiceStateUpdate, VoiceCallUpdate         channel    channel_id
//	WebhookCreate                                 channel    channel_id (remembered per webhook)
//	WebhookUpdate/Delete                          channel    the webhook's channel (index)
//	ServerCreate/Update/Delete, ServerMember*,    server     id (id.server for member updates)
//	  ServerRole*, ServerRoleRanksUpdate
//	EmojiCreate                                   server     parent.id (remembered per emoji)
//	EmojiUpdate/Delete                            server     the emoji's server (index)
//	UserUpdate, UserPlatformWipe                  userdir    id / user_id
//	UserRelationship                              userdir    user._id (not id, which is you)
//	everything else (Ready, Authenticated, Pong,  shard      the connection
//	  Error, Logout, sessions, UserSettingsUpdate,
//	  UserSlowmodes, UserMoveVoiceChannel, unknown)
//
// An event whose owner cannot be known (an emoji or webhook never seen) goes to the shard owner:
// its handlers still run, and there is nothing cached to change.
//
// # Seeds and patches, in wire order
//
// Ready and ServerCreate carry state for many owners. The router delivers it as seed patches, from
// the connection's reader, before it delivers anything later: a channel actor always knows its
// channel before it sees that channel's next event. The same holds for the other effects an event
// has on owners besides its primary one, when the event alone determines them: the author and
// member snapshots of a Message, a channel joining or leaving its server's list, the voice
// channel a user moved from. Applying them in wire order means a handler that cancels the event
// cannot undo them (it cancels the primary owner's update only); the alternative, sending them
// from the primary owner after its handlers, would let them overtake or be overtaken by later
// events of the other owner. The Ready event then runs its handlers in the
// shard owner once every seed is applied, so a Ready handler sees a full cache (stoat.py's cache
// is still empty there). Because the seeds are applied in wire order, cancelling a Ready cannot
// undo them; a re-Ready replaces the servers, channels, members and emojis it no longer lists.
package cacheactors

import (
	"sync"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Dispatch asks an owner to run an event through the pipeline.
type Dispatch struct {
	Event stoatpb.Event
	// Done, if set, is called once the event is processed.
	Done func()
	// barrier, for Ready: the seeds the handlers must wait for.
	barrier *sync.WaitGroup
}

// Patches change an owner's state without running handlers.
type (
	seedServer struct {
		server  *stoatpb.Server
		members []*stoatpb.Member
		emojis  []*stoatpb.Emoji
		barrier *sync.WaitGroup
	}
	seedChannel struct {
		channel   *stoatpb.Channel
		voice     *stoatpb.ChannelVoiceState
		readState *stoatpb.ChannelUnread
		barrier   *sync.WaitGroup
	}
	seedUsers struct {
		users   []*stoatpb.User
		barrier *sync.WaitGroup
	}
	// drop removes everything the owner caches (entity deleted, left, or absent from a re-Ready).
	drop          struct{}
	upsertUser    struct{ user *stoatpb.User }
	upsertMember  struct{ member *stoatpb.Member }
	addChannel    struct{ channel string }
	removeChannel struct{ channel string }
	removeVoice   struct{ user string }
	stripRole     struct{ role string }
	setRelation   struct {
		user   string
		status stoatpb.RelationshipStatus
	}
	// wipeUser removes a platform-wiped user's messages, memberships, DMs and relationships.
	wipeUser struct{ user string }
)

// ShardKey is the key of the owner of a shard's connection-level events.
func ShardKey(shard string) actors.Key { return actors.Key{Kind: actors.KindShard, ID: shard} }

func serverKey(id string) actors.Key  { return actors.Key{Kind: actors.KindServer, ID: id} }
func channelKey(id string) actors.Key { return actors.Key{Kind: actors.KindChannel, ID: id} }

// Router computes the owner of each event of one connection, and the seeds that go with it. It
// keeps the indexes some events need (emoji → server, webhook → channel) and the entity sets of
// the last Ready, updated in wire order. It is used by one goroutine (the connection's reader).
type Router struct {
	shard          actors.Key
	emojiServer    map[string]string
	webhookChannel map[string]string
	channelServer  map[string]string
	servers        map[string]bool
	channels       map[string]bool
}

// NewRouter returns the router of a shard.
func NewRouter(shard string) *Router {
	return &Router{
		shard:          ShardKey(shard),
		emojiServer:    map[string]string{},
		webhookChannel: map[string]string{},
		channelServer:  map[string]string{},
		servers:        map[string]bool{},
		channels:       map[string]bool{},
	}
}

// Route returns the primary owner of ev. Seed patches that must precede it are passed to emit in
// order; the Dispatch returned must be delivered after them.
func (r *Router) Route(ev stoatpb.Event, emit func(actors.Key, any)) (actors.Key, *Dispatch) {
	d := &Dispatch{Event: ev}
	switch e := ev.(type) {
	case *stoatpb.ReadyEvent:
		d.barrier = r.seedReady(e, emit)
		return r.shard, d
	case *stoatpb.MessageCreateEvent:
		// The author and membership snapshots go to their owners from here, in wire order, so
		// that a later UserUpdate or UserPlatformWipe cannot be overtaken by a stale snapshot.
		m := e.GetMessage()
		if u := m.GetUser(); u != nil {
			emit(actors.UserDirKey(u.GetId()), upsertUser{user: u})
		}
		if mem := m.GetMember(); mem != nil {
			emit(serverKey(mem.GetId().GetServer()), upsertMember{member: mem})
		}
		return channelKey(m.GetChannel()), d
	case *stoatpb.MessageUpdateEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageAppendEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageDeleteEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageDeleteBulkEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageReactEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageUnreactEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageClearReactionEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageStartEditingEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageStopEditingEvent:
		return channelKey(e.ChannelId), d
	case stoatpb.ChannelCreateEvent:
		ch := e.GetChannel()
		r.channels[ch.GetId()] = true
		if srv := ch.GetServer(); srv != "" {
			r.channelServer[ch.GetId()] = srv
			// A new server channel joins its server's list (stoat.py leaves the list stale).
			emit(serverKey(srv), addChannel{channel: ch.GetId()})
		}
		return channelKey(ch.GetId()), d
	case *stoatpb.ChannelUpdateEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.ChannelDeleteEvent:
		delete(r.channels, e.ChannelId)
		if srv, ok := r.channelServer[e.ChannelId]; ok {
			delete(r.channelServer, e.ChannelId)
			// The server sends no ServerUpdate after a ChannelDelete.
			emit(serverKey(srv), removeChannel{channel: e.ChannelId})
		}
		return channelKey(e.ChannelId), d
	case *stoatpb.GroupRecipientAddEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.GroupRecipientRemoveEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.ChannelStartTypingEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.ChannelStopTypingEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.MessageAckEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.VoiceChannelJoinEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.VoiceChannelLeaveEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.VoiceChannelMoveEvent:
		if e.From != "" && e.From != e.To {
			emit(channelKey(e.From), removeVoice{user: e.UserId})
		}
		return channelKey(e.To), d
	case *stoatpb.UserVoiceStateUpdateEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.VoiceCallUpdateEvent:
		return channelKey(e.ChannelId), d
	case *stoatpb.WebhookCreateEvent:
		r.webhookChannel[e.GetWebhook().GetId()] = e.GetWebhook().GetChannelId()
		return channelKey(e.GetWebhook().GetChannelId()), d
	case *stoatpb.WebhookUpdateEvent:
		if ch, ok := r.webhookChannel[e.WebhookId]; ok {
			e.ChannelId = ch
			return channelKey(ch), d
		}
	case *stoatpb.WebhookDeleteEvent:
		if ch, ok := r.webhookChannel[e.WebhookId]; ok {
			delete(r.webhookChannel, e.WebhookId)
			e.ChannelId = ch
			return channelKey(ch), d
		}
	case *stoatpb.ServerCreateEvent:
		r.servers[e.ServerId] = true
		for _, ch := range e.Channels {
			r.channels[ch.GetId()] = true
			r.channelServer[ch.GetId()] = e.ServerId
			emit(channelKey(ch.GetId()), &seedChannel{channel: ch, voice: voiceOf(e.VoiceStates, ch.GetId())})
		}
		for _, em := range e.Emojis {
			r.emojiServer[em.GetId()] = e.ServerId
		}
		return serverKey(e.ServerId), d
	case *stoatpb.ServerUpdateEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.ServerDeleteEvent:
		delete(r.servers, e.ServerId)
		return serverKey(e.ServerId), d
	case *stoatpb.ServerMemberJoinEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.ServerMemberUpdateEvent:
		return serverKey(e.GetMemberId().GetServer()), d
	case *stoatpb.ServerMemberRemoveEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.RawServerRoleUpdateEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.ServerRoleDeleteEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.ServerRoleRanksUpdateEvent:
		return serverKey(e.ServerId), d
	case *stoatpb.ServerEmojiCreateEvent:
		if p := e.GetEmoji().GetParent(); p.GetType() == stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER {
			r.emojiServer[e.GetEmoji().GetId()] = p.GetId()
			return serverKey(p.GetId()), d
		}
	case *stoatpb.ServerEmojiUpdateEvent:
		if s, ok := r.emojiServer[e.EmojiId]; ok {
			e.ServerId = s
			return serverKey(s), d
		}
	case *stoatpb.ServerEmojiDeleteEvent:
		if s, ok := r.emojiServer[e.EmojiId]; ok {
			delete(r.emojiServer, e.EmojiId)
			e.ServerId = s
			return serverKey(s), d
		}
	case *stoatpb.UserUpdateEvent:
		return actors.UserDirKey(e.UserId), d
	case *stoatpb.UserRelationshipUpdateEvent:
		return actors.UserDirKey(e.GetNewUser().GetId()), d
	case *stoatpb.UserPlatformWipeEvent:
		return actors.UserDirKey(e.UserId), d
	}
	return r.shard, d
}

// seedReady emits the seeds of a Ready: drops for the servers and channels the previous Ready
// had and this one lacks, then the servers (with their members and emojis), channels and users.
func (r *Router) seedReady(e *stoatpb.ReadyEvent, emit func(actors.Key, any)) *sync.WaitGroup {
	wg := &sync.WaitGroup{}
	servers := map[string]bool{}
	for _, s := range e.Servers {
		servers[s.GetId()] = true
	}
	channels := map[string]bool{}
	for _, c := range e.Channels {
		channels[c.GetId()] = true
	}
	for id := range r.servers {
		if !servers[id] {
			emit(serverKey(id), drop{})
		}
	}
	for id := range r.channels {
		if !channels[id] {
			emit(channelKey(id), drop{})
		}
	}
	r.servers, r.channels = servers, channels

	members := map[string][]*stoatpb.Member{}
	for _, m := range e.Members {
		members[m.GetId().GetServer()] = append(members[m.GetId().GetServer()], m)
	}
	emojis := map[string][]*stoatpb.Emoji{}
	for _, em := range e.Emojis {
		if p := em.GetParent(); p.GetType() == stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER {
			emojis[p.GetId()] = append(emojis[p.GetId()], em)
			r.emojiServer[em.GetId()] = p.GetId()
		}
	}
	for _, s := range e.Servers {
		wg.Add(1)
		emit(serverKey(s.GetId()), &seedServer{server: s, members: members[s.GetId()], emojis: emojis[s.GetId()], barrier: wg})
	}
	unreads := map[string]*stoatpb.ChannelUnread{}
	for _, u := range e.ReadStates {
		unreads[u.GetId().GetChannel()] = u
	}
	for _, c := range e.Channels {
		if srv := c.GetServer(); srv != "" {
			r.channelServer[c.GetId()] = srv
		}
		wg.Add(1)
		emit(channelKey(c.GetId()), &seedChannel{channel: c, voice: voiceOf(e.VoiceStates, c.GetId()), readState: unreads[c.GetId()], barrier: wg})
	}
	parts := map[actors.Key][]*stoatpb.User{}
	for _, u := range e.Users {
		k := actors.UserDirKey(u.GetId())
		parts[k] = append(parts[k], u)
	}
	for k, us := range parts {
		wg.Add(1)
		emit(k, &seedUsers{users: us, barrier: wg})
	}
	return wg
}

func voiceOf(states []*stoatpb.ChannelVoiceState, channel string) *stoatpb.ChannelVoiceState {
	for _, v := range states {
		if v.GetId() == channel {
			return v
		}
	}
	return nil
}

// Learn builds the patches that teach owners what a REST response said, so that the cache learns
// from responses through the owners (in each owner's order), never behind their back.
type Learn struct{}

// User returns the owner of u and the patch that caches it.
func (Learn) User(u *stoatpb.User) (actors.Key, any) {
	return actors.UserDirKey(u.GetId()), upsertUser{user: u}
}

// Member returns the owner of m and the patch that caches it.
func (Learn) Member(m *stoatpb.Member) (actors.Key, any) {
	return serverKey(m.GetId().GetServer()), upsertMember{member: m}
}
