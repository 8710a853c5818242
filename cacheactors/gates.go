package cacheactors

import (
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
)

// The owner protocol: how an owner waits for what another owner does without ever blocking its
// goroutine on it. Two things wait across owners — a gated cascade patch waits for the outcome
// of its event (processed or cancelled) at the primary owner, and a Ready waits for its seeds
// and drops to be applied — and both are messages: the primary owner sends a gate resolution to
// every owner that got a gated patch, the owner that applies a seed or a drop sends an ack to the
// shard owner. An owner whose next message must wait holds it, and every later message, in
// arrival order (the wire order of that owner is kept), handles the protocol's own messages at
// once, and replays what it holds when the wait is over. See the package documentation.

// seqID names a gate or a Ready barrier: the router that made it (a random number, so that two
// routers' ids cannot be confused) and its number in that router's wire order.
type seqID struct{ router, seq uint64 }

func gatedID(m *ownerpb.Gated) seqID        { return seqID{router: m.Router, seq: m.Seq} }
func barrierID(b *ownerpb.BarrierAck) seqID { return seqID{router: b.Router, seq: b.Seq} }
func gateID(g *ownerpb.Gate) seqID          { return seqID{router: g.Router, seq: g.Seq} }

// The messages of the protocol (ownerpb): only Gated is held back in wire order; GateResolved,
// GateQuery, GatePending, BarrierAck, HoldTimeout (sent by an owner's timer to the owner itself:
// protoactor's ReceiveTimeout touches the actor from the timer goroutine) and ResumeHeld (an
// owner goes on replaying what it holds after one of those messages panicked in the middle of a
// replay) are handled as soon as they arrive, whatever the owner holds.

// DefaultGateTimeout is Deps.GateTimeout's default.
const DefaultGateTimeout = 30 * time.Second

// recentGates is how many outcomes of its own gates a primary owner remembers, to answer a
// gateQuery that crossed the resolution.
const recentGates = 32

// GateStats counts what went wrong in the owner protocol: waits that took longer than
// Deps.GateTimeout, and messages an owner does not handle.
type GateStats struct {
	// Timeouts counts gated patches whose outcome had not arrived within the timeout: the owner
	// asked the event's owner for it.
	Timeouts uint64
	// GivenUp counts gated patches applied without a known outcome, when that question had no
	// answer within a second timeout (the event did happen on Stoat; only a cancel is lost).
	GivenUp uint64
	// BarrierTimeouts counts the timeouts of a Ready waiting for its seeds and drops (it goes on
	// waiting: a seed is never given up).
	BarrierTimeouts uint64
	// Unknown counts messages dropped by an owner that does not handle them (a bug, or a peer
	// of another version of the protocol); each is logged, rate-limited.
	Unknown uint64
}

type gateCounters struct {
	timeouts, givenUp, barrierTimeouts, unknown atomic.Uint64
}

// GateStats returns the counters of the owner protocol.
func (d *Deps) GateStats() GateStats {
	return GateStats{Timeouts: d.gates.timeouts.Load(), GivenUp: d.gates.givenUp.Load(), BarrierTimeouts: d.gates.barrierTimeouts.Load(),
		Unknown: d.gates.unknown.Load()}
}

func (d *Deps) gateTimeout() time.Duration {
	if d.GateTimeout > 0 {
		return d.GateTimeout
	}
	return DefaultGateTimeout
}

