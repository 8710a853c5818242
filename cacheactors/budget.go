package cacheactors

import (
	"math/bits"
	"sort"
	"sync/atomic"

	"github.com/ermine-rt/ermine/actors"
)

// # Global bounds (Policy.MaxMessages, Policy.MaxUsers) and their approximate LRU
//
// Owners stay the single writers of what they cache: nobody evicts from another owner's state.
// Recency is kept on a coarse logical clock (an epoch that advances after every eviction round):
// a write records the current epoch, and so does a read through the Store (one atomic load, and a
// store only when the epoch changed, so readers rarely write shared memory). Eviction then takes
// the entries with the oldest epoch first: least recently used at the granularity of one round
// (Policy bounds evict down to 95 % of the bound, so one round is about 5 % of the bound).
//
// Messages: one budget for all channels. A channel owner that publishes a window counts the
// difference in the budget. When the count passes the bound, that owner (one at a time, by an
// atomic flag) plans an eviction round: it reads every channel's message count and epoch from
// the Store, takes the least recently used channels first, and sends each of them an
// ownerpb.EvictMessages{n} request for its n oldest messages; the channels evict when they
// process the request (the requests are counted as pending, so a round is not planned twice).
// Recency is per channel, eviction within a channel is oldest first. The count may overshoot the
// bound by what arrives before the victims process their requests.
//
// Users: ids hash uniformly over the 16 user-directory partitions, so each partition gets an
// even share of the bound and evicts its own least recently used users (never the connected
// user) when it holds more than its share. Reads mark users in a touch table indexed by the id's
// hash (4 bytes a slot, one slot per bounded user rounded up to a power of two; collisions only
// make an entry look more recent than it is), writes record their epoch in the partition.

// lru holds the bookkeeping of the global bounds; its parts are nil when unbounded.
type lru struct {
	clock           atomic.Uint32
	users           atomic.Pointer[userBudget]
	msgs            atomic.Pointer[msgBudget]
	evictedUsers    atomic.Uint64
	evictedMessages atomic.Uint64
}

type userBudget struct {
	perPartition, low int
	mask              uint64
	touch             []atomic.Uint32
}

type msgBudget struct {
	limit, low    int64
	used, pending atomic.Int64
	planning      atomic.Bool
}

func (s *Store) configure(p Policy) {
	s.reads = p.Reads
	if p.MaxUsers > 0 {
		per := (p.MaxUsers + actors.UserDirPartitions - 1) / actors.UserDirPartitions
		size := 1 << bits.Len(uint(max(p.MaxUsers, 1024)-1))
		size = min(size, 1<<22)
		s.lru.users.Store(&userBudget{perPartition: per, low: max(per-per/20, 1), mask: uint64(size - 1), touch: make([]atomic.Uint32, size)})
	}
	if p.MaxMessages > 0 {
		limit := int64(p.MaxMessages)
		s.lru.msgs.Store(&msgBudget{limit: limit, low: max(limit-limit/20, 1)})
	}
}

func (l *lru) touchUser(h uint64) {
	if b := l.users.Load(); b != nil {
		touch(&b.touch[h&b.mask], l.clock.Load())
	}
}

func (l *lru) touchChannel(sl *msgSlot) {
	if l.msgs.Load() != nil {
		touch(&sl.used, l.clock.Load())
	}
}

func touch(slot *atomic.Uint32, epoch uint32) {
	if slot.Load() != epoch {
		slot.Store(epoch)
	}
}

// older reports whether epoch a is before b (the clock may wrap).
func older(a, b uint32) bool { return int32(a-b) < 0 }

// messagesChanged counts a change of delta cached messages and reports whether the budget is
// exceeded (an eviction round should be planned).
func (l *lru) messagesChanged(delta int) bool {
	b := l.msgs.Load()
	if b == nil {
		return false
	}
	used := b.used.Add(int64(delta))
	return used-b.pending.Load() > b.limit
}

// evicted records that a channel processed an eviction request of n and evicted k messages.
func (l *lru) evicted(n, k int) {
	if b := l.msgs.Load(); b != nil {
		b.pending.Add(-int64(n))
	}
	l.evictedMessages.Add(uint64(k))
}

// planMessageEviction plans one eviction round (see the comment at the top of this file): send
// is called with each victim channel and the number of its oldest messages to evict.
//
// Only one owner plans at a time; the others' additions meanwhile are seen by the planner's
// check after it lets go (or, once it has, by the next owner to add).
func (s *Store) planMessageEviction(send func(channel string, n int)) {
	b := s.lru.msgs.Load()
	if b == nil {
		return
	}
	for b.used.Load()-b.pending.Load() > b.limit && b.planning.CompareAndSwap(false, true) {
		s.planRound(b, send)
		b.planning.Store(false)
	}
}

func (s *Store) planRound(b *msgBudget, send func(channel string, n int)) {
	excess := b.used.Load() - b.pending.Load() - b.low
	if excess <= 0 {
		return
	}
	type candidate struct {
		channel string
		epoch   uint32
		n       int
	}
	var cs []candidate
	s.messages.each(func(id string, sl *msgSlot) {
		if n := sl.load().Len(); n > 0 {
			cs = append(cs, candidate{id, sl.used.Load(), n})
		}
	})
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].epoch != cs[j].epoch {
			return older(cs[i].epoch, cs[j].epoch)
		}
		return cs[i].n > cs[j].n
	})
	for _, c := range cs {
		if excess <= 0 {
			break
		}
		n := min(int64(c.n), excess)
		b.pending.Add(n)
		excess -= n
		send(c.channel, int(n))
	}
	s.lru.clock.Add(1)
}

// evictUsers returns the users of a partition to evict, least recently used first, when the
// partition holds more than its share of Policy.MaxUsers. written holds each user of the partition
// with the epoch of its last write; keep is never evicted.
func (s *Store) evictUsers(written map[string]userEntry, keep string) []string {
	b := s.lru.users.Load()
	if b == nil || len(written) <= b.perPartition {
		return nil
	}
	type candidate struct {
		id    string
		epoch uint32
	}
	cs := make([]candidate, 0, len(written))
	for id, w := range written {
		if id == keep {
			continue
		}
		e := w.epoch
		if r := b.touch[s.users.hash(id)&b.mask].Load(); older(e, r) {
			e = r
		}
		cs = append(cs, candidate{id, e})
	}
	n := len(written) - b.low
	if n > len(cs) {
		n = len(cs)
	}
	sort.Slice(cs, func(i, j int) bool { return older(cs[i].epoch, cs[j].epoch) })
	out := make([]string, n)
	for i := range out {
		out[i] = cs[i].id
	}
	s.lru.evictedUsers.Add(uint64(n))
	s.lru.clock.Add(1)
	return out
}
