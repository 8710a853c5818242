// Package fifo is a first-in first-out queue on a slice, for the runtime's mailboxes and pools:
// no allocation per item once it has grown, and the memory of a burst given back once it drains.
package fifo

// Queue is a FIFO of T; its zero value is empty. It is not safe for concurrent use.
type Queue[T any] struct {
	items []T
	head  int
}

// maxKept is the capacity above which a drained queue drops its array.
const maxKept = 4096

// Len is the number of queued items.
func (q *Queue[T]) Len() int { return len(q.items) - q.head }

// Push adds v at the back.
func (q *Queue[T]) Push(v T) { q.items = append(q.items, v) }

// Pop takes the item at the front, and false if the queue is empty.
func (q *Queue[T]) Pop() (T, bool) {
	var zero T
	if q.head == len(q.items) {
		return zero, false
	}
	v := q.items[q.head]
	q.items[q.head] = zero // the queue must not keep a taken item alive
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > maxKept {
			q.items = nil // a burst is over: do not keep its memory
		}
	}
	return v, true
}
