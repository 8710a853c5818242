package cacheactors

import (
	"cmp"
	"slices"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Gap backfill. Stoat has no resume: the events published while a connection was away are gone,
// and the next Ready only says, per channel, the newest message id (last_message_id). The router
// compares it with the newest message id it routed for the channel; a channel whose Ready value
// is newer missed messages. Such a channel gets a Gap: right after its seed, the router sends it
// a gate of its own (a Gated without a patch, the channel itself as its primary), behind which
// the channel holds every later message, as behind any gate (gates.go). Whoever closes the gap
// fetches the missed messages (REST, from a goroutine that is not an owner) and delivers each,
// in id order, as a recovered MessageCreateEvent: the channel runs it at once, in the place of
// the gate, before what it holds (inPlaceOf). Closing the gap resolves the gate: the channel goes
// on with the events that came after the Ready. Other channels flow meanwhile.

// Gap is a channel that missed messages while the connection was away. Deliver the missed
// messages in id order, then Close it, from any one goroutine.
type Gap struct {
	// Channel is the channel's id.
	Channel string
	// After is the newest message id seen for the channel before the Ready ("" if none); Until
	// is the Ready's last_message_id. The messages missed are those with After < id ≤ Until.
	After, Until string

	me      string
	myRoles []string
	gate    seqID
	last    string // the newest id delivered
}

// IDAt returns the smallest ULID of time t: every id of an object made at t or later is at least
// as large (ids are ULIDs, time first).
func IDAt(t time.Time) string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	ms := uint64(t.UnixMilli())
	out := []byte("00000000000000000000000000")
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms&31]
		ms >>= 5
	}
	return string(out)
}

// findGaps records the gaps of a re-Ready's channels (before r.channels becomes the Ready's):
// the channels known before whose last_message_id is newer than the newest id seen, at most
// GapChannels of them, the most recently active first. It returns every channel that missed
// messages, in that order, those beyond the bound included (the ReadyDiffEvent lists them). A
// channel the router did not know is not cached: it has no gap.
func (r *Router) findGaps(channels []*stoatpb.Channel) (missed []*Gap) {
	r.gaps = nil
	for _, c := range channels {
		seen, ok := r.channels[c.GetId()]
		if !ok && r.UnknownSeen != "" {
			seen, ok = r.UnknownSeen, true
		}
		if ok && c.GetLastMessageId() > seen {
			missed = append(missed, &Gap{Channel: c.GetId(), After: seen, Until: c.GetLastMessageId(), last: seen})
		}
	}
	slices.SortFunc(missed, func(a, b *Gap) int { return cmp.Compare(b.Until, a.Until) }) // ULIDs: time order
	if n := min(len(missed), r.GapChannels); n > 0 {
		r.gaps = missed[:n]
	}
	return missed
}

// Gaps returns the gaps of the last event routed (a re-Ready), the most recently active channel
// first, and forgets them. Each must be closed: its channel holds its later events until then.
func (r *Router) Gaps() []*Gap {
	g := r.gaps
	r.gaps = nil
	return g
}

// Deliver sends m, a message of the gap's channel fetched from the API (with its author and
// member embedded, as in a Message event), to the channel as a recovered MessageCreateEvent,
// after the author and member snapshots (to their owners, as the router does for a live one). It
// reports whether m was delivered: a message outside the gap, or not newer than the last one
// delivered, is not, so that no message id is delivered twice.
func (g *Gap) Deliver(m *stoatpb.Message, emit func(actors.Key, any)) bool {
	id := m.GetId()
	if id <= g.last || id > g.Until {
		return false
	}
	g.last = id
	learnAuthor(m, emit)
	d := ownerpb.NewDispatch(&stoatpb.MessageCreateEvent{Message: m, Recovered: true})
	d.Me = g.me
	if len(m.GetRoleMentions()) > 0 {
		d.MyRoles = g.myRoles
	}
	emit(channelKey(g.Channel), d)
	return true
}

// Close ends the gap: the channel goes on with the events it held. Call it once, after the last
// Deliver, whether the backfill succeeded or not.
func (g *Gap) Close(emit func(actors.Key, any)) {
	emit(channelKey(g.Channel), &ownerpb.GateResolved{Router: g.gate.router, Seq: g.gate.seq})
}

// ownGate reports whether m is a gate of this owner's own (its own primary: a cascade to the
// primary owner itself travels on the Dispatch, never as a Gated): a gap's, or a rebuild's.
func (o *ownerBase) ownGate(m *ownerpb.Gated) bool {
	return m.Patch == nil && keyOf(m.Primary) == o.key
}

// recovered reports whether d is a message a gap's backfill recovered (unnumbered: the reader
// did not send it).
func recovered(d *ownerpb.Dispatch) bool {
	return d.Stream == 0 && d.GetMessageCreate().GetRecovered()
}

// inPlaceOf handles msg (a recovered message, a rebuild) in the place of the first of the
// owner's own gates held that match accepts: before it, behind which the owner holds what came
// after the gate — at once if the gate is the message that waits. A message whose gate is not
// held (closed already) runs in arrival order: late, but not lost.
func (o *ownerBase) inPlaceOf(match func(*ownerpb.Gated) bool, msg any) {
	if hd := o.hold; hd.holding() {
		for i := hd.head; i < len(hd.msgs); i++ {
			if g, ok := hd.msgs[i].(*ownerpb.Gated); ok && o.ownGate(g) && match(g) {
				hd.msgs = slices.Insert(hd.msgs, i, msg)
				if i == hd.head {
					o.resume()
				}
				return
			}
		}
	}
	o.inOrder(msg)
}

// anyGate matches every gate of the owner's own: a recovered message runs before its gap's.
func anyGate(*ownerpb.Gated) bool { return true }
