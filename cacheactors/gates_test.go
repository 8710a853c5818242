package cacheactors

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// fakeCtx is the actors.Context of an owner driven by hand: it records what the owner delivers.
type fakeCtx struct {
	key actors.Key
	mu  sync.Mutex
	out []delivery
	// protocol checks what the owner delivers (protocol_test.go).
	protocol *protocolLog
}

type delivery struct {
	to  actors.Key
	msg any
}

func (c *fakeCtx) Key() actors.Key { return c.key }

func (c *fakeCtx) Deliver(to actors.Key, msg any) {
	c.protocol.check(to, msg)
	c.mu.Lock()
	c.out = append(c.out, delivery{to, msg})
	c.mu.Unlock()
}

// MoveOn implements actors.Context as the directory does: rest runs on a goroutine of its own.
func (c *fakeCtx) MoveOn(rest func()) { go rest() }

// sent returns and forgets what the owner delivered, its timer's messages left out (the tests
// send holdTimeout themselves).
func (c *fakeCtx) sent() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []delivery
	for _, d := range c.out {
		if _, timer := d.msg.(*ownerpb.HoldTimeout); !timer {
			out = append(out, d)
		}
	}
	c.out = nil
	return out
}

// manual is an owner of the rig's runtime (its store, pipeline, handlers) outside the directory,
// so that a test decides which message it gets when.
type manual struct {
	actors.Owner
	ctx *fakeCtx
	seq uint64 // the last event numbered
}

func newManual(r *rig, key actors.Key) *manual {
	return &manual{Owner: protocolFactory(r.deps, r.protocol)(key, nil), ctx: &fakeCtx{key: key, protocol: r.protocol}}
}

// seededManual is newManual with the owner's seed from the world's Ready applied (its ack
// forgotten).
func seededManual(t *testing.T, r *rig, key actors.Key) *manual {
	t.Helper()
	o := newManual(r, key)
	found := false
	NewRouter("seed").Route(worldReady(), func(k actors.Key, msg any) {
		if k == key {
			o.get(msg)
			found = true
		}
	})
	if !found {
		t.Fatalf("the world's Ready has no seed for %s", key)
	}
	o.ctx.sent()
	return o
}

// get delivers msgs to the owner, numbering the events as the reader does (stream 1) unless
// they are numbered already.
func (m *manual) get(msgs ...any) {
	for _, msg := range msgs {
		if d, ok := msg.(*ownerpb.Dispatch); ok && d.Seq == 0 {
			m.seq++
			d.Stream, d.Seq = 1, m.seq
		}
		m.Receive(m.ctx, msg)
	}
}

func (m *manual) base() *ownerBase {
	switch o := m.Owner.(*protocolOwner).Owner.(type) {
	case *channelOwner:
		return &o.ownerBase
	case *serverOwner:
		return &o.ownerBase
	case *userDirOwner:
		return &o.ownerBase
	case *shardOwner:
		return &o.ownerBase
	}
	panic("not a cache owner")
}

// gated is patch gated by the gate id of primary's event.
func gated(id seqID, primary actors.Key, patch proto.Message) *ownerpb.Gated {
	return &ownerpb.Gated{Router: id.router, Seq: id.seq, Primary: pbKey(primary), Patch: wrapPatch(patch)}
}

// sentOne fails the test unless sent is one message, equal to want, to to.
func sentOne(t *testing.T, what string, sent []delivery, to actors.Key, want proto.Message) {
	t.Helper()
	if len(sent) != 1 || sent[0].to != to || !proto.Equal(sent[0].msg.(proto.Message), want) {
		t.Fatalf("%s: sent %v, want %v to %s", what, sent, want, to)
	}
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(time.Millisecond)
	}
}

func gateRig(t *testing.T, timeout time.Duration) (*rig, *testlog.Buffer) {
	logs := &testlog.Buffer{}
	r := newRig(t, Policy{})
	r.deps.GateTimeout = timeout
	r.deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return r, logs
}

