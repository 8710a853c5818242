package cluster

import (
	"context"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// testLink is a link of a directory that has no cluster: its goroutine is never started (running
// is set), so the test drives what it sends.
func testLink(moved func([]actors.Key, func(actors.Key, any))) *link {
	d := &Directory{hooks: Hooks{Moved: moved}, log: slog.New(slog.DiscardHandler), links: map[string]*link{}}
	d.ctx, d.stop = context.WithCancel(context.Background())
	l := newLink(d, kindOwners, "channel-1")
	l.running = true
	return l
}

func event(stream, seq uint64) *ownerpb.Dispatch {
	d := ownerpb.NewDispatch(&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: "m"}})
	d.Stream, d.Seq = stream, seq
	return d
}

// sendAll moves what is queued to sent, as the link's goroutine does.
func sendAll(l *link) {
	l.sent = append(l.sent, l.queue...)
	l.queue = nil
}

// TestMoveResendsWhatWasNotProcessed: after its grain moved, a link sends, in a new epoch
// numbered from 1, what Moved gives, then every event its owner did not acknowledge (taken by
// the dead node or not), marked redelivered, then what was queued — per owner in the first order.
func TestMoveResendsWhatWasNotProcessed(t *testing.T) {
	ch := actors.Key{Kind: actors.KindChannel, ID: "c"}
	gate := &ownerpb.Gated{Router: 9, Seq: 1}
	l := testLink(func(keys []actors.Key, emit func(actors.Key, any)) {
		if len(keys) != 1 || keys[0] != ch {
			t.Errorf("Moved got %v", keys)
		}
		emit(ch, gate)
	})
	l.pid = actor.NewPID("old:1", "p")
	e1, e2, e3, e4 := event(1, 1), event(1, 2), event(1, 3), event(1, 4)
	patch := &ownerpb.RemoveVoice{User: "u"}
	for _, m := range []any{e1, e2, patch, e3} {
		l.push(ch, m)
	}
	sendAll(l)
	l.acked(l.epoch, 3)   // e1, e2, patch taken by the node that will die
	l.processed(ch, 1, 1) // e1 processed there
	l.push(ch, e4)        // queued, not sent
	l.resolved(actor.NewPID("new:1", "p"))

	if l.epoch != 2 {
		t.Fatalf("epoch %d after the move, want 2", l.epoch)
	}
	var got []any
	for i, it := range l.queue {
		if it.seq != uint64(i+1) {
			t.Errorf("item %d has seq %d", i, it.seq)
		}
		got = append(got, it.msg)
	}
	if len(got) != 4 || got[0] != gate || got[3] != e4 {
		t.Fatalf("sent after the move: %v", got)
	}
	for i, want := range []*ownerpb.Dispatch{e2, e3} {
		d, ok := got[1+i].(*ownerpb.Dispatch)
		if !ok || d.Seq != want.Seq || !d.Redelivered {
			t.Errorf("re-sent %d: %v, want seq %d redelivered", i, got[1+i], want.Seq)
		}
		if want.Redelivered {
			t.Error("the event first sent was changed")
		}
	}
	if l.queue[3].again {
		t.Error("an event never sent is marked as a re-send")
	}
	// What the new node acknowledges is dropped, by seq and by the owner's acks.
	sendAll(l)
	l.acked(l.epoch, 4)
	l.processed(ch, 1, 4)
	if n := l.unacked(); n != 0 {
		t.Errorf("%d kept after every ack", n)
	}
}

// TestSameActivationIsNoMove: resolving the same activation again changes nothing.
func TestSameActivationIsNoMove(t *testing.T) {
	l := testLink(func([]actors.Key, func(actors.Key, any)) { t.Error("Moved called") })
	l.pid = actor.NewPID("a:1", "p")
	l.push(actors.Key{Kind: actors.KindChannel, ID: "c"}, event(1, 1))
	l.resolved(actor.NewPID("a:1", "p"))
	if l.epoch != 1 || len(l.queue) != 1 {
		t.Errorf("epoch %d, %d queued", l.epoch, len(l.queue))
	}
}

// TestGrainOf: a server's or channel's owner is in the partition FNV-1a of its id names (the same
// on every node), the others with the connection; naming one allocates nothing.
func TestGrainOf(t *testing.T) {
	d := &Directory{servers: partitionNames(actors.KindServer, 64), channels: partitionNames(actors.KindChannel, 64),
		conn0: grainName{kind: kindConn, identity: "shard-0", name: kindConn + "/shard-0"}}
	// FNV-1a of "01C1USTERCHANNE10000000029" is 10 mod 64 (computed independently).
	if g := d.grainOf(actors.Key{Kind: actors.KindChannel, ID: "01C1USTERCHANNE10000000029"}); g.identity != "channel-10" || g.kind != kindOwners {
		t.Errorf("grain %+v, want ermine-owners/channel-10", *g)
	}
	if g := d.grainOf(actors.UserDirKey("u")); g.name != "ermine-conn/shard-0" {
		t.Errorf("a user directory's grain %+v, want the connection's", *g)
	}
	key := actors.Key{Kind: actors.KindServer, ID: "01SERVER"}
	if n := testing.AllocsPerRun(100, func() { _ = d.grainOf(key) }); n != 0 {
		t.Errorf("grainOf allocates %v times", n)
	}
}
