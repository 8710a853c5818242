package cacheactors

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Policy says what the cache keeps. The zero value caches everything, with at most 1,000
// messages per channel.
type Policy struct {
	// MessagesPerChannel bounds each channel's cached messages; the oldest are evicted first
	// (default 1,000; negative: cache no messages).
	MessagesPerChannel int
	// NoUsers caches no users but the connected one. NoMembers caches only your own
	// memberships. NoMessages, NoEmojis, NoVoice (voice participants) and NoReadStates turn
	// caching of those entities off. Each is shorthand for a predicate below that keeps nothing,
	// and overrides it.
	NoUsers, NoMembers, NoMessages, NoEmojis, NoVoice, NoReadStates bool
	// Users, Members, Messages, Emojis, Voice (a channel's voice participants) and ReadStates
	// decide at each write of an entry of their kind whether the cache keeps it, given the
	// write's context (see Keep); nil keeps every entry. Your own user and your own memberships
	// are always kept.
	Users      Keep[*stoatpb.User]
	Members    Keep[*stoatpb.Member]
	Messages   Keep[*stoatpb.Message]
	Emojis     Keep[*stoatpb.Emoji]
	Voice      Keep[*stoatpb.ChannelVoiceState]
	ReadStates Keep[*stoatpb.ChannelUnread]
	// Reads decides each read the runtime makes on a bot's behalf at a read site (see
	// Store.Reading): false answers it as a miss. Nil answers every read.
	Reads func(CacheContext) bool
	// MaxUsers bounds the number of cached users (0: unbounded), evicting the least recently
	// used (read or written) first; the connected user is never evicted.
	MaxUsers int
	// MaxMessages bounds the number of cached messages across all channels (0: unbounded),
	// evicting the oldest messages of the least recently used channels first. Each channel
	// still keeps at most MessagesPerChannel.
	MaxMessages int
	// FullMessages keeps every cached message as its whole protobuf object. By default plain
	// messages (text, replies, mentions) are kept in a compact form, about 3× smaller, and a
	// read builds the *stoatpb.Message (one 352-byte allocation); see window.go.
	FullMessages bool
}

// MessageLimit is how many messages each channel keeps (0: none).
func (p Policy) MessageLimit() int {
	switch {
	case p.NoMessages || p.MessagesPerChannel < 0:
		return 0
	case p.MessagesPerChannel == 0:
		return 1000
	}
	return p.MessagesPerChannel
}

// Deps is what every owner of a runtime shares.
type Deps struct {
	Store    *Store
	Pipeline *dispatch.Pipeline
	// Acker receives the owners' acknowledgements of the events they processed (Processed), and
	// tells an owner its backlog (for Pipeline.ConcurrentAbove): the in-flight budget of the
	// reader. Nil: nothing is acknowledged (owners fed by hand).
	Acker  actors.Acker
	Policy Policy
	// Now returns the time (for the joined_at ermine synthesises); default time.Now.
	Now func() time.Time
	// GateTimeout is how long an owner waits for a gated patch's outcome, or a Ready for its
	// seeds, before it logs the wait and re-drives it (see the package documentation); default
	// DefaultGateTimeout.
	GateTimeout time.Duration
	// Logger receives the owner protocol's warnings (rate-limited); default Pipeline.Logger.
	Logger *slog.Logger

	once       sync.Once
	keep       keepers // Policy's predicates, its toggles applied
	gateLog    ratelog.Limiter
	gates      gateCounters
	duplicates atomic.Uint64 // events dropped as duplicates (duplicateChecker)
	unknownLog ratelog.Limiter
}

// NewOwner is the actors.Factory of the cache owners. saved is what a passivated owner of the
// same key returned from Passivate (an ownerpb snapshot): the owner is rebuilt from it.
func (d *Deps) NewOwner(key actors.Key, saved any) actors.Owner {
	d.once.Do(func() {
		d.Store.configure(d.Policy)
		d.keep = d.Policy.keepers()
	})
	base := ownerBase{deps: d, key: key, run: d.Pipeline.NewRunner(key)}
	var o ownerKind
	switch key.Kind {
	case actors.KindChannel:
		c := &channelOwner{ownerBase: base}
		if snap, ok := saved.(*ownerpb.ChannelSnapshot); ok {
			c.restore(snap)
		}
		o = c
	case actors.KindServer:
		s := &serverOwner{ownerBase: base}
		if snap, ok := saved.(*ownerpb.ServerSnapshot); ok {
			s.restore(snap)
		}
		o = s
	case actors.KindUserDir:
		u := &userDirOwner{ownerBase: base}
		if snap, ok := saved.(*ownerpb.UserDirSnapshot); ok {
			u.restore(snap)
		}
		o = u
	default:
		sh := &shardOwner{ownerBase: base}
		if snap, ok := saved.(*ownerpb.ShardSnapshot); ok {
			sh.ownerBase.restore(snap.State)
		}
		o = sh
	}
	o.base().kind = o
	return o
}

