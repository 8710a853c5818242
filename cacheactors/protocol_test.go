package cacheactors

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// protocolFields are the fields of OwnerMessage's oneof: one per message of the owner protocol.
func protocolFields() protoreflect.FieldDescriptors {
	return (&ownerpb.OwnerMessage{}).ProtoReflect().Descriptor().Oneofs().ByName("message").Fields()
}

var protocolTypes = func() map[protoreflect.FullName]bool {
	types := map[protoreflect.FullName]bool{}
	fields := protocolFields()
	for i := range fields.Len() {
		types[fields.Get(i).Message().FullName()] = true
	}
	return types
}()

// protocolMessage returns the name of msg's protocol message, or an error if msg is not a pointer
// to one of the messages OwnerMessage lists.
func protocolMessage(msg any) (protoreflect.FullName, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return "", fmt.Errorf("%T is not a protobuf message", msg)
	}
	name := m.ProtoReflect().Descriptor().FullName()
	if !protocolTypes[name] {
		return "", fmt.Errorf("%T (%s) is not a message of ownerpb.OwnerMessage", msg, name)
	}
	return name, nil
}

// protocolLog records the protocol's messages an owner got, checking each; the rig's owners and
// the owners driven by hand report to it.
type protocolLog struct {
	tb   testing.TB
	mu   sync.Mutex
	seen map[protoreflect.FullName]int
}

func (l *protocolLog) check(to actors.Key, msg any) {
	name, err := protocolMessage(msg)
	if err != nil {
		l.tb.Errorf("delivered to %s: %v", to, err)
		return
	}
	l.mu.Lock()
	if l.seen == nil {
		l.seen = map[protoreflect.FullName]int{}
	}
	l.seen[name]++
	l.mu.Unlock()
}

func (l *protocolLog) count(name protoreflect.FullName) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[name]
}

// protocolOwner is a cache owner whose every message, whoever sent it (the reader, another
// owner, its own timer), is checked to be one of the protocol's.
type protocolOwner struct {
	actors.Owner
	key actors.Key
	log *protocolLog
}

// protocolFactory is deps.NewOwner with its owners' messages checked into log.
func protocolFactory(deps *Deps, log *protocolLog) actors.Factory {
	return func(key actors.Key, saved any) actors.Owner {
		return &protocolOwner{Owner: deps.NewOwner(key, saved), key: key, log: log}
	}
}

func (o *protocolOwner) Receive(ctx actors.Context, msg any) {
	o.log.check(o.key, msg)
	o.Owner.Receive(ctx, msg)
}

func (o *protocolOwner) Discard(msg any) {
	o.log.check(o.key, msg)
	o.Owner.(actors.Discarder).Discard(msg)
}

func (o *protocolOwner) Passivate() any { return o.Owner.(actors.Passivator).Passivate() }

func (o *protocolOwner) Holding() bool { return o.Owner.(actors.Holder).Holding() }

func (o *protocolOwner) Held() []any { return o.Owner.(actors.Holder).Held() }

func (o *protocolOwner) Reset() {
	if r, ok := o.Owner.(actors.Resetter); ok {
		r.Reset()
	}
}

// The rig's owners check every message they get (protocolOwner): every test on the rig walks the
// protocol. This one shows that the walk sees the messages of the owner-to-owner paths too (seed
// acks, gates and their resolutions, evictions) and that a foreign message is caught.
func TestOwnersGetOnlyProtocolMessages(t *testing.T) {
	r := newWorld(t, Policy{MaxMessages: 4})
	r.run(
		&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(1), Channel: general, Author: carol,
			User: &stoatpb.User{Id: carol, Username: "carol"}, Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: carol}}}},
		&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}},
		&stoatpb.ServerRoleDeleteEvent{ServerId: srv, RoleId: mod},
	)
	for i := 2; i < 12; i++ {
		r.run(msg(lounge, i, bob, "over the bound"))
	}
	for _, m := range []proto.Message{&ownerpb.Dispatch{}, &ownerpb.SeedServer{}, &ownerpb.SeedChannel{}, &ownerpb.SeedUsers{},
		&ownerpb.BarrierAck{}, &stoatpb.User{}, &stoatpb.Member{}, &ownerpb.Gated{}, &ownerpb.GateResolved{}, &ownerpb.EvictMessages{}} {
		name := m.ProtoReflect().Descriptor().FullName()
		if r.protocol.count(name) == 0 {
			t.Errorf("no %s seen by the owners", name)
		}
	}

	caught := &protocolLog{tb: &recordTB{TB: t}}
	caught.check(channelKey(general), struct{ patch string }{"not a protobuf message"})
	caught.check(channelKey(general), &stoatpb.Channel{})
	if got := len(caught.tb.(*recordTB).errors); got != 2 {
		t.Errorf("%d of 2 foreign messages caught", got)
	}
}

// recordTB records errors instead of failing.
type recordTB struct {
	testing.TB
	errors []string
}

func (r *recordTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Every message of the protocol is handled by some owner (none is dead): delivered to an owner
// of each kind, at least one takes it without reporting it unknown. A snapshot is not delivered
// but given to the factory: some kind passivates into it. Processed goes the other way, to the
// reader (locally a call of Deps.Acker).
func TestNoDeadProtocol(t *testing.T) {
	toReader := map[protoreflect.FullName]bool{"ermine.owner.v1.Processed": true}
	snapshots := map[protoreflect.FullName]bool{}
	for _, key := range []actors.Key{ShardKey("s0"), serverKey(srv), channelKey(general), actors.UserDirKey(me)} {
		snap := newRig(t, Policy{}).deps.NewOwner(key, nil).(actors.Passivator).Passivate()
		snapshots[snap.(proto.Message).ProtoReflect().Descriptor().FullName()] = true
	}
	// What a message needs besides its zero value to be taken (a gated patch, its gate's outcome).
	special := map[protoreflect.FullName][]any{
		"ermine.owner.v1.Dispatch": {ownerpb.NewDispatch(&stoatpb.UserSettingsUpdateEvent{})},
		"ermine.owner.v1.Gated": {&ownerpb.GateResolved{Router: 1, Seq: 1, Apply: true},
			gated(seqID{router: 1, seq: 1}, channelKey(general), &ownerpb.RemoveVoice{User: alice})},
	}
	keys := []actors.Key{ShardKey("s0"), serverKey(srv), channelKey(general), actors.UserDirKey(me)}
	fields := protocolFields()
	for i := range fields.Len() {
		name := fields.Get(i).Message().FullName()
		if toReader[name] {
			continue
		}
		if strings.HasSuffix(string(name), "Snapshot") {
			if !snapshots[name] {
				t.Errorf("%s: no owner passivates into it", name)
			}
			continue
		}
		msgs, ok := special[name]
		if !ok {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
			if err != nil {
				t.Fatal(err)
			}
			msgs = []any{mt.New().Interface()}
		}
		var takers []string
		for _, key := range keys {
			r := newRig(t, Policy{})
			o := newManual(r, key)
			o.get(msgs...)
			if r.deps.GateStats().Unknown == 0 {
				takers = append(takers, key.Kind.String())
			}
			r.deps.gates.unknown.Store(0) // expected of the other kinds: not a failure of the rig

		}
		if len(takers) == 0 {
			t.Errorf("%s: no owner handles it", name)
		}
	}
}
