package actors

import (
	"context"
	"testing"
)

// Charge numbers each owner's events 1, 2, 3… in a stream; Processed releases cumulatively, ignores
// repeats and other streams; an owner idle long enough to be pruned starts a new stream at 1.
func TestBudgetSequencesAndAcks(t *testing.T) {
	b := NewBudget(BudgetConfig{MaxEvents: 8})
	a, c := Key{Kind: KindChannel, ID: "a"}, Key{Kind: KindChannel, ID: "c"}
	charge := func(k Key, size int64) (uint64, uint64) {
		t.Helper()
		if err := b.Acquire(context.Background(), size); err != nil {
			t.Fatal(err)
		}
		return b.Charge(k, size)
	}
	sa, s1 := charge(a, 10)
	_, s2 := charge(a, 20)
	sc, c1 := charge(c, 5)
	_, s3 := charge(a, 30)
	if s1 != 1 || s2 != 2 || s3 != 3 || c1 != 1 || sa == sc {
		t.Fatalf("a: stream %d seqs %d %d %d; c: stream %d seq %d", sa, s1, s2, s3, sc, c1)
	}
	check := func(what string, events, bytes int64, backlogA int) {
		t.Helper()
		st := b.Stats()
		if st.Events != events || st.Bytes != bytes || b.Backlog(a) != backlogA {
			t.Errorf("%s: %d events, %d bytes, a's backlog %d; want %d, %d, %d", what, st.Events, st.Bytes, b.Backlog(a), events, bytes, backlogA)
		}
	}
	check("charged", 4, 65, 3)
	b.Processed(a, sa, 2)
	check("a acked up to 2", 2, 35, 1)
	b.Processed(a, sa, 1)
	b.Processed(a, sa, 2)
	b.Processed(a, sc, 3) // not a's stream
	check("repeats and another stream", 2, 35, 1)
	b.Processed(a, sa, 3)
	b.Processed(c, sc, 1)
	check("all acked", 0, 0, 0)
	if h := b.Heaviest(5); len(h) != 0 { // prunes the idle owners
		t.Fatalf("heaviest %v", h)
	}
	if stream, seq := charge(a, 1); stream <= sc || seq != 1 {
		t.Errorf("after pruning: stream %d seq %d, want a new stream from 1", stream, seq)
	}
}

// A backlog that never drains to zero keeps its memory bounded (acks compact the queue).
func TestBudgetLongBacklog(t *testing.T) {
	b := NewBudget(BudgetConfig{MaxEvents: 1 << 20})
	k := Key{Kind: KindChannel, ID: "hot"}
	var stream uint64
	for i := range 10_000 {
		_ = b.Acquire(context.Background(), 1)
		s, seq := b.Charge(k, 1)
		stream = s
		if i >= 10 {
			b.Processed(k, stream, seq-10)
		}
	}
	l := b.shard(k).loads[k]
	if l.inFlight() != 10 || cap(l.sizes) > 1024 {
		t.Errorf("in flight %d, queue capacity %d", l.inFlight(), cap(l.sizes))
	}
}

// TestTakeOver: a budget that takes over forgets what it had in flight and numbers its next
// streams above the given one.
func TestTakeOver(t *testing.T) {
	b := NewBudget(BudgetConfig{MaxEvents: 4})
	k := Key{Kind: KindChannel, ID: "c"}
	for range 3 {
		if err := b.Acquire(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		b.Charge(k, 10)
	}
	b.TakeOver(1_000)
	if n := b.InUse(); n != 0 {
		t.Fatalf("%d in use after TakeOver", n)
	}
	if err := b.Acquire(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	if stream, seq := b.Charge(k, 10); stream <= 1_000 || seq != 1 {
		t.Errorf("charged stream %d seq %d, want a stream above 1000 and seq 1", stream, seq)
	}
}