// ownerKind is an owner of one kind: its patches over the base every kind shares, whose
// pipeline hooks run the event specs (spec.go) on it.
type ownerKind interface {
	actors.Owner
	dispatch.Hooks
	patch(msg any)
	base() *ownerBase
}

func (o *ownerBase) base() *ownerBase { return o }

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

type ownerBase struct {
	deps *Deps
	key  actors.Key
	run  *dispatch.Runner
	ctx  actors.Context // the context of the message being handled
	me   string         // the connected user's id, as the router last told this owner
	hold *hold          // the owner protocol's state (gates.go); nil until needed
	seq  sequence       // where the owner is in the reader's stream of events (sequence.go)
	// current is the dispatch in hand until it is finished (also on the goroutine that took the
	// owner over, see MoveOn).
	current *ownerpb.Dispatch
	// kind is the owner this is the base of (its hooks and patches).
	kind ownerKind
	// writing is the context of the cache writes in progress: the event being processed, or the
	// seed or patch being applied. Its Event is cleared once processed: a quiet owner would
	// otherwise keep its last event alive, and with it a page of the stream's garbage.
	writing CacheContext
}

func (o *ownerBase) store() *Store { return o.deps.Store }

func (o *ownerBase) policy() *Policy { return &o.deps.Policy }

// myID returns the connected user's id.
func (o *ownerBase) myID() string {
	if o.me != "" {
		return o.me
	}
	return o.store().Me().GetId()
}

// dispatch runs d through the pipeline (a Ready's seeds are all acked: see receive), then
// finishes it (finish). It reports whether a handler moved the owner on: then the rest of d runs
// on the goroutine that took the owner over, which finishes it in Resumed, and the caller must
// return at once without touching the owner's state.
func (o *ownerBase) dispatch(d *ownerpb.Dispatch) (moved bool) {
	if d.Me != "" {
		o.me = d.Me
	}
	if d.Barrier != nil && o.hold != nil {
		delete(o.hold.acks, barrierID(d.Barrier))
	}
	o.current = d
	if dup, ok := o.kind.(duplicateChecker); ok && dup.duplicate(d) {
		o.deps.duplicates.Add(1)
		o.finish(false)
		return false
	}
	processed := false
	defer func() {
		if !moved {
			o.finish(processed) // also if the pipeline panicked: nobody waits for d forever
		}
	}()
	o.run.Redelivered, o.run.Me = d.Redelivered, d.Me
	processed, moved = o.run.Dispatch(d.GetStoatEvent(), o.kind, o.backlog())
	return moved
}

// finish ends the dispatch in hand: it applies its local cascade patches (if the event was
// processed) and tells the owners of its gated patches the outcome. The outcome is sent, before
// the event is acknowledged, even if a patch panics, so that no other owner waits for it and
// Drain sees the resolutions in flight.
func (o *ownerBase) finish(processed bool) {
	d := o.current
	o.current = nil
	defer func() {
		if d.Gate != nil {
			o.resolve(o.ctx, d.Gate, processed)
		}
		o.processed(d)
	}()
	if processed && len(d.Local) > 0 {
		o.writing = EventCacheContext(d.GetStoatEvent()) // its patches are the event's writes
		for _, p := range d.Local {
			o.kind.patch(unwrapPatch(p))
		}
		o.writing.Event = nil
	}
}

// MoveOn implements dispatch.Hooks: the owner goes on on another goroutine (actors.Context).
// If the rest of the dispatch panics there, the dispatch is finished as not processed.
func (o *ownerBase) MoveOn(rest func()) {
	d := o.current
	o.ctx.MoveOn(func() {
		defer func() {
			if r := recover(); r != nil {
				if o.current == d {
					o.finish(false)
				}
				panic(r) // for the directory's recovery: logged, owner reset
			}
		}()
		rest()
	})
}

// Resumed implements dispatch.Hooks: it finishes a dispatch whose owner moved on, then goes on
// with what came after it: what the owner holds (it may have been replaying it), then the
// events that arrived ahead of a gap.
func (o *ownerBase) Resumed(processed bool) {
	o.finish(processed)
	if !o.resume() {
		o.replayEarly()
	}
}

