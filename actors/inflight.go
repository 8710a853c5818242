package actors

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/internal/ratelog"
)

// Defaults of a Budget's zero limits.
const (
	DefaultMaxInFlight      = 1 << 16
	DefaultMaxInFlightBytes = 256 << 20
	DefaultStallAfter       = time.Second
)

// Budget bounds the events that have been delivered to owners but not yet processed, across
// every owner, both in number and in bytes (their size on the wire). The connection reader
// acquires before it delivers an event and the owner acknowledges it when it is done (Acker),
// so when owners fall behind the reader slows down instead of queues growing without bound.
// Only the reader waits on it; owners never do, so it cannot deadlock.
//
// The budget also tracks each owner's backlog (what it holds of the budget), so that a stall
// says who causes it: when the reader has waited StallAfter, the budget logs the owners with the
// largest backlog (rate-limited) and counts the stall (Stats).
//
// An event larger than the whole byte budget is let through when nothing else is in flight,
// so that it cannot block the reader forever.
type Budget struct {
	maxEvents, maxBytes int64
	stallAfter          time.Duration
	logger              *slog.Logger

	events, bytes atomic.Int64
	waiting       atomic.Int32
	wake          chan struct{}

	seed    maphash.Seed
	shards  [64]loadShard
	streams atomic.Uint64 // the last stream number given

	stalls    atomic.Uint64
	stalledNs atomic.Int64
	stallFrom atomic.Int64 // UnixNano when the stall under way began; 0 when none
	stallLog  ratelog.Limiter

	observe func(time.Duration)
	charged atomic.Uint64 // events charged, for sampling
}

// BudgetConfig configures a Budget; zero fields take the defaults.
type BudgetConfig struct {
	// MaxEvents bounds the events in flight (default 65,536).
	MaxEvents int
	// MaxBytes bounds the wire bytes of the events in flight (default 256 MiB).
	MaxBytes int64
	// StallAfter is how long the reader waits before the stall is logged and counted (default 1s).
	StallAfter time.Duration
	// Logger receives the stall warnings (default: discard).
	Logger *slog.Logger
	// ObserveLatency, if set, receives for one event in LatencySampleEvery the time from its
	// Charge to its acknowledgement (routed → processed by its owner, handlers' synchronous
	// phase included): the latency of the pipeline, for a histogram.
	ObserveLatency func(time.Duration)
}

// LatencySampleEvery is how often the budget samples an event's latency (ObserveLatency): one
// clock read per sampled event, none for the others.
const LatencySampleEvery = 64

type loadShard struct {
	mu    sync.Mutex
	loads map[Key]*ownerLoad
}

// ownerLoad is one owner's share of the budget: the sizes of its events charged and not yet
// acknowledged, in sequence order, guarded by its shard's lock. The entry is kept when it drops
// to zero (re-creating it for every event of a quiet owner would allocate per event); Heaviest
// prunes the idle ones, and the owner's next event starts a new stream.
type ownerLoad struct {
	stream uint64
	// acked is the last sequence number acknowledged; sizes[head+i] is the size of event
	// acked+1+i.
	acked uint64
	sizes []int64
	head  int
	bytes int64
	// sampled is the seq of the event whose latency is being measured (0: none), charged at
	// sampledAt.
	sampled   uint64
	sampledAt time.Time
}

// inFlight is the number of the owner's events charged and not acknowledged.
func (l *ownerLoad) inFlight() int { return len(l.sizes) - l.head }

// NewBudget returns a budget.
func NewBudget(cfg BudgetConfig) *Budget {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxInFlight
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxInFlightBytes
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Budget{
		maxEvents:  int64(cfg.MaxEvents),
		maxBytes:   cfg.MaxBytes,
		stallAfter: cfg.StallAfter,
		logger:     cfg.Logger,
		wake:       make(chan struct{}, 1),
		seed:       maphash.MakeSeed(),
		stallLog:   ratelog.Limiter{Burst: 1, Interval: 10 * time.Second},
		observe:    cfg.ObserveLatency,
	}
	for i := range b.shards {
		b.shards[i].loads = map[Key]*ownerLoad{}
	}
	return b
}

// Acquire takes room for one event of size bytes, waiting while the budget is exhausted, until
// ctx ends. Then Charge says which owner the event is for, and the owner's acknowledgement
// (Processed) gives the room back.
func (b *Budget) Acquire(ctx context.Context, size int64) error {
	if b.tryAcquire(size) {
		return nil
	}
	return b.acquireSlow(ctx, size)
}

