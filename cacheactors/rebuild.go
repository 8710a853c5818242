package cacheactors

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Owner rebuild. An owner can be told to rebuild its state from the API: a channel from the
// channel and its newest messages, a server from the server (its roles in it), its members and
// its emojis. The rebuilder first delivers a gate of the owner's own (a Gated without a patch,
// the owner as its primary, as a gap's), behind which the owner holds every later message; then
// it fetches (REST, from a goroutine that is not an owner's), delivers the state as a Rebuild,
// which the owner applies in the place of the gate, and resolves the gate: the owner goes on
// with what it held, in order. What the owner applied before the gate arrived came from the
// connection before the first request was sent, so the API's answer includes it; what it held
// may be included too, and applying it again changes nothing (a message the window has is
// replaced, an upsert is an upsert). No handler runs for a rebuild: it is not an event.

// Rebuilder numbers the rebuilds of one runtime. It is safe for concurrent use.
type Rebuilder struct {
	// id tells its gates from a router's (gates.go names gates by router and seq).
	id  uint64
	seq atomic.Uint64
}

// NewRebuilder returns a Rebuilder.
func NewRebuilder() *Rebuilder { return &Rebuilder{id: rand.Uint64()} }

// Rebuild is one owner's rebuild under way. Give it the state with Channel, Server or Gone (or
// nothing, if the fetch failed), then Close it, from one goroutine.
type Rebuild struct {
	key  actors.Key
	gate seqID
	emit func(actors.Key, any)
}

// Begin starts the rebuild of the owner of key (a server's or a channel's): the owner holds
// what it gets from now on until Close. Fetch the state only once Begin has returned.
func (rb *Rebuilder) Begin(key actors.Key, emit func(actors.Key, any)) *Rebuild {
	r, gate := rb.Prepare(key, emit)
	emit(key, gate)
	return r
}

// Prepare is Begin for a caller that delivers the rebuild's gate itself (before anything else
// reaches the owner: a partition that moved to another node); the rebuild's other messages go
// to emit.
func (rb *Rebuilder) Prepare(key actors.Key, emit func(actors.Key, any)) (*Rebuild, *ownerpb.Gated) {
	r := &Rebuild{key: key, gate: seqID{router: rb.id, seq: rb.seq.Add(1)}, emit: emit}
	return r, &ownerpb.Gated{Router: r.gate.router, Seq: r.gate.seq, Primary: pbKey(key)}
}

// Key is the key of the owner rebuilt.
func (r *Rebuild) Key() actors.Key { return r.key }

// Channel rebuilds a channel owner from the channel and its newest messages, oldest first, with
// their authors and members embedded (as a Message event carries them): the authors go to their
// owners first.
func (r *Rebuild) Channel(ch *stoatpb.Channel, msgs []*stoatpb.Message) {
	for _, m := range msgs {
		learnAuthor(m, r.emit)
	}
	r.emit(r.key, &ownerpb.Rebuild{Router: r.gate.router, Seq: r.gate.seq,
		Channel: &ownerpb.ChannelRebuild{Channel: ch, Messages: msgs}})
}

// Server rebuilds a server owner from the server, every member of it and every emoji; the
// members' users go to their owners first.
func (r *Rebuild) Server(srv *stoatpb.Server, members []*stoatpb.Member, users []*stoatpb.User, emojis []*stoatpb.Emoji) {
	for _, u := range users {
		r.emit(actors.UserDirKey(u.GetId()), &ownerpb.LearnUser{User: u})
	}
	r.emit(r.key, &ownerpb.Rebuild{Router: r.gate.router, Seq: r.gate.seq,
		Server: &ownerpb.SeedServer{Server: srv, Members: members, Emojis: emojis}})
}

// Gone tells the owner that the API says its entity is no more (deleted, or out of your reach):
// it drops what it caches.
func (r *Rebuild) Gone() {
	r.emit(r.key, &ownerpb.Rebuild{Router: r.gate.router, Seq: r.gate.seq, Gone: true})
}

// Close ends the rebuild: the owner goes on with what it held. Call it once, last, whether the
// fetch succeeded or not.
func (r *Rebuild) Close() {
	r.emit(r.key, &ownerpb.GateResolved{Router: r.gate.router, Seq: r.gate.seq})
}

// learnAuthor sends the author and member a fetched message embeds to their owners, as the
// router does for a live message.
func learnAuthor(m *stoatpb.Message, emit func(actors.Key, any)) {
	if u := m.GetUser(); u != nil {
		emit(actors.UserDirKey(u.GetId()), u)
	}
	if mem := m.GetMember(); mem != nil {
		emit(serverKey(mem.GetId().GetServer()), mem)
	}
}

// rebuild replaces the channel and its message window with r's.
func (o *channelOwner) rebuild(r *ownerpb.ChannelRebuild) {
	if r.GetChannel() != nil {
		o.setChannel(r.Channel)
	}
	o.setWindow(nil)
	for _, m := range r.GetMessages() {
		o.putMessage(m)
	}
	// The channel and its messages are two requests: a message sent between them is newer than
	// the fetched channel's last_message_id, which Stoat never lowers. Without this the channel
	// would keep the older id until its next message (seen after a node died in cluster mode).
	if msgs := r.GetMessages(); len(msgs) > 0 && o.channel != nil {
		if id := msgs[len(msgs)-1].GetId(); id > max(o.channel.LastMessageId, o.lastID) && tracksLastMessage(o.channel) {
			n := o.edit()
			n.LastMessageId = id
			o.setChannel(n)
		}
	}
}
