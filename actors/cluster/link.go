package cluster

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"google.golang.org/protobuf/proto"
)

// link is this node's ordered stream of messages to one partition grain: messages are numbered
// in the order they were delivered, sent in batches by one goroutine at a time (started when
// there is work), kept until the grain's node has taken them, and — events — until their owner
// processed them, so that they can be sent again after the grain moved.
type link struct {
	d              *Directory
	kind, identity string
	name           string // the link's name in batches: node address | kind/identity

	mu      sync.Mutex
	pid     *actor.PID // the grain's activation; nil until resolved
	epoch   uint64
	next    uint64                             // seq of the next envelope of the epoch
	queue   []item                             // numbered, not sent yet
	sent    []item                             // sent, not taken yet (BatchAck), in seq order
	batches []sentBatch                        // the batches of sent, for the delivery latency
	events  map[actors.Key][]*ownerpb.Dispatch // numbered Dispatches not processed yet, per owner in order
	keys    map[actors.Key]struct{}
	running bool // a goroutine sends
	check   bool // the topology changed: resolve the grain again
	closed  bool
}

// sentBatch is when a batch ending at seq was sent.
type sentBatch struct {
	last uint64
	at   time.Time
}

// item is one message on a link; again marks a re-send after a move.
type item struct {
	seq   uint64
	key   actors.Key
	msg   proto.Message
	again bool
}

func newLink(d *Directory, kind, identity string) *link {
	return &link{d: d, kind: kind, identity: identity, name: d.self + "|" + kind + "/" + identity, epoch: 1, next: 1,
		keys: map[actors.Key]struct{}{}, events: map[actors.Key][]*ownerpb.Dispatch{}}
}

// push queues msg for key and makes sure a goroutine sends.
func (l *link) push(key actors.Key, msg any) {
	m, ok := msg.(proto.Message)
	if !ok {
		l.d.log.Error("cluster: a message that is not of the owner protocol cannot be sent to another node; dropped", "owner", key.String())
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.queue = append(l.queue, item{seq: l.next, key: key, msg: m})
	l.next++
	if key.Kind == actors.KindServer || key.Kind == actors.KindChannel {
		l.keys[key] = struct{}{}
	}
	if d, ok := m.(*ownerpb.Dispatch); ok && d.Stream > 0 {
		l.events[key] = append(l.events[key], d)
	}
	l.kick()
}

// kick starts the sending goroutine unless it runs (l.mu held).
func (l *link) kick() {
	if !l.running && !l.closed {
		l.running = true
		go l.run()
	}
}

// stale reports whether the oldest batch not taken yet was sent longer than d ago: its grain may
// be gone without the topology saying so yet (a send to a dead node is lost silently).
func (l *link) stale(d time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.batches) > 0 && time.Since(l.batches[0].at) > d
}

// recheck makes the link resolve its grain again before it sends more.
func (l *link) recheck() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pid != nil {
		l.check = true
		l.kick()
	}
}

// run sends what is queued, resolving the grain first when needed, until nothing is left.
func (l *link) run() {
	backoff := resolveMin
	for {
		l.mu.Lock()
		if l.closed {
			l.running = false
			l.mu.Unlock()
			return
		}
		if l.pid == nil || l.check {
			l.check = false
			l.mu.Unlock()
			pid := l.d.get(l.identity, l.kind) // blocks: no lock held
			if pid == nil {
				select {
				case <-l.d.ctx.Done():
					l.mu.Lock()
					l.running = false
					l.mu.Unlock()
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, resolveMax)
				l.mu.Lock()
				l.check = true
				l.mu.Unlock()
				continue
			}
			backoff = resolveMin
			l.resolved(pid)
			continue
		}
		if len(l.queue) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		// A batch is all re-sends or none: the grain counts re-sends (Batch.redelivered).
		n, again := 1, l.queue[0].again
		for n < len(l.queue) && n < batchMax && l.queue[n].again == again {
			n++
		}
		batch := l.queue[:n:n]
		l.queue = l.queue[n:]
		l.sent = append(l.sent, batch...)
		l.batches = append(l.batches, sentBatch{last: batch[n-1].seq, at: time.Now()})
		pid, epoch := l.pid, l.epoch
		l.mu.Unlock()
		l.send(pid, epoch, batch, again)
	}
}