func (b *Budget) tryAcquire(size int64) bool {
	if e := b.events.Add(1); e > b.maxEvents {
		b.events.Add(-1)
		return false
	}
	if n := b.bytes.Add(size); n > b.maxBytes && n != size { // n == size: nothing else in flight
		b.bytes.Add(-size)
		b.events.Add(-1)
		return false
	}
	return true
}

func (b *Budget) acquireSlow(ctx context.Context, size int64) error {
	start := time.Now()
	stall := time.NewTimer(b.stallAfter)
	defer stall.Stop()
	stalled := false
	defer func() {
		if stalled {
			b.stallFrom.Store(0)
			b.stalledNs.Add(int64(time.Since(start)))
		}
	}()
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	for {
		// Registered as waiting before this check, so a Processed after it wakes us.
		if b.tryAcquire(size) {
			return nil
		}
		select {
		case <-b.wake:
		case <-stall.C:
			if !stalled {
				stalled = true
				b.stalls.Add(1)
				b.stallFrom.Store(start.UnixNano())
			}
			b.logStall(time.Since(start), size)
			stall.Reset(b.stallAfter)
		case <-ctx.Done():
			return fmt.Errorf("actors: waiting for in-flight budget: %w", ctx.Err())
		}
	}
}

func (b *Budget) logStall(waited time.Duration, size int64) {
	top := b.Heaviest(3)
	attrs := []any{"waited", waited.Round(time.Millisecond), "in_flight", b.events.Load(), "max_in_flight", b.maxEvents,
		"in_flight_bytes", b.bytes.Load(), "max_in_flight_bytes", b.maxBytes, "event_bytes", size}
	if len(top) > 0 {
		attrs = append(attrs, "owner", top[0].Owner.String(), "owner_backlog", top[0].Events, "owner_backlog_bytes", top[0].Bytes)
	}
	for i, o := range top[min(1, len(top)):] {
		attrs = append(attrs, fmt.Sprintf("next_%d", i+1), fmt.Sprintf("%s (%d events, %d bytes)", o.Owner, o.Events, o.Bytes))
	}
	b.stallLog.Log(b.logger, slog.LevelWarn, "stall",
		"the connection reader is stalled: the in-flight budget is spent, mostly by the owner named here (its handlers are slower than its events arrive; see Config.ConcurrentHandlersAbove)",
		nil, attrs...)
}

// Acker is where owners acknowledge the events they processed: the in-flight budget of the
// reader that sent them. In one process it is the Budget itself, called directly; across
// processes an owner would send it a Processed message with the same fields.
type Acker interface {
	// Processed acknowledges every event of owner's stream up to seq (processed, or discarded by
	// a runtime that stops), releasing their share of the budget. Repeats are harmless.
	Processed(owner Key, stream, seq uint64)
	// Backlog is the number of events for owner in flight now (charged, not acknowledged).
	Backlog(owner Key) int
}

// Charge records that the event just acquired (of size bytes) is for owner, and numbers it in
// the owner's stream: seq is 1, 2, 3… within a stream, and a stream ends only when every event
// of it is acknowledged, so that the owner can tell a gap and a repeat.
func (b *Budget) Charge(owner Key, size int64) (stream, seq uint64) {
	s := b.shard(owner)
	s.mu.Lock()
	l := s.loads[owner]
	if l == nil {
		l = &ownerLoad{stream: b.streams.Add(1)}
		s.loads[owner] = l
	}
	l.sizes = append(l.sizes, size)
	l.bytes += size
	stream, seq = l.stream, l.acked+uint64(l.inFlight())
	if b.observe != nil && l.sampled == 0 && b.charged.Add(1)%LatencySampleEvery == 0 {
		l.sampled, l.sampledAt = seq, time.Now()
	}
	s.mu.Unlock()
	return stream, seq
}