// A gated patch whose event never reaches its primary owner (simulated: the patch is delivered
// by hand, and its primary owner never got the event) must not stop its target: the target takes
// every later message at once (Pending drops to 0), holding them in order, and handles what
// concerns it meanwhile (the resolution of another gate); other owners go on. After GateTimeout
// it says so and asks the primary, and after a second timeout without an answer it applies the
// patch, then what it held, in wire order.
func TestGateNeverResolved(t *testing.T) {
	const timeout = 400 * time.Millisecond
	r, logs := gateRig(t, timeout)
	r.run(worldReady(), msg(lounge, 1, carol, "before the wipe"))

	lost := gated(seqID{router: 1, seq: 1}, channelKey("01NOBODY"), &ownerpb.WipeUser{User: carol})
	start := time.Now()
	r.dir.Deliver(channelKey(lounge), lost)
	r.ingest(
		msg(lounge, 2, carol, "after the wipe"),
		// Gated again for lounge (alice leaves it), by general, which runs it meanwhile.
		&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}},
		msg(general, 3, bob, "elsewhere"),
	)

	s := r.store
	eventually(t, "every message taken, lounge's held", timeout/2, func() bool {
		return r.dir.Pending() == 0 && r.inflight.InUse() == 1 && len(s.Messages(general)) == 1
	})
	if time.Since(start) >= timeout {
		t.Fatal("the machine was too slow to look before the timeout")
	}
	expectList(t, "lounge, held", messageIDs(s.Messages(lounge)), []string{msgID(1)})
	expectList(t, "lounge's voice, held", participants(s.VoiceStates(lounge)), []string{alice})
	expectList(t, "general's voice (the move ran)", participants(s.VoiceStates(general)), []string{alice})

	r.drain()
	if waited := time.Since(start); waited < 2*timeout {
		t.Fatalf("applied after %s, before two timeouts", waited)
	}
	expectList(t, "lounge: wiped, then the later message", messageIDs(s.Messages(lounge)), []string{msgID(2)})
	expect(t, "lounge's voice: alice moved out", len(participants(s.VoiceStates(lounge))), 0)
	expect(t, "gate stats", r.deps.GateStats(), GateStats{Timeouts: 1, GivenUp: 1})
	for _, want := range []string{"asking the event's owner", "applying the patch", "owner=channel/" + lounge, "event_owner=channel/01NOBODY"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// A gate whose resolution was lost is re-driven: its primary owner answers from the outcomes it
// keeps, and a cancelled event stays without effect (giving up would have applied the patch).
func TestGateTimeoutAsksThePrimary(t *testing.T) {
	r, _ := gateRig(t, 50*time.Millisecond)
	r.run(worldReady())
	dispatch.Handle(r.reg, func(ctx *dispatch.Context, ev *stoatpb.VoiceChannelMoveEvent) error {
		ctx.Cancel()
		return nil
	})
	r.run(&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}})
	g := seqID{router: r.router.id, seq: r.router.seq} // the move's gate, resolved "not applied"

	r.dir.Deliver(channelKey(lounge), gated(g, channelKey(general), &ownerpb.RemoveVoice{User: alice}))
	r.run(msg(lounge, 1, bob, "behind"))
	expectList(t, "lounge's voice", participants(r.store.VoiceStates(lounge)), []string{alice})
	expectList(t, "lounge's messages", messageIDs(r.store.Messages(lounge)), []string{msgID(1)})
	expect(t, "gate stats", r.deps.GateStats(), GateStats{Timeouts: 1})
}

// A resolution can arrive before its gated patch (the primary runs in parallel): it is kept until
// the patch comes, then forgotten; a repeat of it is dropped.
func TestGateResolvedBeforeItsPatch(t *testing.T) {
	t.Run("through the directory", func(t *testing.T) {
		r, _ := gateRig(t, time.Minute) // a wait would show as a drain timeout
		r.run(worldReady())
		lounge := channelKey(lounge)
		kept, applied := seqID{router: 9, seq: 1}, seqID{router: 9, seq: 2}
		r.dir.Deliver(lounge, &ownerpb.GateResolved{Router: kept.router, Seq: kept.seq, Apply: false})
		r.dir.Deliver(lounge, gated(kept, channelKey(general), &ownerpb.RemoveVoice{User: alice}))
		r.run(msg(lounge.ID, 1, bob, "x"))
		expectList(t, "voice after a cancelled gate", participants(r.store.VoiceStates(lounge.ID)), []string{alice})
		r.dir.Deliver(lounge, &ownerpb.GateResolved{Router: applied.router, Seq: applied.seq, Apply: true})
		r.dir.Deliver(lounge, gated(applied, channelKey(general), &ownerpb.RemoveVoice{User: alice}))
		r.drain()
		expect(t, "voice after an applied gate", len(participants(r.store.VoiceStates(lounge.ID))), 0)
		expectList(t, "messages", messageIDs(r.store.Messages(lounge.ID)), []string{msgID(1)})
		expect(t, "gate stats", r.deps.GateStats(), GateStats{})
	})
	t.Run("nothing is left behind", func(t *testing.T) {
		r, _ := gateRig(t, time.Minute)
		o := seededManual(t, r, channelKey(lounge))
		id := seqID{router: 9, seq: 5}
		o.get(&ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: true})
		expect(t, "outcome kept", len(o.base().hold.outcomes), 1)
		o.get(gated(id, channelKey(general), &ownerpb.RemoveVoice{User: alice}))
		expect(t, "voice", len(participants(r.store.VoiceStates(lounge))), 0)
		o.get(&ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: true}) // a repeat (an answer to a re-drive)
		h := o.base().hold
		expect(t, "outcomes left", len(h.outcomes), 0)
		expect(t, "open gates left", len(h.open), 0)
		expect(t, "holding", o.base().Holding(), false)
	})
}