func (d *Deps) logger() *slog.Logger {
	switch {
	case d.Logger != nil:
		return d.Logger
	case d.Pipeline != nil && d.Pipeline.Logger != nil:
		return d.Pipeline.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// hold is an owner's state in the protocol, allocated on its first gate, ack or gated event
// (most owners never have one).
type hold struct {
	// msgs[head:] are the messages held back, in arrival order; msgs[head] is the one waiting.
	msgs []any
	head int
	// The wait for msgs[head]: which index it is for (-1: none), since when, until when before
	// the next step, and whether the gate's primary owner was asked already.
	waitAt          int
	since, deadline time.Time
	asked           bool
	timer           *time.Timer

	// outcomes: known outcomes of gates whose patch is still to be applied (held, or not arrived
	// yet: the primary runs in parallel). open: how many held gated patches each gate has.
	// lastSeq: per router, the highest gate of a gated patch received; an outcome for an older
	// gate with nothing open is a late repeat (after a re-drive) and is dropped.
	outcomes map[seqID]bool
	open     map[seqID]int
	lastSeq  map[uint64]uint64
	// recent: the outcomes of this owner's own last gates, as their primary (for GateQuery).
	recent *[recentGates]outcome
	next   int

	// acks counts the acks per barrier (shard owner); they may arrive before the Ready.
	acks map[seqID]int
}

// outcome is a gate's outcome, as its primary owner remembers it.
type outcome struct {
	id    seqID
	apply bool
}

func (h *hold) holding() bool { return h != nil && h.head < len(h.msgs) }

func (o *ownerBase) holdState() *hold {
	if o.hold == nil {
		o.hold = &hold{waitAt: -1}
	}
	return o.hold
}

// Holding implements actors.Holder: the owner holds messages back, waiting for another owner
// (or for the events missing before those it got early: sequence).
func (o *ownerBase) Holding() bool { return o.hold.holding() || len(o.seq.early) > 0 }

// Held implements actors.Holder: it takes the messages the owner holds (the directory discards
// them: it is closing) and stops the owner's timer.
func (o *ownerBase) Held() []any {
	h := o.hold
	if !h.holding() {
		return o.seq.takeEarly()
	}
	msgs := slices.Clone(h.msgs[h.head:])
	clear(h.open)
	h.release()
	return append(msgs, o.seq.takeEarly()...)
}

// release forgets the held messages (replayed or taken) and the wait.
func (h *hold) release() {
	clear(h.msgs)
	if cap(h.msgs) > 1024 {
		h.msgs = nil // a burst held behind a slow gate: do not keep its memory
	}
	h.msgs, h.head, h.waitAt, h.asked = h.msgs[:0], 0, -1, false
	if h.timer != nil {
		h.timer.Stop()
	}
}

func (h *hold) push(msg any) {
	if g, ok := msg.(*ownerpb.Gated); ok {
		if h.open == nil {
			h.open = map[seqID]int{}
		}
		h.open[gatedID(g)]++
	}
	h.msgs = append(h.msgs, msg)
}

func (h *hold) pop() any {
	msg := h.msgs[h.head]
	h.msgs[h.head] = nil
	h.head++
	if g, ok := msg.(*ownerpb.Gated); ok {
		id := gatedID(g)
		if h.open[id]--; h.open[id] <= 0 {
			delete(h.open, id)
		}
	}
	return msg
}

// arrived records a gated patch's gate as seen, and forgets outcomes of that router's earlier
// gates that nothing waits for: their patch is applied or was lost, and a router sends its
// gated patches to one owner in order.
func (h *hold) arrived(id seqID) {
	if h.lastSeq == nil {
		h.lastSeq = map[uint64]uint64{}
	}
	if id.seq <= h.lastSeq[id.router] {
		return
	}
	h.lastSeq[id.router] = id.seq
	for o := range h.outcomes {
		if o.router == id.router && o.seq < id.seq && h.open[o] == 0 {
			delete(h.outcomes, o)
		}
	}
}

// resolved records a gate's outcome, unless its patch is done with already.
func (h *hold) resolved(id seqID, apply bool) {
	if h.open[id] == 0 && id.seq <= h.lastSeq[id.router] {
		if _, known := h.outcomes[id]; !known {
			return // a repeat, or an answer that came after the patch was given up
		}
	}
	if h.outcomes == nil {
		h.outcomes = map[seqID]bool{}
	}
	h.outcomes[id] = apply
}

// remember keeps the outcome of one of the owner's own gates, for a gateQuery.
func (h *hold) remember(id seqID, apply bool) {
	if h.recent == nil {
		h.recent = new([recentGates]outcome)
	}
	h.recent[h.next] = outcome{id: id, apply: apply}
	h.next = (h.next + 1) % recentGates
}

// blocked reports whether msg cannot be handled yet: a gated patch whose outcome is unknown, a
// Ready whose seeds are not all acked. It is the only check on the hot path (a Dispatch without
// a barrier, a patch) besides holding.
func (o *ownerBase) blocked(msg any) bool {
	switch m := msg.(type) {
	case *ownerpb.Dispatch:
		return m.Barrier != nil && int64(o.hold.acksOf(barrierID(m.Barrier))) < m.Barrier.N
	case *ownerpb.Gated:
		_, known := o.hold.outcomes[gatedID(m)]
		return !known
	}
	return false
}

func (h *hold) acksOf(id seqID) int {
	if h == nil {
		return 0
	}
	return h.acks[id]
}

// receive handles the messages every owner gets: the protocol's at once, a Dispatch (runs the
// pipeline with the kind's hooks), a gated patch or any other patch in arrival order —
// held back behind a message that waits. One type switch decides, so that an event or a patch
// that waits for nothing (nearly all) costs no more than a nil check.
func (o *ownerBase) receive(ctx actors.Context, msg any) {
	o.ctx = ctx
	switch m := msg.(type) {
	case *ownerpb.Dispatch:
		if recovered(m) {
			o.inPlaceOf(anyGate, m)
			return
		}
		if o.accept(m) && !o.inOrder(m) {
			o.replayEarly()
		}
		return
	case *ownerpb.Gated:
		o.holdState().arrived(gatedID(m))
	case *ownerpb.SeedServer, *ownerpb.SeedChannel, *ownerpb.SeedUsers, *ownerpb.Drop:
		if !o.hold.holding() {
			o.applyPatch(msg)
			return
		}
	case *ownerpb.Rebuild:
		o.inPlaceOf(func(g *ownerpb.Gated) bool { return g.Router == m.Router && g.Seq == m.Seq }, m)
		return
	case *ownerpb.GateResolved:
		o.holdState().resolved(seqID{router: m.Router, seq: m.Seq}, m.Apply)
		o.resume()
		return
	case *ownerpb.BarrierAck:
		hd := o.holdState()
		if hd.acks == nil {
			hd.acks = map[seqID]int{}
		}
		hd.acks[barrierID(m)]++
		o.resume()
		return
	case *ownerpb.GateQuery:
		o.answer(m)
		return
	case *ownerpb.GatePending:
		o.stillPending(m)
		return
	case *ownerpb.HoldTimeout:
		o.timedOut()
		o.resume()
		return
	case *ownerpb.ResumeHeld:
		o.resume()
		return
	default:
		if !o.hold.holding() {
			o.writing = patchContext(msg)
			o.kind.patch(msg)
			return
		}
	}
	o.inOrder(msg)
}

// inOrder handles a message in arrival order (a Dispatch: in sequence order): at once, or held
// behind a message that waits. It reports whether the owner moved on (see dispatch).
func (o *ownerBase) inOrder(msg any) (moved bool) {
	if d, ok := msg.(*ownerpb.Dispatch); ok && d.Barrier == nil && !o.hold.holding() {
		return o.dispatch(d)
	}
	// A message that may have to wait, or that comes after one that does.
	if !o.hold.holding() && !o.blocked(msg) {
		return o.handle(msg)
	}
	hd := o.holdState()
	hd.push(msg)
	if hd.waitAt != hd.head {
		return o.resume() // the first one held (or the first since a passivation): start its wait
	}
	return false
}

// handle runs one message that does not (or no longer) wait. It reports whether the owner moved
// on (see dispatch).
func (o *ownerBase) handle(msg any) (moved bool) {
	switch m := msg.(type) {
	case *ownerpb.Dispatch:
		return o.dispatch(m)
	case *ownerpb.Gated:
		id := gatedID(m)
		ok := o.hold.outcomes[id]
		delete(o.hold.outcomes, id)
		if ok {
			o.applyPatch(unwrapPatch(m.Patch))
		}
	default:
		o.applyPatch(msg)
	}
	return false
}

// applyPatch applies a patch; a seed or drop of a Ready is acked even if applying it panics, so
// that the Ready does not wait for it forever.
func (o *ownerBase) applyPatch(msg any) {
	if b := seedBarrier(msg); b != nil {
		defer o.ack(o.ctx, b)
	}
	o.writing = patchContext(msg)
	o.kind.patch(msg)
}

// seedBarrier is the Ready barrier a seed or drop carries, or nil (callers pass patches, never a
// Dispatch, whose barrier is its own Ready's).
func seedBarrier(msg any) *ownerpb.BarrierAck {
	if m, ok := msg.(interface{ GetBarrier() *ownerpb.BarrierAck }); ok {
		return m.GetBarrier()
	}
	return nil
}

// ack sends a Ready's barrier back to its shard owner: the same message for every seed, so that
// an ack allocates nothing.
func (o *ownerBase) ack(ctx actors.Context, b *ownerpb.BarrierAck) {
	if ctx != nil {
		ctx.Deliver(keyOf(b.Shard), b)
	}
}

// resolve tells the owners that got gated patches for an event its outcome, and remembers it.
func (o *ownerBase) resolve(ctx actors.Context, g *ownerpb.Gate, apply bool) {
	if ctx != nil && len(g.Targets) > 0 {
		res := &ownerpb.GateResolved{Router: g.Router, Seq: g.Seq, Apply: apply}
		for _, k := range g.Targets {
			ctx.Deliver(keyOf(k), res)
		}
	}
	o.holdState().remember(gateID(g), apply)
}

// resume replays the held messages until one waits (or none is left). It reports whether the
// owner moved on (see dispatch): Resumed then goes on with the rest.
func (o *ownerBase) resume() (moved bool) {
	hd := o.hold
	if !hd.holding() {
		return false
	}
	finished := false
	defer func() {
		// A replayed message panicked: the directory resets the owner, and the rest of what it
		// held goes on in the next message, so that nothing waits for it forever.
		if !finished && hd.holding() {
			o.ctx.Deliver(o.key, resumeHeld)
		}
	}()
	for hd.holding() {
		if o.blocked(hd.msgs[hd.head]) {
			o.wait()
			finished = true
			return false
		}
		if o.handle(hd.pop()) {
			finished = true
			return true
		}
	}
	hd.release()
	finished = true
	return false
}

// wait starts the wait for the first held message, unless it is under way.
func (o *ownerBase) wait() {
	hd := o.hold
	if hd.waitAt == hd.head {
		return
	}
	now := time.Now()
	hd.waitAt, hd.since, hd.asked = hd.head, now, false
	o.armHold(now)
}

// armHold sets the wait's deadline one timeout from now and the owner's timer to it.
func (o *ownerBase) armHold(now time.Time) {
	hd, d := o.hold, o.deps.gateTimeout()
	hd.deadline = now.Add(d)
	if hd.timer == nil {
		ctx, key := o.ctx, o.key // Deliver is safe from any goroutine; it routes by key
		hd.timer = time.AfterFunc(d, func() { ctx.Deliver(key, holdTimeout) })
		return
	}
	hd.timer.Reset(d)
}

// timedOut takes the next step of a wait that reached its deadline (a timer message from an
// earlier wait is ignored: its deadline is not reached). A gate's first timeout asks the
// primary owner for the outcome; the second applies the patch (the event did happen on Stoat:
// only a cancel can be lost). A Ready's barrier is only logged, and waited for again: the
// seeds cannot be re-sent from here, and the Ready's handlers must see them.
func (o *ownerBase) timedOut() {
	hd := o.hold
	if !hd.holding() || hd.waitAt != hd.head {
		return
	}
	now := time.Now()
	if now.Before(hd.deadline) {
		return
	}
	d, log := o.deps, o.deps.logger()
	waited := now.Sub(hd.since).Round(time.Millisecond)
	switch m := hd.msgs[hd.head].(type) {
	case *ownerpb.Gated:
		if o.ownGate(m) {
			// A backfill or rebuild is bounded and always closes its gate (also when the bot
			// closes): wait.
			d.gateLog.Log(log, slog.LevelInfo, "gap wait", "cache: an owner still waits for the backfill of the messages it missed, or its rebuild",
				nil, "owner", o.key.String(), "waited", waited, "held", len(hd.msgs)-hd.head)
			o.armHold(now)
			return
		}
		primary := keyOf(m.Primary)
		if !hd.asked {
			hd.asked = true
			d.gates.timeouts.Add(1)
			d.gateLog.Log(log, slog.LevelWarn, "gate timeout", "cache: a cascade patch still waits for its event's outcome; asking the event's owner",
				nil, "owner", o.key.String(), "event_owner", primary.String(), "gate", m.Seq, "waited", waited, "held", len(hd.msgs)-hd.head)
			o.ctx.Deliver(primary, &ownerpb.GateQuery{Router: m.Router, Seq: m.Seq, From: pbKey(o.key)})
			o.armHold(now)
			return
		}
		d.gates.givenUp.Add(1)
		d.gateLog.Log(log, slog.LevelWarn, "gate given up", "cache: no outcome for a cascade patch's event; applying the patch",
			nil, "owner", o.key.String(), "event_owner", primary.String(), "gate", m.Seq, "waited", waited)
		hd.resolved(gatedID(m), true)
	case *ownerpb.Dispatch:
		d.gates.barrierTimeouts.Add(1)
		d.gateLog.Log(log, slog.LevelWarn, "barrier timeout", "cache: a Ready still waits for its seeds",
			nil, "owner", o.key.String(), "acked", hd.acksOf(barrierID(m.Barrier)), "seeds", m.Barrier.N, "waited", waited, "held", len(hd.msgs)-hd.head)
		o.armHold(now)
	}
}

// answer answers a gateQuery about one of this owner's gates: the outcome if it is recent, "pending"
// if the event is held here (it waits for an earlier gate itself), nothing if it is unknown (the
// asker then applies its patch after its second timeout).
func (o *ownerBase) answer(q *ownerpb.GateQuery) {
	hd := o.hold
	if hd == nil {
		return
	}
	id := seqID{router: q.Router, seq: q.Seq}
	if hd.recent != nil {
		for _, r := range hd.recent {
			if r.id == id {
				o.ctx.Deliver(keyOf(q.From), &ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: r.apply})
				return
			}
		}
	}
	for _, msg := range hd.msgs[hd.head:] {
		if d, ok := msg.(*ownerpb.Dispatch); ok && d.Gate != nil && gateID(d.Gate) == id {
			o.ctx.Deliver(keyOf(q.From), &ownerpb.GatePending{Router: id.router, Seq: id.seq})
			return
		}
	}
}

// stillPending restarts the wait of a gated patch whose event's owner says it still holds it.
func (o *ownerBase) stillPending(p *ownerpb.GatePending) {
	hd := o.hold
	if !hd.holding() || hd.waitAt != hd.head {
		return
	}
	if g, ok := hd.msgs[hd.head].(*ownerpb.Gated); ok && g.Router == p.Router && g.Seq == p.Seq && hd.asked {
		hd.asked = false
		o.armHold(time.Now())
	}
}
