package cacheactors

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ackLog is an actors.Acker that records the acknowledgements.
type ackLog struct {
	mu   sync.Mutex
	acks []string
}

func (a *ackLog) Processed(owner actors.Key, stream, seq uint64) {
	a.mu.Lock()
	a.acks = append(a.acks, fmt.Sprintf("%d/%d", stream, seq))
	a.mu.Unlock()
}

func (a *ackLog) Backlog(actors.Key) int { return 0 }

func (a *ackLog) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.acks
	a.acks = nil
	return out
}

// seqRig is a channel owner of lounge driven by hand, with its handler's runs and its
// acknowledgements recorded.
func seqRig(t *testing.T) (o *manual, ran func() []string, acks *ackLog) {
	r := newWorld(t, Policy{})
	acks = &ackLog{}
	r.deps.Acker = acks
	var mu sync.Mutex
	var seen []string
	handle(r, func(ev *stoatpb.MessageCreateEvent) {
		mu.Lock()
		seen = append(seen, ev.GetMessage().GetContent())
		mu.Unlock()
	})
	o = seededManual(t, r, channelKey(lounge))
	return o, func() []string { mu.Lock(); defer mu.Unlock(); out := seen; seen = nil; return out }, acks
}

// event is the lounge message i as event seq of stream.
func event(stream, seq uint64, i int) *ownerpb.Dispatch {
	d := ownerpb.NewDispatch(msg(lounge, i, bob, fmt.Sprint(i)))
	d.Stream, d.Seq = stream, seq
	return d
}

// An event ahead of the next sequence number waits until the gap is filled: never applied out of
// order; the acknowledgements are cumulative.
func TestSequenceGapIsBuffered(t *testing.T) {
	o, ran, acks := seqRig(t)
	o.get(event(7, 1, 1))
	expectList(t, "first", ran(), []string{"1"})
	o.get(event(7, 4, 4), event(7, 3, 3))
	expectList(t, "ahead of 2", ran(), nil)
	expect(t, "holding", o.base().Holding(), true)
	expectList(t, "acks", acks.take(), []string{"7/1"})
	o.get(event(7, 2, 2))
	expectList(t, "gap filled", ran(), []string{"2", "3", "4"})
	expectList(t, "acks", acks.take(), []string{"7/2", "7/3", "7/4"})
	expect(t, "holding", o.base().Holding(), false)
	expectList(t, "messages", messageIDs(o.base().deps.Store.Messages(lounge)), []string{msgID(1), msgID(2), msgID(3), msgID(4)})
}

// A repeat is dropped, and the owner acknowledges again what it has processed.
func TestSequenceRepeatIsDropped(t *testing.T) {
	o, ran, acks := seqRig(t)
	o.get(event(7, 1, 1), event(7, 2, 2), event(7, 2, 2), event(7, 1, 1), event(7, 3, 3))
	expectList(t, "handlers", ran(), []string{"1", "2", "3"})
	expectList(t, "acks", acks.take(), []string{"7/1", "7/2", "7/2", "7/2", "7/3"})
}

// A new stream starts at 1 (its early events wait for it); an ended stream's repeat is dropped;
// an owner that knows no stream yet starts with the first event it gets.
func TestSequenceStreams(t *testing.T) {
	o, ran, acks := seqRig(t)
	o.get(event(4, 57, 1))
	expectList(t, "a fresh owner starts anywhere", ran(), []string{"1"})
	o.get(event(9, 2, 3), event(9, 1, 2))
	expectList(t, "the next stream, in order", ran(), []string{"2", "3"})
	o.get(event(4, 58, 4))
	expectList(t, "an ended stream's", ran(), nil)
	expectList(t, "acks", acks.take(), []string{"4/57", "9/1", "9/2", "4/58"})
}

// When the owner stops, the events it holds early are handed to the directory (to discard them,
// acknowledged: Drain and Close do not wait for them).
func TestSequenceEarlyEventsAreHeld(t *testing.T) {
	o, _, acks := seqRig(t)
	o.get(event(7, 1, 1), event(7, 3, 3))
	acks.take()
	held := o.base().Held()
	if len(held) != 1 || held[0].(*ownerpb.Dispatch).Seq != 3 {
		t.Fatalf("held %v, want the early event 3", held)
	}
	o.Owner.(actors.Discarder).Discard(held[0])
	expectList(t, "acks", acks.take(), []string{"7/3"})
	expect(t, "holding", o.base().Holding(), false)
}
