package cacheactors

import (
	"math/rand/v2"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// ShardKey is the key of the owner of a shard's connection-level events.
func ShardKey(shard string) actors.Key { return actors.Key{Kind: actors.KindShard, ID: shard} }

func serverKey(id string) actors.Key  { return actors.Key{Kind: actors.KindServer, ID: id} }
func channelKey(id string) actors.Key { return actors.Key{Kind: actors.KindChannel, ID: id} }

// Router computes the owner of each event of one connection, and the seeds and cascade patches
// that go with it (see the package documentation). It keeps the indexes some events need (emoji →
// server, webhook → channel, server ↔ channels), the entity sets of the last Ready, and the
// connected user's id, all updated in wire order. It is used by one goroutine (the connection's
// reader).
type Router struct {
	shard actors.Key
	// id tells this router's gates and barriers from another router's; seq numbers them in wire
	// order (gates.go).
	id, seq     uint64
	me          string
	emojiServer map[string]string
	// myRoles are the connected user's roles in each server, as the wire says (the Ready's
	// memberships, then the member and role events): a message that mentions roles carries
	// them to its channel (Dispatch.my_roles).
	myRoles        map[string][]string
	webhookChannel map[string]string
	channelServer  map[string]string
	serverChannels map[string]map[string]struct{}
	servers        map[string]bool
	// channels are the channels known (cached), each with the newest message id routed for it:
	// its last_message_id in a Ready or create, or its last MessageCreate ("" if none). A
	// re-Ready compares it with its own last_message_id to find the messages missed.
	channels map[string]string

	// GapChannels is how many channels of a re-Ready that missed messages get a Gap, the most
	// recently active first (0: none, gaps are not looked for). Gaps returns them.
	GapChannels int
	gaps        []*Gap
	// UnknownSeen, if set, is taken as the newest message id seen in each channel of the next
	// Ready that the router does not know (a takeover in cluster mode: the channels whose owners
	// died with the previous connection's node); such a channel's messages after it are
	// backfilled. The Ready clears it.
	UnknownSeen string

	// readied: a Ready was routed, so the next one is a re-Ready, which has a diff (ReadyDiff).
	readied bool
	diff    *stoatpb.ReadyDiffEvent
}

// NewRouter returns the router of a shard.
func NewRouter(shard string) *Router {
	return &Router{
		shard:          ShardKey(shard),
		id:             rand.Uint64(),
		emojiServer:    map[string]string{},
		myRoles:        map[string][]string{},
		webhookChannel: map[string]string{},
		channelServer:  map[string]string{},
		serverChannels: map[string]map[string]struct{}{},
		servers:        map[string]bool{},
		channels:       map[string]string{},
	}
}

// Learn tells a new router what the owners already hold, as a connection that takes over from
// one whose node died finds them (cluster mode): the servers, and the channels with the newest
// message id each holds. Its first Ready is then a re-Ready: its channels are compared with them
// (gaps to backfill) and the handlers get its diff. Call it before routing anything.
func (r *Router) Learn(servers []string, channels map[string]string) {
	for _, s := range servers {
		r.servers[s] = true
	}
	for ch, last := range channels {
		r.channels[ch] = last
	}
	r.readied = len(servers)+len(channels) > 0
}

// Route returns the primary owner of ev and its Dispatch, which the reader numbers (stream, seq,
// size) and delivers after the seeds and cascade patches that must precede it, which Route passes
// to emit in order (ownerpb messages, see the package documentation).
func (r *Router) Route(ev stoatpb.Event, emit func(actors.Key, any)) (actors.Key, *ownerpb.Dispatch) {
	d := ownerpb.NewDispatch(ev)
	key := r.route(ev, d, emit)
	d.Me = r.me
	return key, d
}

// next returns a new gate or barrier id.
func (r *Router) next() seqID {
	r.seq++
	return seqID{router: r.id, seq: r.seq}
}

// cascade sends patch to the owner to, gated by d's event, and records to on d so that the
// primary owner tells it the outcome (or, if to is the primary owner itself, d carries the patch
// for it to apply after process).
//
// The patch lands in to's mailbox at the event's wire position: to holds it, and what comes after
// it, until the outcome arrives (gates.go), so the event's handlers still see to as it was before
// the event, a cancelled event has no effect anywhere, and no later event of to overtakes the
// cascade. Gated patches leave from the reader only, in wire order, so a gate waits only for an
// event earlier than everything held behind it: owners cannot wait for each other in a cycle.
//
// patch is shared by every owner it goes to (it is never changed).
func (r *Router) cascade(d *ownerpb.Dispatch, primary, to actors.Key, patch *ownerpb.Patch, emit emitFunc) {
	if to == primary {
		d.Local = append(d.Local, patch)
		return
	}
	if d.Gate == nil {
		id := r.next()
		d.Gate = &ownerpb.Gate{Router: id.router, Seq: id.seq}
	}
	d.Gate.Targets = append(d.Gate.Targets, pbKey(to))
	emit(to, &ownerpb.Gated{Router: d.Gate.Router, Seq: d.Gate.Seq, Primary: pbKey(primary), Patch: patch})
}

// route computes the event's primary owner and sends its seeds and patches: the event's spec
// says how (spec.go).
func (r *Router) route(ev stoatpb.Event, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
	if s := &specs[ev.EventType()]; s.route != nil {
		return s.route(r, ev, d, emit)
	}
	return r.shard
}

// channelCreated routes a ChannelCreate of *c, which it normalises (normalizeChannel).
func (r *Router) channelCreated(c **stoatpb.Channel, emit emitFunc) actors.Key {
	*c = normalizeChannel(*c)
	ch := *c
	r.seen(ch.GetId(), ch.GetLastMessageId())
	if srv := ch.GetServer(); srv != "" {
		r.linkChannel(ch.GetId(), srv)
		// A new server channel joins its server's list (stoat.py leaves the list stale). Not
		// gated: the list names every channel of the server, visible or not, and this one exists.
		emit(serverKey(srv), &ownerpb.AddChannel{Channel: ch.GetId()})
	}
	return channelKey(ch.GetId())
}

func (r *Router) linkChannel(ch, srv string) {
	r.channelServer[ch] = srv
	set := r.serverChannels[srv]
	if set == nil {
		set = map[string]struct{}{}
		r.serverChannels[srv] = set
	}
	set[ch] = struct{}{}
}

func (r *Router) forgetChannel(ch string) {
	delete(r.channels, ch)
	if srv, ok := r.channelServer[ch]; ok {
		delete(r.channelServer, ch)
		delete(r.serverChannels[srv], ch)
	}
	for w, c := range r.webhookChannel {
		if c == ch {
			delete(r.webhookChannel, w)
		}
	}
}

// serverCreated seeds the channels of a ServerCreate (replacing what a previous one said).
func (r *Router) serverCreated(e *stoatpb.ServerCreateEvent, emit emitFunc) actors.Key {
	listed := make(map[string]bool, len(e.Channels))
	for i, ch := range e.Channels {
		e.Channels[i] = normalizeChannel(ch)
		listed[ch.GetId()] = true
	}
	for ch := range r.serverChannels[e.ServerId] {
		if !listed[ch] {
			emit(channelKey(ch), dropAll)
			r.forgetChannel(ch)
		}
	}
	r.servers[e.ServerId] = true
	for _, ch := range e.Channels {
		r.seen(ch.GetId(), ch.GetLastMessageId())
		r.linkChannel(ch.GetId(), e.ServerId)
		emit(channelKey(ch.GetId()), &ownerpb.SeedChannel{Channel: ch, Voice: voiceOf(e.VoiceStates, ch.GetId())})
	}
	for _, em := range e.Emojis {
		r.emojiServer[em.GetId()] = e.ServerId
	}
	return serverKey(e.ServerId)
}

// serverGone cascades a ServerDelete, or your own ServerMemberLeave, to the server's channels
// (stoat.py leaves them cached, with their messages).
func (r *Router) serverGone(d *ownerpb.Dispatch, key actors.Key, srv string, emit emitFunc) {
	delete(r.myRoles, srv)
	var drop *ownerpb.Patch
	for ch := range r.serverChannels[srv] {
		if drop == nil {
			drop = wrapPatch(dropAll)
		}
		r.cascade(d, key, channelKey(ch), drop, emit)
		delete(r.channels, ch)
		delete(r.channelServer, ch)
		for w, c := range r.webhookChannel {
			if c == ch {
				delete(r.webhookChannel, w)
			}
		}
	}
	delete(r.serverChannels, srv)
	delete(r.servers, srv)
	for em, s := range r.emojiServer {
		if s == srv {
			delete(r.emojiServer, em)
		}
	}
}

// seedReady emits the seeds of a Ready: drops for the servers and channels the previous Ready
// had and this one lacks, then the servers (with their members and emojis), channels and users.
// Each carries the Ready's barrier, which says how many acks the Ready waits for.
func (r *Router) seedReady(e *stoatpb.ReadyEvent, emit emitFunc) *ownerpb.BarrierAck {
	for _, u := range e.Users {
		if u.GetRelationship() == stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER {
			r.me = u.GetId()
		}
	}
	servers := map[string]bool{}
	for _, s := range e.Servers {
		servers[s.GetId()] = true
	}
	channels := make(map[string]string, len(e.Channels))
	for i, c := range e.Channels {
		e.Channels[i] = normalizeChannel(c)
		channels[c.GetId()] = max(c.GetLastMessageId(), r.channels[c.GetId()])
	}
	missed := r.findGaps(e.Channels)
	r.UnknownSeen = ""
	before := knownSets{servers: r.servers, channels: r.channels, emojis: r.emojiServer}
	var drops []actors.Key
	for id := range r.servers {
		if !servers[id] {
			drops = append(drops, serverKey(id))
		}
	}
	for id := range r.channels {
		if _, ok := channels[id]; !ok {
			drops = append(drops, channelKey(id))
		}
	}
	r.myRoles = map[string][]string{}
	for _, m := range e.Members {
		if id := m.GetId(); id.GetUser() == r.me && r.me != "" {
			r.myRoles[id.GetServer()] = m.GetRoles()
		}
	}
	parts := map[actors.Key]*ownerpb.SeedUsers{}
	part := func(user string) *ownerpb.SeedUsers {
		k := actors.UserDirKey(user)
		if parts[k] == nil {
			parts[k] = &ownerpb.SeedUsers{Me: r.me}
		}
		return parts[k]
	}
	for _, u := range e.Users {
		p := part(u.GetId())
		p.Users = append(p.Users, u)
		if u.GetId() == r.me {
			for _, rel := range u.GetRelations() {
				q := part(rel.GetId())
				q.Relations = append(q.Relations, rel)
			}
		}
	}
	// The count is known before the first seed leaves, so that the barrier is immutable.
	id := r.next()
	b := &ownerpb.BarrierAck{Shard: pbKey(r.shard), Router: id.router, Seq: id.seq, N: int64(len(drops) + len(e.Servers) + len(e.Channels) + len(parts))}
	if len(drops) > 0 {
		drop := &ownerpb.Drop{Barrier: b}
		for _, k := range drops {
			emit(k, drop)
		}
	}
	webhooks := r.webhookChannel
	r.servers, r.channels = servers, channels
	r.channelServer, r.serverChannels, r.emojiServer, r.webhookChannel = map[string]string{}, map[string]map[string]struct{}{}, map[string]string{}, map[string]string{}
	for w, c := range webhooks {
		if _, ok := channels[c]; ok {
			r.webhookChannel[w] = c
		}
	}

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
		emit(serverKey(s.GetId()), &ownerpb.SeedServer{Server: s, Members: members[s.GetId()], Emojis: emojis[s.GetId()], Me: r.me, Barrier: b})
	}
	unreads := map[string]*stoatpb.ChannelUnread{}
	for _, u := range e.ReadStates {
		unreads[u.GetId().GetChannel()] = u
	}
	voice := map[string]*stoatpb.ChannelVoiceState{}
	for _, v := range e.VoiceStates {
		voice[v.GetId()] = v
	}
	for _, c := range e.Channels {
		if srv := c.GetServer(); srv != "" {
			r.linkChannel(c.GetId(), srv)
		}
		emit(channelKey(c.GetId()), &ownerpb.SeedChannel{Channel: c, Voice: voice[c.GetId()], ReadState: unreads[c.GetId()], WithReadState: len(e.ReadStates) > 0, Barrier: b})
	}
	for k, seed := range parts {
		seed.Barrier = b
		emit(k, seed)
	}
	r.diffReady(e, before, missed)
	for _, g := range r.gaps {
		// After the channel's seed: the channel holds what comes after the Ready until the gap
		// is closed, and the messages recovered meanwhile run first (recover).
		g.me, g.myRoles = r.me, r.myRoles[r.channelServer[g.Channel]]
		id := r.next()
		g.gate = seqID{router: id.router, seq: id.seq}
		emit(channelKey(g.Channel), &ownerpb.Gated{Router: id.router, Seq: id.seq, Primary: pbKey(channelKey(g.Channel))})
	}
	return b
}