// Receive implements actors.Owner.
func (o *ownerBase) Receive(ctx actors.Context, msg any) { o.receive(ctx, msg) }

// processed acknowledges d (processed or discarded) to the reader: cumulatively, as every
// event before it in its stream is done with.
func (o *ownerBase) processed(d *ownerpb.Dispatch) {
	if d.Stream == o.seq.stream {
		o.seq.done = d.Seq
	}
	if a := o.deps.Acker; a != nil {
		a.Processed(o.key, d.Stream, d.Seq)
	}
}

// backlog is the number of events for this owner in flight, the one in hand included; asked only
// when the pipeline may use it (ConcurrentAbove).
func (o *ownerBase) backlog() int {
	if a := o.deps.Acker; a != nil && o.deps.Pipeline.ConcurrentAbove > 0 {
		return a.Backlog(o.key)
	}
	return 0
}

// unknown reports a message the owner does not handle (a protocol mismatch: a bug, or a peer of
// another version), rate-limited.
func (o *ownerBase) unknown(msg any) {
	o.deps.gates.unknown.Add(1)
	o.deps.unknownLog.Log(o.deps.logger(), slog.LevelError, "unknown message", "cache: an owner got a message it does not handle; dropped",
		nil, "owner", o.key.String(), "type", fmt.Sprintf("%T", msg))
}

// Discard implements actors.Discarder: the runtime is stopping and msg will not be handled.
// Whatever another owner or the reader waits for because of msg is let go: the event's gated
// patches are told it was not processed, it is acknowledged, a seed or drop acks its Ready.
// The messages the owner holds are discarded with the first message it discards (or when it
// stops: actors.Holder).
func (o *ownerBase) Discard(msg any) {
	for _, m := range o.Held() {
		o.discard(m)
	}
	o.discard(msg)
}

func (o *ownerBase) discard(msg any) {
	switch m := msg.(type) {
	case *ownerpb.Dispatch:
		if m.Gate != nil {
			o.resolve(o.ctx, m.Gate, false)
		}
		o.processed(m)
	default:
		if b := seedBarrier(msg); b != nil {
			o.ack(o.ctx, b)
		}
	}
}

// duplicateChecker is implemented by owners that can tell an event they already ran.
type duplicateChecker interface {
	duplicate(d *ownerpb.Dispatch) bool
}

// Duplicates is the number of events the owners dropped as duplicates: a MessageCreateEvent for
// a message the channel's cache holds from a MessageCreateEvent already run (the same message
// both backfilled and live after a reconnect; in cluster mode, both old and new connection
// during a takeover). Not an event sent again after a failover (Dispatch.redelivered): its
// handlers may not have run.
func (d *Deps) Duplicates() uint64 { return d.duplicates.Load() }

// --- channel -----------------------------------------------------------------------------------

// channelOwner owns a channel, its message window, voice participants, read state and webhooks.
type channelOwner struct {
	ownerBase
	channel *stoatpb.Channel
	window  *window
	slot    *msgSlot    // where window is published; nil while there is none
	records recordArena // where the window's compact messages are cut from
	// lastID is the channel's last_message_id when a message made it newer than channel's: the
	// published window carries it (Store.Channel merges the two) rather than a copy of the
	// channel per message. "" when channel's own is current.
	lastID    string
	voice     *stoatpb.ChannelVoiceState
	webhooks  []string
	readState *stoatpb.ChannelUnread
}

func (o *channelOwner) patch(msg any) {
	switch m := msg.(type) {
	case *ownerpb.SeedChannel:
		// A seed is the whole truth about the channel's state (Ready, ServerCreate): what it
		// does not list is gone. Messages stay: they are still true, only the gap is unknown.
		o.setChannel(m.Channel)
		o.setVoice(m.Voice)
		if m.WithReadState {
			o.setReadState(m.ReadState)
		}
	case *ownerpb.Drop:
		o.Reset()
	case *ownerpb.Rebuild:
		if m.Gone {
			o.Reset()
			return
		}
		o.rebuild(m.Channel)
	case *ownerpb.RemoveVoice:
		o.removeParticipant(m.User)
	case *ownerpb.StripRole:
		if o.channel != nil && slices.ContainsFunc(o.channel.RolePermissions, func(r *stoatpb.RoleOverride) bool { return r.RoleId == m.Role }) {
			n := o.edit()
			n.RolePermissions = slices.DeleteFunc(slices.Clone(n.RolePermissions), func(r *stoatpb.RoleOverride) bool { return r.RoleId == m.Role })
			o.setChannel(n)
		}
	case *ownerpb.AdoptWebhook:
		if !slices.Contains(o.webhooks, m.Webhook) {
			o.webhooks = append(o.webhooks, m.Webhook)
		}
	case *ownerpb.WipeUser:
		o.wipe(m.User)
	case *ownerpb.EvictMessages:
		n := int(m.N)
		k := min(n, o.window.Len())
		if k > 0 {
			o.setWindow(o.window.dropOldest(k))
		}
		o.store().lru.evicted(n, k)
		o.planEviction() // if this window had fewer than asked, the round fell short
	default:
		o.unknown(msg)
	}
}

