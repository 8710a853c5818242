package ermine

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/actors"
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
// not delivered (the oldest missed ones are): a channel that missed more is then rebuilt (see
// Bot.Resync), so that the cache holds its newest messages; the channels beyond the bound are
// neither backfilled nor rebuilt.
//
// A re-Ready lists only your own memberships, and replaces each server's member table with
// them. The servers whose cached member table held more are rebuilt after it (Bot.Resync: the
// server, every member, every emoji; three requests in the server's own "servers" bucket of 5
// per 10 s), the largest first, at most MemberLists of them. Until a server's answer arrives
// the cache holds what the Ready says (your own membership), and the server's member events
// wait in its owner — and so does the seed of a Ready that comes meanwhile (a quick second
// reconnect), so that Ready's handlers wait for the rebuild too: seconds, when the server's
// bucket is spent.
type BackfillConfig struct {
	// Channels is how many channels are backfilled after one reconnect, the most recently
	// active first (default 250; negative: no backfill).
	Channels int
	// Messages bounds the messages fetched per channel, the oldest missed first (default 100).
	Messages int
	// Concurrency is how many channels (or servers) are fetched at once (default 8).
	Concurrency int
	// MemberLists is how many servers get their member list fetched again after a re-Ready
	// (default 100; negative: none).
	MemberLists int
}

func (c BackfillConfig) memberLists() int {
	if c.MemberLists == 0 {
		return 100
	}
	return max(c.MemberLists, 0)
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
	memberLists int
	rebuilder   *cacheactors.Rebuilder
	// open counts the gaps not closed yet (Drain waits for them); last is, per channel, the
	// end of its latest gap, so that a gap of a second reconnect waits for the first's.
	open atomic.Int64
	// channels and messages count what the backfills delivered so far, rebuilt the owners
	// rebuilt (metrics).
	channels, messages, rebuilt atomic.Uint64
	mu                          sync.Mutex
	last                        map[string]chan struct{}
}

func newBackfiller(b *Bot, cfg BackfillConfig) *backfiller {
	ctx, stop := context.WithCancel(context.Background())
	return &backfiller{b: b, ctx: ctx, stop: stop, perChannel: cmp.Or(max(cfg.Messages, 0), 100),
		concurrency: cmp.Or(max(cfg.Concurrency, 0), 8), memberLists: cfg.memberLists(), rebuilder: cacheactors.NewRebuilder(),
		last: map[string]chan struct{}{}}
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
				n, truncated := bf.fill(j.gap)
				if truncated {
					// The newest of what it missed was not fetched: the cache gets it.
					bf.logFailure(bf.rebuild(bf.ctx, actors.Key{Kind: actors.KindChannel, ID: j.gap.Channel}))
				}
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

// rebuildInBackground rebuilds, in the background, the owners of keys: the servers whose member
// lists a re-Ready left out (see BackfillConfig.MemberLists), the entities a takeover found
// without owner state.
func (bf *backfiller) rebuildInBackground(keys []actors.Key) {
	if len(keys) == 0 {
		return
	}
	bf.open.Add(1) // until the goroutine runs: Drain waits for the rebuilds
	go func() {
		defer bf.open.Add(-1)
		bf.logFailure(bf.rebuildAll(bf.ctx, keys))
	}()
}

// logFailure logs a rebuild's error, unless the bot is closing.
func (bf *backfiller) logFailure(err error) {
	if err != nil && bf.ctx.Err() == nil {
		bf.b.logger.Warn("ermine: rebuilding from the API failed; the cache keeps what it had", "err", err)
	}
}

// fill fetches the messages of g, delivers them and closes g, whatever happens; it returns how
// many it delivered, and whether it stopped at the bound with more missed.
func (bf *backfiller) fill(g *cacheactors.Gap) (n int, truncated bool) {
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
			return n, false
		}
		msgs := withAuthors(page)
		for _, m := range msgs {
			if m.GetId() > g.Until {
				return n, false // newer than the Ready: a live event brings it
			}
			if g.Deliver(m, emit) {
				n++
			}
		}
		if len(msgs) < limit {
			return n, false
		}
		after = msgs[len(msgs)-1].GetId()
	}
	return n, after < g.Until
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