// A Ready runs once every seed and drop is acked, whichever arrives first; the shard owner holds
// what comes after the Ready meanwhile, and an ack costs it no allocation.
func TestReadyBarrierAcks(t *testing.T) {
	setup := func(t *testing.T) (r *rig, shard *manual, ready *ownerpb.Dispatch, acks []any, order func() []string) {
		r = newRig(t, Policy{})
		var mu sync.Mutex
		var seen []string
		record := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
		handle(r, func(ev *stoatpb.ReadyEvent) {
			record("ready: " + strings.Join(r.store.ServerIDs(), ",") + " " + r.store.Me().GetId())
		})
		handle(r, func(ev *stoatpb.UserSettingsUpdateEvent) { record("settings") })
		router := NewRouter("s1")
		var seeds []delivery
		key, d := router.Route(worldReady(), func(k actors.Key, m any) { seeds = append(seeds, delivery{k, m}) })
		shard = newManual(r, key)
		// Every seed applied by its owner, each of which acks it to the shard owner.
		for _, s := range seeds {
			o := newManual(r, s.to)
			o.get(s.msg)
			for _, out := range o.ctx.sent() {
				if out.to != key {
					t.Fatalf("%s sent %T to %s", s.to, out.msg, out.to)
				}
				acks = append(acks, out.msg)
			}
		}
		if len(acks) != len(seeds) || d.Barrier.N != int64(len(seeds)) {
			t.Fatalf("%d acks for %d seeds, the barrier waits for %d", len(acks), len(seeds), d.Barrier.N)
		}
		return r, shard, d, acks, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(seen) }
	}
	readyLine := "ready: " + srv + " " + me

	t.Run("acks first", func(t *testing.T) {
		_, shard, ready, acks, order := setup(t)
		shard.get(acks...)
		expectList(t, "before the Ready", order(), nil)
		shard.get(ready)
		expectList(t, "handlers", order(), []string{readyLine})
		expect(t, "counts left", len(shard.base().hold.acks), 0)
	})
	t.Run("Ready first, an event behind it", func(t *testing.T) {
		_, shard, ready, acks, order := setup(t)
		shard.get(ready, ownerpb.NewDispatch(&stoatpb.UserSettingsUpdateEvent{}))
		shard.get(acks[:len(acks)-1]...)
		expectList(t, "one ack missing", order(), nil)
		expect(t, "holding", shard.base().Holding(), true)
		shard.get(acks[len(acks)-1])
		expectList(t, "handlers", order(), []string{readyLine, "settings"})
		expect(t, "holding", shard.base().Holding(), false)
		expect(t, "counts left", len(shard.base().hold.acks), 0)
	})
	t.Run("an ack allocates nothing", func(t *testing.T) {
		_, shard, ready, _, _ := setup(t)
		shard.get(ready) // held: each ack also checks whether the Ready may go
		other := &ownerpb.BarrierAck{Shard: pbKey(shard.ctx.key), Router: 5, Seq: 5, N: 1 << 30}
		if n := testing.AllocsPerRun(1000, func() { shard.get(other) }); n != 0 {
			t.Errorf("%v allocations per ack", n)
		}
	})
}

// An owner that holds messages answers a question about one of its own gates still held there
// with "pending", and the asker then waits again instead of giving up.
func TestGateQueryAnsweredPending(t *testing.T) {
	r, _ := gateRig(t, time.Millisecond)
	primary, target := seededManual(t, r, channelKey(general)), seededManual(t, r, channelKey(lounge))

	// The primary holds its event behind a gate of its own.
	first, g := seqID{router: 3, seq: 1}, seqID{router: 3, seq: 2}
	move := ownerpb.NewDispatch(&stoatpb.VoiceChannelMoveEvent{UserId: alice, From: lounge, To: general, State: &stoatpb.UserVoiceState{Id: alice}})
	move.Gate = &ownerpb.Gate{Router: g.router, Seq: g.seq, Targets: []*ownerpb.OwnerKey{pbKey(target.ctx.key)}}
	primary.get(gated(first, channelKey(dm), &ownerpb.RemoveVoice{User: bob}), move)
	target.get(gated(g, primary.ctx.key, &ownerpb.RemoveVoice{User: alice}))

	timeout := func(o *manual) {
		time.Sleep(2 * time.Millisecond)
		o.get(holdTimeout)
	}
	timeout(target)
	query := &ownerpb.GateQuery{Router: g.router, Seq: g.seq, From: pbKey(target.ctx.key)}
	asked := target.ctx.sent()
	sentOne(t, "after a timeout the target", asked, primary.ctx.key, query)
	primary.get(asked[0].msg)
	answer := primary.ctx.sent()
	sentOne(t, "the primary", answer, target.ctx.key, &ownerpb.GatePending{Router: g.router, Seq: g.seq})
	target.get(answer[0].msg)
	timeout(target)
	sentOne(t, "after pending and a timeout the target", target.ctx.sent(), primary.ctx.key, query)
	expect(t, "gate stats", r.deps.GateStats(), GateStats{Timeouts: 2})
	expectList(t, "lounge's voice, still held", participants(r.store.VoiceStates(lounge)), []string{alice})

	// The primary's own gate opens: it runs its event and resolves the target's.
	primary.get(&ownerpb.GateResolved{Router: first.router, Seq: first.seq, Apply: true})
	res := primary.ctx.sent()
	sentOne(t, "the primary, its own gate open", res, target.ctx.key, &ownerpb.GateResolved{Router: g.router, Seq: g.seq, Apply: true})
	target.get(res[0].msg)
	expect(t, "lounge's voice", len(participants(r.store.VoiceStates(lounge))), 0)
	expectList(t, "general's voice", participants(r.store.VoiceStates(general)), []string{alice})
	expect(t, "holding", target.base().Holding(), false)
}

