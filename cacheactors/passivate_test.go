package cacheactors

import (
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// passivated passivates o and rebuilds it from its snapshot, as the directory does; it checks
// that the snapshot is a protobuf message that survives the wire and that the rebuilt owner hands
// over the same snapshot.
func passivated(t *testing.T, r *rig, o *manual) *manual {
	t.Helper()
	snap := o.Owner.(actors.Passivator).Passivate().(proto.Message)
	b, err := proto.Marshal(snap)
	if err != nil {
		t.Fatalf("%s's snapshot: %v", o.ctx.key, err)
	}
	back := snap.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, snap) {
		t.Fatalf("%s's snapshot after the wire: %v, %v", o.ctx.key, back, err)
	}
	n := &manual{Owner: protocolFactory(r.deps, r.protocol)(o.ctx.key, snap), ctx: o.ctx, seq: o.seq}
	if again := n.Owner.(actors.Passivator).Passivate().(proto.Message); !proto.Equal(again, snap) {
		t.Errorf("%s rebuilt hands over\n%v\nnot\n%v", o.ctx.key, again, snap)
	}
	// Another one: passivating n handed its state over.
	return &manual{Owner: protocolFactory(r.deps, r.protocol)(o.ctx.key, snap), ctx: o.ctx, seq: o.seq}
}

// Each kind of owner is rebuilt from its snapshot with everything it knew: the rebuilt owner
// fills before_dispatch from it and goes on where the old one stopped.
func TestPassivationSnapshots(t *testing.T) {
	r := newRig(t, Policy{MaxMessages: 100})
	var updated, roleGone, userBefore *stoatpb.Message
	handle(r, func(ev *stoatpb.MessageUpdateEvent) { updated = ev.Before })
	handle(r, func(ev *stoatpb.ServerMemberUpdateEvent) {
		roleGone = &stoatpb.Message{Content: ev.GetBefore().GetNickname()}
	})
	handle(r, func(ev *stoatpb.UserUpdateEvent) {
		userBefore = &stoatpb.Message{Content: ev.GetBefore().GetUsername()}
	})

	lounge := seededManual(t, r, channelKey(lounge))
	react := msg(lounge.ctx.key.ID, 2, alice, "kept whole")
	react.Message.Reactions = []*stoatpb.Reaction{{Emoji: emoji, Users: []string{bob}}}
	lounge.get(ownerpb.NewDispatch(msg(lounge.ctx.key.ID, 1, bob, "compact")), ownerpb.NewDispatch(react),
		&ownerpb.AdoptWebhook{Webhook: hook})
	used := r.store.lru.msgs.Load().used.Load()
	lounge = passivated(t, r, lounge)
	expect(t, "messages counted", r.store.lru.msgs.Load().used.Load(), used)
	lounge.get(ownerpb.NewDispatch(&stoatpb.MessageUpdateEvent{MessageId: msgID(1), ChannelId: lounge.ctx.key.ID, Message: &stoatpb.PartialMessage{Content: ptr("edited")}}))
	expect(t, "before_dispatch after the rebuild", updated.GetContent(), "compact")
	expectList(t, "messages", messageIDs(r.store.Messages(lounge.ctx.key.ID)), []string{msgID(1), msgID(2)})
	expect(t, "edited", r.store.Message(lounge.ctx.key.ID, msgID(1)).GetContent(), "edited")
	expectList(t, "kept whole", reactions(r.store.Message(lounge.ctx.key.ID, msgID(2)))[emoji], []string{bob})
	expectList(t, "voice", participants(r.store.VoiceStates(lounge.ctx.key.ID)), []string{alice})

	server := passivated(t, r, seededManual(t, r, serverKey(srv)))
	server.get(ownerpb.NewDispatch(&stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: srv, User: alice}, Member: &stoatpb.PartialMember{Nickname: ptr("ally")}}))
	expect(t, "member before", roleGone.GetContent(), "al")
	expect(t, "member after", r.store.Member(srv, alice).GetNickname(), "ally")
	expectList(t, "members", memberIDs(r.store.Members(srv)), []string{alice, me})

	users := passivated(t, r, seededManual(t, r, actors.UserDirKey(alice)))
	users.get(ownerpb.NewDispatch(&stoatpb.UserUpdateEvent{UserId: alice, User: &stoatpb.PartialUser{Username: ptr("alicia")}}))
	expect(t, "user before", userBefore.GetContent(), "alice")
	expect(t, "user after", r.store.User(alice).GetUsername(), "alicia")
}

// What an owner holds (a gated patch, the events behind it, events ahead of a gap) goes over in
// its snapshot, as protobuf messages, and is replayed by the rebuilt owner when the gate opens.
func TestPassivationKeepsHeldMessages(t *testing.T) {
	r, _ := gateRig(t, 0)
	o := seededManual(t, r, channelKey(lounge))
	id := seqID{router: 6, seq: 1}
	o.get(gated(id, channelKey(general), &ownerpb.RemoveVoice{User: alice}), ownerpb.NewDispatch(msg(lounge, 1, bob, "behind")))
	ahead := ownerpb.NewDispatch(msg(lounge, 3, bob, "ahead"))
	ahead.Stream, ahead.Seq = 1, 3
	o.get(ahead)
	o = passivated(t, r, o)
	expect(t, "holding", o.base().Holding(), true)
	expect(t, "lounge's messages, held", len(r.store.Messages(lounge)), 0)
	o.get(&ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: true}, ownerpb.NewDispatch(msg(lounge, 2, bob, "filled")))
	expect(t, "holding", o.base().Holding(), false)
	expect(t, "voice", len(participants(r.store.VoiceStates(lounge))), 0)
	expectList(t, "lounge's messages", messageIDs(r.store.Messages(lounge)), []string{msgID(1), msgID(2), msgID(3)})
}

// A passivated owner's snapshot says whether it holds messages; the owner rebuilt from it (as the
// directory does when it closes with such an owner dormant) lets go of them: the events are
// acknowledged, nothing waits for them.
func TestDormantHeldMessagesAreReleased(t *testing.T) {
	r, _ := gateRig(t, 0)
	acks := &ackLog{}
	r.deps.Acker = acks
	o := seededManual(t, r, channelKey(lounge))
	snap := o.Owner.(actors.Passivator).Passivate().(interface{ Holding() bool })
	expect(t, "an idle owner's snapshot holds", snap.Holding(), false)
	o = seededManual(t, r, channelKey(lounge))
	o.get(gated(seqID{router: 6, seq: 1}, channelKey(general), &ownerpb.RemoveVoice{User: alice}), ownerpb.NewDispatch(msg(lounge, 1, bob, "behind")))
	snap = o.Owner.(actors.Passivator).Passivate().(interface{ Holding() bool })
	expect(t, "a holding owner's snapshot holds", snap.Holding(), true)
	rebuilt := r.deps.NewOwner(channelKey(lounge), snap)
	held := rebuilt.(actors.Holder).Held()
	if len(held) != 2 {
		t.Fatalf("held %v, want the gated patch and the event", held)
	}
	for _, m := range held {
		rebuilt.(actors.Discarder).Discard(m)
	}
	expectList(t, "acks", acks.take(), []string{"1/1"})
}
