package cacheactors

import (
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// emitFunc sends a seed or patch to an owner, from the connection's reader (Router.Route).
type emitFunc = func(actors.Key, any)

// spec is everything the cache does with one event type, declared once (events_*.go): its
// primary owner and how the router finds it, with the seeds and cascade patches it sends; what
// before_dispatch fills in the event; what process writes; the event's entries in the package
// documentation, which are generated from it (go generate); and the tests that exercise it.
type spec struct {
	owner actors.Kind
	// key says how the routing key is computed; r, w, p and py are the event's entry in the
	// package documentation ("The cache effect of every event" says what each is).
	key, r, w, p, py string
	// tests names tests that exercise the event: "TestName" or "TestName/subtest".
	tests []string

	// route returns the primary owner, having sent the seeds and patches that go before the
	// event; nil: the shard owner, with nothing else sent.
	route func(r *Router, ev stoatpb.Event, d *ownerpb.Dispatch, emit emitFunc) actors.Key
	// before and process are the owner's hooks (dispatch.Hooks), run only by an owner of the
	// spec's kind (the shard owner also gets the events whose owner cannot be known); nil: none.
	before, process func(o ownerKind, ev stoatpb.Event)
	// routes: route is the spec's own (it may send patches or keep the router's indexes), not
	// a key computed from an id.
	routes bool
}

// on is a spec with its functions typed: events of type E, owned by owners of type O. The
// primary owner is the owner of O's kind whose entity id returns, or what route returns (which
// may send seeds and patches); neither: the shard owner.
type on[O ownerKind, E stoatpb.Event] struct {
	key, r, w, p, py string
	tests            []string

	id              func(e E) string
	route           func(r *Router, e E, d *ownerpb.Dispatch, emit emitFunc) actors.Key
	before, process func(o O, e E)
}

// spec erases on's types.
func (s on[O, E]) spec() spec {
	out := spec{key: s.key, r: s.r, w: s.w, p: s.p, py: s.py, tests: s.tests}
	switch any(*new(O)).(type) {
	case *channelOwner:
		out.owner = actors.KindChannel
	case *serverOwner:
		out.owner = actors.KindServer
	case *userDirOwner:
		out.owner = actors.KindUserDir
	default:
		out.owner = actors.KindShard
	}
	// The closures capture the typed functions alone: one load less on the hot path.
	switch route, id, kind := s.route, s.id, out.owner; {
	case route != nil:
		out.routes = true
		out.route = func(r *Router, ev stoatpb.Event, d *ownerpb.Dispatch, emit emitFunc) actors.Key {
			return route(r, ev.(E), d, emit)
		}
	case id != nil:
		out.route = func(_ *Router, ev stoatpb.Event, _ *ownerpb.Dispatch, _ emitFunc) actors.Key {
			return ownerKey(kind, id(ev.(E)))
		}
	}
	if before := s.before; before != nil {
		out.before = func(o ownerKind, ev stoatpb.Event) { before(o.(O), ev.(E)) }
	}
	if process := s.process; process != nil {
		out.process = func(o ownerKind, ev stoatpb.Event) { process(o.(O), ev.(E)) }
	}
	return out
}

// ownerKey is the key of the owner of kind whose entity is id (a user's partition for users).
func ownerKey(kind actors.Kind, id string) actors.Key {
	if kind == actors.KindUserDir {
		return actors.UserDirKey(id)
	}
	return actors.Key{Kind: kind, ID: id}
}

// specs is the spec of every event type the router and the owners handle, in one table.
var specs = [stoatpb.NumEventTypes]spec{
	stoatpb.EventTypeReady:            ready,
	stoatpb.EventTypeAuthenticated:    connection,
	stoatpb.EventTypeLogout:           connection,
	stoatpb.EventTypePong:             connection,
	stoatpb.EventTypeError:            connection,
	stoatpb.EventTypeBees:             connection,
	stoatpb.EventTypeUnknown:          connection,
	stoatpb.EventTypeSessionCreate:    connection,
	stoatpb.EventTypeSessionDelete:    connection,
	stoatpb.EventTypeSessionDeleteAll: connection,

	stoatpb.EventTypePrivateChannelCreate: privateChannelCreate,
	stoatpb.EventTypeServerChannelCreate:  serverChannelCreate,
	stoatpb.EventTypeChannelUpdate:        channelUpdate,
	stoatpb.EventTypeChannelDelete:        channelDelete,
	stoatpb.EventTypeGroupRecipientAdd:    groupRecipientAdd,
	stoatpb.EventTypeGroupRecipientRemove: groupRecipientRemove,
	stoatpb.EventTypeChannelStartTyping:   channelStartTyping,
	stoatpb.EventTypeChannelStopTyping:    channelStopTyping,
	stoatpb.EventTypeMessageStartEditing:  messageStartEditing,
	stoatpb.EventTypeMessageStopEditing:   messageStopEditing,
	stoatpb.EventTypeMessageAck:           messageAck,

	stoatpb.EventTypeMessageCreate:        messageCreate,
	stoatpb.EventTypeMessageUpdate:        messageUpdate,
	stoatpb.EventTypeMessageAppend:        messageAppend,
	stoatpb.EventTypeMessageDelete:        messageDelete,
	stoatpb.EventTypeMessageDeleteBulk:    messageDeleteBulk,
	stoatpb.EventTypeMessageReact:         messageReact,
	stoatpb.EventTypeMessageUnreact:       messageUnreact,
	stoatpb.EventTypeMessageClearReaction: messageClearReaction,

	stoatpb.EventTypeServerCreate:          serverCreate,
	stoatpb.EventTypeServerUpdate:          serverUpdate,
	stoatpb.EventTypeServerDelete:          serverDelete,
	stoatpb.EventTypeServerEmojiCreate:     serverEmojiCreate,
	stoatpb.EventTypeServerEmojiUpdate:     serverEmojiUpdate,
	stoatpb.EventTypeServerEmojiDelete:     serverEmojiDelete,
	stoatpb.EventTypeServerMemberJoin:      serverMemberJoin,
	stoatpb.EventTypeServerMemberUpdate:    serverMemberUpdate,
	stoatpb.EventTypeServerMemberRemove:    serverMemberRemove,
	stoatpb.EventTypeRawServerRoleUpdate:   rawServerRoleUpdate,
	stoatpb.EventTypeServerRoleDelete:      serverRoleDelete,
	stoatpb.EventTypeServerRoleRanksUpdate: serverRoleRanksUpdate,
	stoatpb.EventTypeReportCreate:          connection,

	stoatpb.EventTypeUserUpdate:             userUpdate,
	stoatpb.EventTypeUserRelationshipUpdate: userRelationshipUpdate,
	stoatpb.EventTypeUserSettingsUpdate:     userSettingsUpdate,
	stoatpb.EventTypeUserPlatformWipe:       userPlatformWipe,

	stoatpb.EventTypeWebhookCreate: webhookCreate,
	stoatpb.EventTypeWebhookUpdate: webhookUpdate,
	stoatpb.EventTypeWebhookDelete: webhookDelete,

	stoatpb.EventTypeVoiceChannelJoin:     voiceChannelJoin,
	stoatpb.EventTypeVoiceChannelLeave:    voiceChannelLeave,
	stoatpb.EventTypeVoiceChannelMove:     voiceChannelMove,
	stoatpb.EventTypeUserVoiceStateUpdate: userVoiceStateUpdate,
	stoatpb.EventTypeUserMoveVoiceChannel: connection,
	stoatpb.EventTypeVoiceCallUpdate:      voiceCallUpdate,
	stoatpb.EventTypeUserSlowmodes:        connection,

	stoatpb.EventTypeReadyDiff: readyDiff,
}

// BeforeDispatch implements dispatch.Hooks: the event's spec fills it (if this owner owns it).
func (o *ownerBase) BeforeDispatch(ev stoatpb.Event) {
	if s := &specs[ev.EventType()]; s.before != nil && s.owner == o.key.Kind {
		s.before(o.kind, ev)
	}
}

// Process implements dispatch.Hooks: the event's spec writes its cache effect (if this owner
// owns it).
func (o *ownerBase) Process(ev stoatpb.Event) {
	if s := &specs[ev.EventType()]; s.process != nil && s.owner == o.key.Kind {
		o.writing = EventCacheContext(ev)
		s.process(o.kind, ev)
		o.writing.Event = nil // done: the owner must not keep the event (nor its strings) alive
	}
}

// Needs reports whether the runtime itself needs events of type t, whatever the handlers: the
// connection's own (its spec is the shard owner's), and those that can change the cache or the
// router's indexes (a process hook, or a route of its own). The other events (typing, editing
// indicators…) may be skipped on the wire when nothing subscribes to them.
func Needs(t stoatpb.EventType) bool {
	if t <= 0 || t >= stoatpb.NumEventTypes {
		return true
	}
	return specs[t].owner == actors.KindShard || Writes(t)
}

// Writes reports whether events of type t can change the cache or the router's indexes (a
// process hook, or a route of its own).
func Writes(t stoatpb.EventType) bool {
	if t <= 0 || t >= stoatpb.NumEventTypes {
		return false
	}
	s := &specs[t]
	return s.process != nil || s.routes
}