// Reset drops everything the channel owner caches.
func (o *channelOwner) Reset() {
	s, id := o.store(), o.key.ID
	s.channels.del(id)
	o.channel, o.lastID = nil, ""
	o.setWindow(nil)
	s.voice.del(id)
	s.readStates.del(id)
	for _, w := range o.webhooks {
		s.webhooks.del(w)
	}
	o.voice, o.webhooks, o.readState = nil, nil, nil
}

// setChannel publishes c, which carries the channel's last_message_id: a change to the channel
// starts from channelNow() or edit(), never from o.channel itself.
func (o *channelOwner) setChannel(c *stoatpb.Channel) {
	o.channel = c
	o.store().channels.set(o.key.ID, c, o.writing.Kind)
	o.store().wrote(&o.writing)
	o.lastID = ""
	if w := o.window; w != nil && w.lastID != "" {
		n := *w // the published window is immutable: a new header shares its slots
		n.lastID = ""
		o.window = &n
		o.slot.w.Store(&n)
	}
}

// channelNow is the channel with its last_message_id (a copy if the window carries a newer one).
func (o *channelOwner) channelNow() *stoatpb.Channel {
	if o.channel == nil {
		return nil
	}
	return withLastMessage(o.channel, o.lastID)
}

// edit returns a copy of the channel to change, with its last_message_id.
func (o *channelOwner) edit() *stoatpb.Channel {
	n := o.channel.ShallowClone()
	if o.lastID > n.LastMessageId {
		n.LastMessageId = o.lastID
	}
	return n
}

// setVoice publishes the voice participants; nil or none removes them.
func (o *channelOwner) setVoice(v *stoatpb.ChannelVoiceState) {
	if k := o.deps.keep.voice; k != nil && v != nil && !k(o.writing, v) {
		v = nil
	}
	if len(v.GetParticipants()) == 0 {
		if o.voice != nil {
			o.voice = nil
			o.store().voice.del(o.key.ID)
		}
		return
	}
	o.voice = v
	o.store().voice.set(o.key.ID, v, o.writing.Kind)
	o.store().wrote(&o.writing)
}

// setReadState publishes the channel's read state; nil removes it.
func (o *channelOwner) setReadState(rs *stoatpb.ChannelUnread) {
	if k := o.deps.keep.readStates; k != nil && rs != nil && !k(o.writing, rs) {
		rs = nil
	}
	o.readState = rs
	if rs == nil {
		o.store().readStates.del(o.key.ID)
		return
	}
	o.store().readStates.set(o.key.ID, rs, o.writing.Kind)
	o.store().wrote(&o.writing)
}

// setWindow publishes w (nil or empty: no messages), counts the change in the global message
// budget and, when the budget is exceeded, plans an eviction round.
func (o *channelOwner) setWindow(w *window) {
	s := o.store()
	delta := w.Len() - o.window.Len()
	if w.Len() == 0 {
		if o.slot != nil {
			s.messages.del(o.key.ID)
			o.slot = nil
		}
		o.window = nil
		if o.lastID != "" && o.channel != nil {
			o.setChannel(o.edit()) // no window carries it any more
		}
	} else {
		if w != o.window {
			w.lastID = o.lastID // not published yet
		}
		o.window = w
		if o.slot == nil {
			o.slot = &msgSlot{}
			o.slot.w.Store(w)
			s.messages.set(o.key.ID, o.slot)
		} else {
			o.slot.w.Store(w)
		}
		s.lru.touchChannel(o.slot)
	}
	if s.lru.messagesChanged(delta) && delta > 0 {
		o.planEviction()
	}
}

// planEviction plans a round of the global message bound if it is exceeded (budget.go).
func (o *channelOwner) planEviction() {
	if o.ctx != nil {
		o.store().planMessageEviction(func(ch string, n int) { o.ctx.Deliver(channelKey(ch), &ownerpb.EvictMessages{N: int64(n)}) })
	}
}

