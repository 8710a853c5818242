package ermine

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// BackfillConfig bounds the gap backfill. Stoat has no resume: the events published while the
// connection was away are lost, and the next Ready only tells each channel's newest message id.
// After a reconnect, each cached channel whose Ready last_message_id is newer than the newest
// message the bot saw in it missed messages: the bot fetches them through its REST client
// (GET /channels/{id}/messages, after the newest seen, oldest first, with their authors) and
// runs them through the channel's owner, in id order, as ordinary MessageCreateEvents marked
// recovered (GetRecovered): before_dispatch, wait_for, handlers and the cache update run for
// them. The channel's events that arrive after the Ready wait until its backfill is over; other
// channels flow. A message is never delivered twice; a channel first seen in this Ready, or
// after the first Ready, has nothing to backfill.
//
// The defaults suit a large bot: the 250 most recently active channels with a gap, 100 messages
// each (one request: "channels" is a per-channel rate limit bucket of 15 requests per 10 s, so
// channels do not slow each other down), 8 channels at a time. The messages beyond the bound are
// not delivered (the oldest missed ones are), and neither are the channels beyond it.
type BackfillConfig struct {
	// Channels is how many channels are backfilled after one reconnect, the most recently
	// active first (default 250; negative: no backfill).
	Channels int
	// Messages bounds the messages fetched per channel, the oldest missed first (default 100).
	Messages int
	// Concurrency is how many channels are fetched at once (default 8).
	Concurrency int
}

func (c BackfillConfig) channels() int {
	if c.Channels == 0 {
		return 250
	}
	return max(c.Channels, 0)
}

// backfiller fetches and delivers the gaps of the connection's re-Readys, from goroutines of
// its own (never an owner's: the owner does not wait on the network). Its REST calls end when
// the bot closes (stop).
type backfiller struct {
	b           *Bot
	ctx         context.Context
	stop        context.CancelFunc
	perChannel  int
	concurrency int
	// open counts the gaps not closed yet (Drain waits for them); last is, per channel, the
	// end of its latest gap, so that a gap of a second reconnect waits for the first's.
	open atomic.Int64
	// channels and messages count what the backfills delivered so far (metrics).
	channels, messages atomic.Uint64
	mu                 sync.Mutex
	last               map[string]chan struct{}
}

func newBackfiller(b *Bot, cfg BackfillConfig) *backfiller {
	ctx, stop := context.WithCancel(context.Background())
	return &backfiller{b: b, ctx: ctx, stop: stop, perChannel: cmp.Or(max(cfg.Messages, 0), 100),
		concurrency: cmp.Or(max(cfg.Concurrency, 0), 8), last: map[string]chan struct{}{}}
}

// start backfills gaps (the most recently active channel first) in the background.
func (bf *backfiller) start(gaps []*cacheactors.Gap) {
	bf.open.Add(int64(len(gaps)))
	type job struct {
		gap         *cacheactors.Gap
		after, done chan struct{}
	}
	jobs := make([]job, len(gaps))
	bf.mu.Lock()
	for i, g := range gaps {
		jobs[i] = job{gap: g, after: bf.last[g.Channel], done: make(chan struct{})}
		bf.last[g.Channel] = jobs[i].done
	}
	bf.mu.Unlock()
	began := time.Now()
	var next, delivered atomic.Int64
	var wg sync.WaitGroup
	for range min(bf.concurrency, len(jobs)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				j := jobs[i]
				if j.after != nil {
					<-j.after // closed whatever happens, also when the bot closes
				}
				n := bf.fill(j.gap)
				delivered.Add(int64(n))
				bf.channels.Add(1)
				bf.messages.Add(uint64(n))
				bf.mu.Lock()
				if bf.last[j.gap.Channel] == j.done {
					delete(bf.last, j.gap.Channel)
				}
				bf.mu.Unlock()
				close(j.done)
			}
		})
	}
	go func() {
		wg.Wait()
		bf.b.logger.Info("ermine: backfilled the messages missed while disconnected", "channels", len(gaps),
			"messages", delivered.Load(), "took", time.Since(began).Round(time.Millisecond), "stopped", bf.ctx.Err() != nil)
	}()
}

// fill fetches the messages of g, delivers them and closes g, whatever happens; it returns how
// many it delivered.
func (bf *backfiller) fill(g *cacheactors.Gap) (n int) {
	emit := bf.b.dir.Deliver
	defer func() {
		g.Close(emit)
		bf.open.Add(-1)
	}()
	after := g.After
	for n < bf.perChannel {
		limit := min(100, bf.perChannel-n)
		page, err := bf.b.rest.FetchMessages(bf.ctx, g.Channel, rest.MessageQuery{After: after, Sort: rest.SortOldest, Limit: limit, IncludeUsers: true})
		if err != nil {
			if bf.ctx.Err() == nil {
				bf.b.logger.Warn("ermine: backfilling a channel failed; its missed messages are lost", "channel", g.Channel, "delivered", n, "err", err)
			}
			return n
		}
		msgs := withAuthors(page)
		for _, m := range msgs {
			if m.GetId() > g.Until {
				return n // newer than the Ready: a live event brings it
			}
			if g.Deliver(m, emit) {
				n++
			}
		}
		if len(msgs) < limit {
			return n
		}
		after = msgs[len(msgs)-1].GetId()
	}
	return n
}

// withAuthors returns the page's messages in id order, each with its author and member embedded,
// as a Message event carries them.
func withAuthors(p *rest.Messages) []*stoatpb.Message {
	users := make(map[string]*stoatpb.User, len(p.Users))
	for _, u := range p.Users {
		users[u.GetId()] = u
	}
	members := make(map[string]*stoatpb.Member, len(p.Members))
	for _, m := range p.Members {
		members[m.GetId().GetUser()] = m
	}
	msgs := slices.SortedFunc(slices.Values(p.Messages), func(a, b *stoatpb.Message) int { return cmp.Compare(a.GetId(), b.GetId()) })
	for i, m := range msgs {
		if u, mem := users[m.GetAuthor()], members[m.GetAuthor()]; (u != nil && m.User == nil) || (mem != nil && m.Member == nil) {
			n := m.ShallowClone()
			n.User, n.Member = cmp.Or(m.User, u), cmp.Or(m.Member, mem)
			msgs[i] = n
		}
	}
	return msgs
}
