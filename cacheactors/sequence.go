package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/proto/ownerpb"
)

// sequence is an owner's place in the stream of events the reader sends it (Dispatch.stream,
// seq): it applies each sequence number once and in order. A repeat (below next) is dropped and
// the owner acknowledges again what it has processed; an event ahead of next waits in early
// until the gap is filled (it is never applied out of order). A new stream starts at seq 1: the
// reader begins one only once every event of the previous stream is acknowledged. An owner that
// knows no stream yet (its first event, or its first after a passivation that kept no state)
// takes the first event it gets as its start. In one process nothing is lost, repeated or
// reordered: early stays empty there.
type sequence struct {
	stream, next uint64
	// done is the last seq of stream acknowledged.
	done  uint64
	early map[uint64]*ownerpb.Dispatch
}

// accept reports whether d is the owner's next event (and moves past it); otherwise d is a repeat
// (acknowledged again) or early (kept for later).
func (o *ownerBase) accept(d *ownerpb.Dispatch) bool {
	s := &o.seq
	switch {
	case s.stream == 0:
		s.stream, s.next = d.Stream, d.Seq
	case d.Stream > s.stream:
		// Every event of the current stream was acknowledged, so none is early.
		s.stream, s.next, s.done = d.Stream, 1, 0
	}
	switch {
	case d.Stream < s.stream || d.Seq < s.next:
		o.reack(d)
		return false
	case d.Seq > s.next:
		if s.early == nil {
			s.early = map[uint64]*ownerpb.Dispatch{}
		}
		s.early[d.Seq] = d
		return false
	}
	s.next++
	return true
}

// reack acknowledges again, for a repeat, what the owner has processed of its stream.
func (o *ownerBase) reack(d *ownerpb.Dispatch) {
	if a := o.deps.Acker; a != nil {
		if d.Stream == o.seq.stream {
			a.Processed(o.key, o.seq.stream, o.seq.done)
		} else {
			a.Processed(o.key, d.Stream, d.Seq) // an ended stream's: all of it was acknowledged
		}
	}
}

// replayEarly runs the early events that follow on from next, in order, until the owner moves
// on (Resumed goes on with the rest).
func (o *ownerBase) replayEarly() {
	s := &o.seq
	for len(s.early) > 0 {
		d := s.early[s.next]
		if d == nil {
			return
		}
		delete(s.early, s.next)
		s.next++
		if o.inOrder(d) {
			return
		}
	}
}

// takeEarly takes the early events, in sequence order (the owner stops: they are discarded).
func (s *sequence) takeEarly() []any {
	if len(s.early) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(s.early))
	for q := range s.early {
		seqs = append(seqs, q)
	}
	slices.Sort(seqs)
	out := make([]any, len(seqs))
	for i, q := range seqs {
		out[i] = s.early[q]
	}
	clear(s.early)
	return out
}