// TakeOver starts the budget afresh for a connection that takes over from another process's
// (cluster mode): what it had in flight is forgotten (acknowledged elsewhere, or lost with that
// process), and its next streams are numbered above firstStream — a number no earlier reader
// gave (a clock reading), since an owner drops an event of a stream older than its current one.
func (b *Budget) TakeOver(firstStream uint64) {
	var events, bytes int64
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for k, l := range s.loads {
			events += int64(l.inFlight())
			bytes += l.bytes
			delete(s.loads, k)
		}
		s.mu.Unlock()
	}
	for {
		cur := b.streams.Load()
		if cur >= firstStream || b.streams.CompareAndSwap(cur, firstStream) {
			break
		}
	}
	b.events.Add(-events)
	b.bytes.Add(-bytes)
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Budget) shard(owner Key) *loadShard {
	return &b.shards[maphash.String(b.seed, owner.ID)%uint64(len(b.shards))]
}

// Processed implements Acker.
func (b *Budget) Processed(owner Key, stream, seq uint64) {
	s := b.shard(owner)
	s.mu.Lock()
	l := s.loads[owner]
	if l == nil || l.stream != stream || seq <= l.acked {
		s.mu.Unlock()
		return // an earlier stream's, or a repeat
	}
	n := min(seq-l.acked, uint64(l.inFlight()))
	var size int64
	for _, sz := range l.sizes[l.head : l.head+int(n)] {
		size += sz
	}
	l.acked += n
	l.bytes -= size
	l.head += int(n)
	var latency time.Duration
	if l.sampled != 0 && l.acked >= l.sampled {
		latency, l.sampled = time.Since(l.sampledAt), 0
	}
	switch {
	case l.head == len(l.sizes):
		l.sizes, l.head = l.sizes[:0], 0
	case l.head > 64 && l.head > len(l.sizes)/2:
		// A backlog that never drains: move it to the front now and then (amortised O(1)).
		l.sizes, l.head = l.sizes[:copy(l.sizes, l.sizes[l.head:])], 0
	}
	s.mu.Unlock()
	if latency > 0 {
		b.observe(latency)
	}
	b.bytes.Add(-size)
	b.events.Add(-int64(n))
	if b.waiting.Load() > 0 {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// Backlog implements Acker.
func (b *Budget) Backlog(owner Key) int {
	s := b.shard(owner)
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.loads[owner]; l != nil {
		return l.inFlight()
	}
	return 0
}

// OwnerBacklog is what one owner holds of the budget.
type OwnerBacklog struct {
	Owner  Key
	Events int64
	Bytes  int64
}

// Heaviest returns the n owners holding most of the budget (by events), largest first.
func (b *Budget) Heaviest(n int) []OwnerBacklog {
	var all []OwnerBacklog
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for k, l := range s.loads {
			if e := l.inFlight(); e > 0 {
				all = append(all, OwnerBacklog{Owner: k, Events: int64(e), Bytes: l.bytes})
			} else {
				delete(s.loads, k) // idle: its next event starts a new stream
			}
		}
		s.mu.Unlock()
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Events != all[j].Events {
			return all[i].Events > all[j].Events
		}
		return all[i].Owner.String() < all[j].Owner.String()
	})
	return all[:min(n, len(all))]
}

// Pressure is the fraction of the budget in use, from 0 to 1: the larger of the event and byte
// fractions.
func (b *Budget) Pressure() float64 {
	return max(float64(b.events.Load())/float64(b.maxEvents), float64(b.bytes.Load())/float64(b.maxBytes))
}

// InUse is the number of events in flight.
func (b *Budget) InUse() int { return int(b.events.Load()) }

// BudgetStats is a snapshot of a Budget.
type BudgetStats struct {
	// Events and Bytes are in flight now; MaxEvents and MaxBytes are the limits.
	Events, Bytes, MaxEvents, MaxBytes int64
	// Stalls counts the times the reader waited longer than StallAfter; Stalled is the total
	// time of those waits, the one under way included.
	Stalls  uint64
	Stalled time.Duration
	// Heaviest are the owners holding most of the budget now, largest first (at most 5).
	Heaviest []OwnerBacklog
}

// Stats returns a snapshot.
func (b *Budget) Stats() BudgetStats {
	stalled := time.Duration(b.stalledNs.Load())
	if from := b.stallFrom.Load(); from != 0 {
		stalled += time.Since(time.Unix(0, from))
	}
	return BudgetStats{
		Events: b.events.Load(), Bytes: b.bytes.Load(), MaxEvents: b.maxEvents, MaxBytes: b.maxBytes,
		Stalls: b.stalls.Load(), Stalled: stalled, Heaviest: b.Heaviest(5),
	}
}
