package fifo

import "testing"

func TestQueueKeepsOrderAndReleasesBursts(t *testing.T) {
	var q Queue[int]
	if _, ok := q.Pop(); ok {
		t.Fatal("an empty queue gave an item")
	}
	for round, n := range []int{3, 10_000, 1} {
		for i := range n {
			q.Push(round*100_000 + i)
		}
		if q.Len() != n {
			t.Fatalf("len %d, want %d", q.Len(), n)
		}
		for i := range n {
			if v, ok := q.Pop(); !ok || v != round*100_000+i {
				t.Fatalf("popped %d %v, want %d", v, ok, round*100_000+i)
			}
		}
		if n > maxKept && q.items != nil {
			t.Errorf("a drained queue of %d kept its array of %d", n, cap(q.items))
		}
	}
}