// putMessage caches m (new, or replacing the cached message with its id).
func (o *channelOwner) putMessage(m *stoatpb.Message) {
	limit := o.policy().MessageLimit()
	if limit <= 0 {
		return
	}
	if k := o.deps.keep.messages; k != nil && !k(o.writing, m) {
		if o.window != nil {
			w := o.window.without(m.GetId())
			if w == o.window {
				n := *w // a new header, to carry a new last_message_id (see setWindow)
				w = &n
			}
			o.setWindow(w)
		}
		return
	}
	w, _ := o.window.with(o.key.ID, compact(m, o.key.ID, o.policy().FullMessages, &o.records, o.writing.Kind), limit)
	o.setWindow(w)
	o.store().wrote(&o.writing)
}

func (o *channelOwner) find(id string) *stoatpb.Message { return o.window.Find(id) }

// duplicate implements duplicateChecker: a MessageCreateEvent whose message the window holds as
// a MessageCreateEvent wrote it ran already.
func (o *channelOwner) duplicate(d *ownerpb.Dispatch) bool {
	mc := d.GetMessageCreate()
	if mc == nil || d.Redelivered {
		return false
	}
	id, w := mc.GetMessage().GetId(), o.window
	last, ok := w.newest()
	if k := idKeyOf(id); !ok || compareKeys(&k, &last) > 0 {
		return false // newer than every cached message: the live case, without a search
	}
	kind, ok := w.lastWrite(id)
	return ok && kind == CacheMessageCreateEvent
}

func (o *channelOwner) participant(user string) *stoatpb.UserVoiceState {
	for _, p := range o.voice.GetParticipants() {
		if p.GetId() == user {
			return p
		}
	}
	return nil
}

// withParticipant adds s to the participants, or replaces the user's state in place.
func (o *channelOwner) withParticipant(s *stoatpb.UserVoiceState) {
	v := &stoatpb.ChannelVoiceState{Id: o.key.ID, Participants: slices.Clone(o.voice.GetParticipants())}
	if i := slices.IndexFunc(v.Participants, func(p *stoatpb.UserVoiceState) bool { return p.GetId() == s.GetId() }); i >= 0 {
		v.Participants[i] = s
	} else {
		v.Participants = append(v.Participants, s)
	}
	o.setVoice(v)
}

func (o *channelOwner) removeParticipant(user string) {
	if o.participant(user) == nil {
		return
	}
	v := &stoatpb.ChannelVoiceState{Id: o.key.ID}
	for _, p := range o.voice.GetParticipants() {
		if p.GetId() != user {
			v.Participants = append(v.Participants, p)
		}
	}
	o.setVoice(v)
}

// pruneMentions drops deleted messages from the read state's unread mentions.
func (o *channelOwner) pruneMentions(gone func(id string) bool) {
	if rs := o.readState; rs != nil && slices.ContainsFunc(rs.Mentions, gone) {
		n := rs.ShallowClone()
		n.Mentions = slices.DeleteFunc(slices.Clone(rs.Mentions), gone)
		o.setReadState(n)
	}
}

// wipe removes a platform-wiped user from the channel: their messages and reactions, their DM
// with you (the whole channel), their place in a group, their voice state.
func (o *channelOwner) wipe(user string) {
	if o.channel.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE && slices.Contains(o.channel.GetRecipients(), user) {
		o.Reset()
		return
	}
	if o.window != nil {
		removed := map[string]bool{}
		msgs := make([]*cmsg, 0, o.window.Len())
		for _, c := range o.window.all() {
			switch {
			case c.authorIs(user):
				removed[c.id()] = true
				continue
			case c.full() != nil && slices.ContainsFunc(c.full().Reactions, func(r *stoatpb.Reaction) bool { return slices.Contains(r.Users, user) }):
				n := c.full()
				for _, r := range n.Reactions {
					if slices.Contains(r.Users, user) {
						n = react(n, r.Emoji, user, false)
					}
				}
				c = compact(n, o.key.ID, o.policy().FullMessages, &o.records, o.writing.Kind)
			}
			msgs = append(msgs, c)
		}
		o.setWindow(newWindow(o.key.ID, msgs, 0))
		o.pruneMentions(func(id string) bool { return removed[id] })
	}
	if o.channel.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_GROUP && slices.Contains(o.channel.GetRecipients(), user) {
		n := o.edit()
		n.Recipients = slices.DeleteFunc(slices.Clone(n.Recipients), func(u string) bool { return u == user })
		o.setChannel(n)
	}
	o.removeParticipant(user)
}
