package cacheactors

import (
	"slices"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Policy says what the cache keeps.
type Policy struct {
	// MessagesPerChannel bounds each channel's cached messages; the oldest are evicted first
	// (default 1,000; negative: cache no messages).
	MessagesPerChannel int
	// NoUsers, NoMembers, NoEmojis, NoVoice turn caching of those entities off.
	NoUsers, NoMembers, NoEmojis, NoVoice bool
}

func (p Policy) messageLimit() int {
	if p.MessagesPerChannel == 0 {
		return 1000
	}
	return p.MessagesPerChannel
}

// Deps is what every owner of a runtime shares.
type Deps struct {
	Store    *Store
	Pipeline *dispatch.Pipeline
	Policy   Policy
	// Now returns the time (for ServerCreate's locally generated joined_at); default time.Now.
	Now func() time.Time
}

// NewOwner is the actors.Factory of the cache owners. saved is what a passivated owner of the
// same key returned from Passivate: its state comes back with it.
func (d *Deps) NewOwner(key actors.Key, saved any) actors.Owner {
	base := ownerBase{deps: d, key: key, run: d.Pipeline.NewRunner(key)}
	switch key.Kind {
	case actors.KindChannel:
		if o, ok := saved.(*channelOwner); ok {
			o.ownerBase = base
			return o
		}
		return &channelOwner{ownerBase: base}
	case actors.KindServer:
		if o, ok := saved.(*serverOwner); ok {
			o.ownerBase = base
			return o
		}
		return &serverOwner{ownerBase: base}
	case actors.KindUserDir:
		if o, ok := saved.(*userDirOwner); ok {
			o.ownerBase = base
			return o
		}
		return &userDirOwner{ownerBase: base}
	}
	return &shardOwner{ownerBase: base}
}

// Passivate keeps the channel's state for its next activation (the owner value itself: nothing
// else holds it once the actor is gone).
func (o *channelOwner) Passivate() any { return o }

// Passivate keeps the server's state for its next activation.
func (o *serverOwner) Passivate() any { return o }

// Passivate keeps the partition's state for its next activation.
func (o *userDirOwner) Passivate() any { return o }

type ownerBase struct {
	deps *Deps
	key  actors.Key
	run  *dispatch.Runner
	ctx  actors.Context // the context of the message being handled
}

func (o *ownerBase) store() *Store { return o.deps.Store }

// dispatch runs d through the pipeline with h's hooks.
func (o *ownerBase) dispatch(d *Dispatch, h dispatch.Hooks) {
	if d.barrier != nil {
		d.barrier.Wait()
	}
	o.run.Dispatch(d.Event, h)
	if d.Done != nil {
		d.Done()
	}
}

func done(wg interface{ Done() }) {
	if wg != nil {
		wg.Done()
	}
}

// --- channel -----------------------------------------------------------------------------------

// channelOwner owns a channel, its message window, voice participants, read state and webhooks.
type channelOwner struct {
	ownerBase
	channel   *stoatpb.Channel
	window    *MessageWindow
	voice     *stoatpb.ChannelVoiceState
	webhooks  []string
	readState *stoatpb.ChannelUnread
}

func (o *channelOwner) Receive(ctx actors.Context, msg any) {
	o.ctx = ctx
	switch m := msg.(type) {
	case *Dispatch:
		o.dispatch(m, o)
	case *seedChannel:
		o.setChannel(m.channel)
		if m.voice != nil {
			o.setVoice(m.voice)
		}
		if m.readState != nil {
			o.readState = m.readState
			o.store().readStates.set(o.key.ID, m.readState)
		}
		done(m.barrier)
	case drop:
		o.Reset()
	case removeVoice:
		o.removeParticipant(m.user)
	case stripRole:
		if o.channel != nil && slices.ContainsFunc(o.channel.RolePermissions, func(r *stoatpb.RoleOverride) bool { return r.RoleId == m.role }) {
			n := o.channel.ShallowClone()
			n.RolePermissions = slices.DeleteFunc(slices.Clone(n.RolePermissions), func(r *stoatpb.RoleOverride) bool { return r.RoleId == m.role })
			o.setChannel(n)
		}
	case wipeUser:
		o.wipe(m.user)
	}
}

// Reset drops everything the channel owner caches.
func (o *channelOwner) Reset() {
	s, id := o.store(), o.key.ID
	s.channels.del(id)
	s.messages.del(id)
	s.voice.del(id)
	s.readStates.del(id)
	for _, w := range o.webhooks {
		s.webhooks.del(w)
	}
	o.channel, o.window, o.voice, o.webhooks, o.readState = nil, nil, nil, nil, nil
}

func (o *channelOwner) setChannel(c *stoatpb.Channel) {
	o.channel = c
	o.store().channels.set(o.key.ID, c)
}

func (o *channelOwner) setVoice(v *stoatpb.ChannelVoiceState) {
	if o.deps.Policy.NoVoice {
		return
	}
	o.voice = v
	o.store().voice.set(o.key.ID, v)
}

func (o *channelOwner) setWindow(w *MessageWindow) {
	o.window = w
	o.store().messages.set(o.key.ID, w)
}

func (o *channelOwner) find(id string) *stoatpb.Message {
	if o.window == nil {
		return nil
	}
	return o.window.Find(id)
}

func (o *channelOwner) participant(user string) *stoatpb.UserVoiceState {
	for _, p := range o.voice.GetParticipants() {
		if p.GetId() == user {
			return p
		}
	}
	return nil
}

func (o *channelOwner) withParticipant(s *stoatpb.UserVoiceState) {
	v := &stoatpb.ChannelVoiceState{Id: o.key.ID}
	for _, p := range o.voice.GetParticipants() {
		if p.GetId() != s.GetId() {
			v.Participants = append(v.Participants, p)
		}
	}
	v.Participants = append(v.Participants, s)
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

func (o *channelOwner) wipe(user string) {
	if o.window != nil {
		ids := map[string]bool{}
		for _, m := range o.window.msgs {
			if m.GetAuthor() == user {
				ids[m.GetId()] = true
			}
		}
		if len(ids) > 0 {
			o.setWindow(o.window.without(ids))
		}
	}
	if o.channel.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE && slices.Contains(o.channel.GetRecipients(), user) {
		o.Reset()
		return
	}
	o.removeParticipant(user)
}

// BeforeDispatch implements dispatch.Hooks.
func (o *channelOwner) BeforeDispatch(ev stoatpb.Event) {
	switch e := ev.(type) {
	case *stoatpb.MessageUpdateEvent:
		if e.Before = o.find(e.MessageId); e.Before != nil {
			e.After = applyMessage(e.Before, e.Message, e.Clear)
		}
	case *stoatpb.MessageAppendEvent:
		e.Message = o.find(e.MessageId)
	case *stoatpb.MessageDeleteEvent:
		e.Message = o.find(e.MessageId)
	case *stoatpb.MessageDeleteBulkEvent:
		for _, id := range e.MessageIds {
			if m := o.find(id); m != nil {
				e.Messages = append(e.Messages, m)
			}
		}
	case *stoatpb.MessageReactEvent:
		e.Message = o.find(e.MessageId)
	case *stoatpb.MessageUnreactEvent:
		e.Message = o.find(e.MessageId)
	case *stoatpb.MessageClearReactionEvent:
		e.Message = o.find(e.MessageId)
	case *stoatpb.ChannelUpdateEvent:
		if e.Before = o.channel; e.Before != nil {
			e.After = applyChannel(e.Before, e.Channel, e.Clear)
		}
	case *stoatpb.ChannelDeleteEvent:
		e.Channel = o.channel
	case *stoatpb.GroupRecipientAddEvent:
		e.Group = o.channel
	case *stoatpb.GroupRecipientRemoveEvent:
		e.Group = o.channel
	case *stoatpb.VoiceChannelLeaveEvent:
		e.Container, e.State = o.voice, o.participant(e.UserId)
	case *stoatpb.VoiceChannelMoveEvent:
		e.NewContainer = o.voice
	case *stoatpb.UserVoiceStateUpdateEvent:
		e.Container = o.voice
		if e.Before = o.participant(e.UserId); e.Before != nil {
			e.After = applyVoiceState(e.Before, e.State)
		}
	case *stoatpb.WebhookUpdateEvent:
		if e.Before = o.store().webhooks.get(e.WebhookId); e.Before != nil {
			e.After = applyWebhook(e.Before, e.Webhook, e.Remove)
		}
	case *stoatpb.WebhookDeleteEvent:
		e.Webhook = o.store().webhooks.get(e.WebhookId)
	}
}

// Process implements dispatch.Hooks.
func (o *channelOwner) Process(ev stoatpb.Event) {
	s := o.store()
	switch e := ev.(type) {
	case *stoatpb.MessageCreateEvent:
		o.messageCreated(e.GetMessage())
	case *stoatpb.MessageUpdateEvent:
		if e.After != nil {
			o.setWindow(o.window.with(e.After, o.deps.Policy.messageLimit()))
		}
	case *stoatpb.MessageAppendEvent:
		if e.Message != nil {
			n := e.Message.ShallowClone()
			n.Embeds = append(slices.Clone(n.Embeds), e.GetData().GetEmbeds()...)
			o.setWindow(o.window.with(n, o.deps.Policy.messageLimit()))
		}
	case *stoatpb.MessageDeleteEvent:
		if e.Message != nil {
			o.setWindow(o.window.without(map[string]bool{e.MessageId: true}))
		}
	case *stoatpb.MessageDeleteBulkEvent:
		if len(e.Messages) > 0 {
			ids := map[string]bool{}
			for _, id := range e.MessageIds {
				ids[id] = true
			}
			o.setWindow(o.window.without(ids))
		}
	case *stoatpb.MessageReactEvent:
		if e.Message != nil {
			o.setWindow(o.window.with(react(e.Message, e.Emoji, e.UserId, true), o.deps.Policy.messageLimit()))
		}
	case *stoatpb.MessageUnreactEvent:
		if e.Message != nil {
			o.setWindow(o.window.with(react(e.Message, e.Emoji, e.UserId, false), o.deps.Policy.messageLimit()))
		}
	case *stoatpb.MessageClearReactionEvent:
		if e.Message != nil {
			n := e.Message.ShallowClone()
			n.Reactions = slices.DeleteFunc(slices.Clone(n.Reactions), func(r *stoatpb.Reaction) bool { return r.Emoji == e.Emoji })
			o.setWindow(o.window.with(n, o.deps.Policy.messageLimit()))
		}
	case stoatpb.ChannelCreateEvent:
		o.setChannel(e.GetChannel())
	case *stoatpb.ChannelUpdateEvent:
		if e.After != nil {
			o.setChannel(e.After)
		}
	case *stoatpb.ChannelDeleteEvent:
		o.Reset()
	case *stoatpb.GroupRecipientAddEvent:
		if o.channel != nil && !slices.Contains(o.channel.Recipients, e.UserId) {
			n := o.channel.ShallowClone()
			n.Recipients = append(slices.Clone(n.Recipients), e.UserId)
			o.setChannel(n)
		}
	case *stoatpb.GroupRecipientRemoveEvent:
		if me := s.Me(); me != nil && me.GetId() == e.UserId {
			o.Reset()
		} else if o.channel != nil {
			n := o.channel.ShallowClone()
			n.Recipients = slices.DeleteFunc(slices.Clone(n.Recipients), func(u string) bool { return u == e.UserId })
			o.setChannel(n)
		}
	case *stoatpb.MessageAckEvent:
		rs := &stoatpb.ChannelUnread{Id: &stoatpb.ChannelCompositeKey{Channel: e.ChannelId, User: e.UserId}, LastId: e.MessageId}
		o.readState = rs
		s.readStates.set(o.key.ID, rs)
	case *stoatpb.VoiceChannelJoinEvent:
		o.withParticipant(e.GetState())
	case *stoatpb.VoiceChannelLeaveEvent:
		o.removeParticipant(e.UserId)
	case *stoatpb.VoiceChannelMoveEvent:
		o.withParticipant(e.GetState())
	case *stoatpb.UserVoiceStateUpdateEvent:
		if e.After != nil {
			o.withParticipant(e.After)
		}
	case *stoatpb.WebhookCreateEvent:
		o.webhooks = append(o.webhooks, e.GetWebhook().GetId())
		s.webhooks.set(e.GetWebhook().GetId(), e.GetWebhook())
	case *stoatpb.WebhookUpdateEvent:
		if e.After != nil {
			s.webhooks.set(e.WebhookId, e.After)
		}
	case *stoatpb.WebhookDeleteEvent:
		s.webhooks.del(e.WebhookId)
		o.webhooks = slices.DeleteFunc(o.webhooks, func(w string) bool { return w == e.WebhookId })
	}
}

func (o *channelOwner) messageCreated(m *stoatpb.Message) {
	if limit := o.deps.Policy.messageLimit(); limit > 0 {
		cached := m
		if m.User != nil || m.Member != nil {
			// The author and membership snapshots live in their own owners' caches.
			cached = m.ShallowClone()
			cached.User, cached.Member = nil, nil
		}
		w := o.window
		if w == nil {
			w = &MessageWindow{}
		}
		o.setWindow(w.with(cached, limit))
	}
	if o.channel != nil {
		n := o.channel.ShallowClone()
		n.LastMessageId = m.GetId()
		if n.ChannelType == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE {
			n.Active = true
		}
		o.setChannel(n)
	}
}

// react returns m with user added to (or removed from) the reactions of emoji. Adding is
// idempotent: a replayed reaction is not counted twice (stoat.py appends it again).
func react(m *stoatpb.Message, emoji, user string, add bool) *stoatpb.Message {
	n := m.ShallowClone()
	n.Reactions = slices.Clone(n.Reactions)
	i := slices.IndexFunc(n.Reactions, func(r *stoatpb.Reaction) bool { return r.Emoji == emoji })
	switch {
	case add && i < 0:
		n.Reactions = append(n.Reactions, &stoatpb.Reaction{Emoji: emoji, Users: []string{user}})
	case add && !slices.Contains(n.Reactions[i].Users, user):
		n.Reactions[i] = &stoatpb.Reaction{Emoji: emoji, Users: append(slices.Clone(n.Reactions[i].Users), user)}
	case !add && i >= 0:
		users := slices.DeleteFunc(slices.Clone(n.Reactions[i].Users), func(u string) bool { return u == user })
		if len(users) == 0 && !slices.Contains(n.GetInteractions().GetReactions(), emoji) {
			n.Reactions = slices.Delete(n.Reactions, i, i+1)
		} else {
			n.Reactions[i] = &stoatpb.Reaction{Emoji: emoji, Users: users}
		}
	}
	return n
}