// seen records id as a message id seen in channel ch (which becomes known) if it is the newest.
func (r *Router) seen(ch, id string) {
	if last, ok := r.channels[ch]; !ok || id > last {
		r.channels[ch] = id
	}
}

func voiceOf(states []*stoatpb.ChannelVoiceState, channel string) *stoatpb.ChannelVoiceState {
	for _, v := range states {
		if v.GetId() == channel {
			return v
		}
	}
	return nil
}

// normalizeChannel turns a legacy VoiceChannel into what the server migrated it to (2025): a
// TextChannel with a voice object. The event and the cache then hold the same object.
func normalizeChannel(c *stoatpb.Channel) *stoatpb.Channel {
	if c.GetChannelType() != stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL {
		return c
	}
	n := c.ShallowClone()
	n.ChannelType = stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL
	if n.Voice == nil {
		n.Voice = &stoatpb.VoiceInformation{}
	}
	return n
}

// Learn builds the patches that teach owners what a REST response said, so that the cache learns
// from responses through the owners (in each owner's order), never behind their back.
type Learn struct{}

// User returns the owner of u and the patch that caches it (u, which must not be changed any
// more, in a LearnUser: its writes have the kind CacheUserRequest).
func (Learn) User(u *stoatpb.User) (actors.Key, proto.Message) {
	return actors.UserDirKey(u.GetId()), &ownerpb.LearnUser{User: u}
}

// Member returns the owner of m and the patch that caches it (m in a LearnMember).
func (Learn) Member(m *stoatpb.Member) (actors.Key, proto.Message) {
	return serverKey(m.GetId().GetServer()), &ownerpb.LearnMember{Member: m}
}