// send sends one batch.
func (l *link) send(pid *actor.PID, epoch uint64, batch []item, redelivered bool) {
	b := &clusterpb.Batch{Link: l.name, Epoch: epoch, First: batch[0].seq, Reply: l.d.self, Redelivered: redelivered,
		Envelopes: make([]*clusterpb.Envelope, 0, len(batch))}
	for _, it := range batch {
		om, err := ownerpb.Wrap(it.msg)
		if err != nil {
			l.d.log.Error("cluster: a message outside the owner protocol; sent empty", "owner", it.key.String(), "err", err)
			om = &ownerpb.OwnerMessage{}
		}
		b.Envelopes = append(b.Envelopes, &clusterpb.Envelope{Key: &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(it.key.Kind), Id: it.key.ID}, Message: om})
	}
	l.d.stats.batchesSent.Add(1)
	l.d.stats.envelopesSent.Add(uint64(len(batch)))
	l.d.sys.Root.Send(pid, b)
}

// resolved records where the grain is. If it moved (another activation than the one sent to),
// the link starts a new epoch: first what Hooks.Moved gives, then everything not taken and
// every event not processed, then what was queued.
func (l *link) resolved(pid *actor.PID) {
	l.mu.Lock()
	old := l.pid
	l.pid = pid
	if old == nil || (old.Address == pid.Address && old.Id == pid.Id) {
		l.mu.Unlock()
		return
	}
	keys := make([]actors.Key, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	l.mu.Unlock()

	var front []item
	if h := l.d.hooks.Moved; h != nil && len(keys) > 0 {
		slices.SortFunc(keys, func(a, b actors.Key) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID)) })
		h(keys, func(k actors.Key, msg any) {
			if m, ok := msg.(proto.Message); ok {
				front = append(front, item{key: k, msg: m})
			}
		})
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.d.stats.moves.Add(1)
	// Everything not taken, and the events taken but not processed, in their first order
	// (an event's place is its seq: events are kept in delivery order).
	again := slices.Clone(l.sent)
	notTaken := make(map[proto.Message]bool, len(l.sent)+len(l.queue))
	for _, it := range l.sent {
		notTaken[it.msg] = true
	}
	for _, it := range l.queue {
		notTaken[it.msg] = true
	}
	var lost []item // taken by the old node, not processed
	for key, evs := range l.events {
		for _, ev := range evs {
			if !notTaken[ev] {
				lost = append(lost, item{key: key, msg: ev})
			}
		}
	}
	// The events already taken came, for their owner, before everything still in sent (the
	// grain takes in order); the order between owners does not matter.
	resend := append(lost, again...)
	for i := range resend {
		resend[i].again = true
		if d, ok := resend[i].msg.(*ownerpb.Dispatch); ok && d.Stream > 0 && !d.Redelivered {
			// A copy: the one sent is shared, never changed.
			c := proto.Clone(d).(*ownerpb.Dispatch)
			c.Redelivered = true
			resend[i].msg = c
			evs := l.events[resend[i].key]
			for j, ev := range evs {
				if ev == d {
					evs[j] = c
				}
			}
		}
	}
	l.d.stats.resent.Add(uint64(len(resend)))
	all := make([]item, 0, len(front)+len(resend)+len(l.queue))
	all = append(append(append(all, front...), resend...), l.queue...)
	l.epoch++
	for i := range all {
		all[i].seq = uint64(i + 1)
	}
	l.next = uint64(len(all) + 1)
	l.queue, l.sent, l.batches = all, nil, nil
	l.d.log.Info("cluster: a partition moved; its owners are rebuilt and get again what they had not processed",
		"partition", l.kind+"/"+l.identity, "from", old.Address, "to", pid.Address, "resent", len(resend), "rebuilt", len(keys))
}

// acked drops what the grain's node took, up to seq of epoch.
func (l *link) acked(epoch, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch != l.epoch {
		return
	}
	i, _ := slices.BinarySearchFunc(l.sent, seq+1, func(it item, s uint64) int { return cmp.Compare(it.seq, s) })
	clear(l.sent[:i])
	l.sent = l.sent[i:]
	j := 0
	for j < len(l.batches) && l.batches[j].last <= seq {
		if h := l.d.hooks.Delivered; h != nil {
			h(time.Since(l.batches[j].at))
		}
		j++
	}
	l.batches = l.batches[j:]
}

// processed drops the events of key up to (stream, seq), which its owner acknowledged.
func (l *link) processed(key actors.Key, stream, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events[key]
	i := 0
	for i < len(evs) && (evs[i].Stream < stream || evs[i].Stream == stream && evs[i].Seq <= seq) {
		i++
	}
	if i == len(evs) {
		delete(l.events, key)
		return
	}
	clear(evs[:i])
	l.events[key] = evs[i:]
}

// unacked is the number of messages kept for a re-send.
func (l *link) unacked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.sent)
	for _, evs := range l.events {
		n += len(evs)
	}
	return n
}

// pending is the number of messages not taken by the grain's node yet.
func (l *link) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue) + len(l.sent)
}

// close stops the link; what it holds is dropped.
func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.queue, l.sent = nil, nil
	clear(l.events)
}