// A held message that panics while replayed does not strand the rest: the owner sends itself a
// message to go on, and the next one replays what is left.
func TestReplayGoesOnAfterAPanic(t *testing.T) {
	r, _ := gateRig(t, time.Minute)
	o := seededManual(t, r, channelKey(lounge))
	id := seqID{router: 4, seq: 1}
	o.get(gated(id, channelKey(general), &ownerpb.RemoveVoice{User: alice}),
		(*ownerpb.SeedChannel)(nil), // panics when applied
		ownerpb.NewDispatch(msg(lounge, 1, bob, "after the panic")))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the bad patch did not panic")
			}
		}()
		o.get(&ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: true})
	}()
	sent := o.ctx.sent()
	if len(sent) != 1 || sent[0].to != o.ctx.key || sent[0].msg != any(resumeHeld) {
		t.Fatalf("after the panic the owner sent %v, want resumeHeld to itself", sent)
	}
	expect(t, "voice (before the panic)", len(participants(r.store.VoiceStates(lounge))), 0)
	expect(t, "holding", o.base().Holding(), true)
	o.get(sent[0].msg)
	expectList(t, "messages", messageIDs(r.store.Messages(lounge)), []string{msgID(1)})
	expect(t, "holding", o.base().Holding(), false)
}

// Close does not wait for a gate that will never resolve: what the owner holds is discarded
// when it stops, its events acknowledged.
func TestCloseDiscardsHeldMessages(t *testing.T) {
	r, _ := gateRig(t, time.Minute)
	r.run(worldReady())
	r.dir.Deliver(channelKey(lounge), gated(seqID{router: 1, seq: 1}, channelKey("01NOBODY"), &ownerpb.RemoveVoice{User: alice}))
	r.ingest(msg(lounge, 1, bob, "never"))
	eventually(t, "the message held", 5*time.Second, func() bool { return r.dir.Pending() == 0 && r.inflight.InUse() == 1 })

	dir := r.dir
	r.dir = nil // closed here
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := dir.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s", took)
	}
	expect(t, "events in flight", r.inflight.InUse(), 0)
	if n := dir.Stats().Discarded; n < 2 {
		t.Errorf("discarded %d messages, want the gated patch and the event", n)
	}
	expect(t, "lounge's messages", len(r.store.Messages(lounge)), 0)
}

// An owner that holds messages is not idle: with passivation that keeps no state, passivating it
// would discard them.
func TestHoldingOwnerIsNotPassivated(t *testing.T) {
	const timeout = 150 * time.Millisecond
	r, _ := gateRig(t, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.dir.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r.dir = actors.NewLocal(protocolFactory(r.deps, r.protocol), actors.WithIdlePassivation(actors.KindChannel, 5*time.Millisecond),
		actors.WithStateKeptOnPassivation(false))
	r.run(worldReady())
	r.dir.Deliver(channelKey(lounge), gated(seqID{router: 1, seq: 1}, channelKey("01NOBODY"), &ownerpb.RemoveVoice{User: bob}))
	r.run(msg(lounge, 1, bob, "held for two timeouts"))
	expectList(t, "lounge's messages", messageIDs(r.store.Messages(lounge)), []string{msgID(1)})
	expect(t, "gate stats", r.deps.GateStats(), GateStats{Timeouts: 1, GivenUp: 1})
	if r.dir.Stats().Passivations == 0 {
		t.Error("no owner was passivated: the test shows nothing")
	}
}
