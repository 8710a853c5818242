package ermine_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// These tests drive the in-process pipeline (Source → owners → handlers → cache) without a
// network; the connection tests over a real WebSocket are in shard_test.go.

// newBot returns a bot running on a feed, without a connection; it is closed when the test ends.
func newBot(t *testing.T, cfg ermine.Config) (*ermine.Bot, *feed.Feed) {
	t.Helper()
	b, err := ermine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b, start(t, b)
}

// start runs b on a feed, without a connection, until b is closed.
func start(t *testing.T, b *ermine.Bot) *feed.Feed {
	t.Helper()
	f, err := feed.Start(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ingest(t *testing.T, src *feed.Source, evs ...stoatpb.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := src.Ingest(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func drain(t *testing.T, f *feed.Feed) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

const (
	server  = "01SERVER000000000000000000"
	general = "01CHANNEL00000000000000000"
	me      = "01BOT000000000000000000000"
	alice   = "01ALICE0000000000000000000"
)

func ready() *stoatpb.ReadyEvent {
	return &stoatpb.ReadyEvent{
		Users: []*stoatpb.User{
			{Id: alice, Username: "alice"},
			{Id: me, Username: "bot", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER},
		},
		Servers:  []*stoatpb.Server{{Id: server, Name: "lab", Owner: alice, Channels: []string{general}}},
		Channels: []*stoatpb.Channel{{Id: general, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Server: server, Name: "general"}},
		Members:  []*stoatpb.Member{{Id: &stoatpb.MemberId{Server: server, User: me}}},
	}
}

func msgID(i int) string { return fmt.Sprintf("01MSG%021d", i) }

func message(channel string, i int, content string) *stoatpb.MessageCreateEvent {
	return &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(i), Channel: channel, Author: alice, Content: content}}
}

func edit(channel string, i int, content string) *stoatpb.MessageUpdateEvent {
	return &stoatpb.MessageUpdateEvent{MessageId: msgID(i), ChannelId: channel, Message: &stoatpb.PartialMessage{Content: &content}}
}

func TestReadySeedsTheCacheBeforeReadyHandlers(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	seen := make(chan []string, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		seen <- []string{b.Cache().Server(server).GetName(), b.Cache().Channel(general).GetName(), ev.GetMe().GetUsername()}
		return nil
	})
	ingest(t, f.Source("s0"), ready())
	got := <-seen
	if got[0] != "lab" || got[1] != "general" || got[2] != "bot" {
		t.Fatalf("Ready handler saw server %q channel %q me %q", got[0], got[1], got[2])
	}
	if b.Cache().Member(server, me) == nil || b.Cache().User(alice) == nil || b.Cache().Me().GetId() != me {
		t.Fatal("Ready did not seed members, users and me")
	}
}

// TestPerEntityOrderUnderConcurrency sends interleaved streams to many channels and checks that
// each channel's handler saw its events in order while channels ran in parallel.
func TestPerEntityOrderUnderConcurrency(t *testing.T) {
	// Handlers are ordered only within their synchronous phase; on a loaded machine a handler may
	// pass the default DetachAfter, so this test gives them a minute.
	b, f := newBot(t, ermine.Config{DetachAfter: time.Minute})
	const channels, perChannel = 64, 200
	var mu sync.Mutex
	last := map[string]int{}
	var bad atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		m := ev.GetMessage()
		var n int
		fmt.Sscanf(m.GetContent(), "%d", &n)
		mu.Lock()
		if n != last[m.GetChannel()]+1 {
			bad.Add(1)
		}
		last[m.GetChannel()] = n
		mu.Unlock()
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	id := 0
	for i := 1; i <= perChannel; i++ {
		for c := 0; c < channels; c++ {
			id++
			ingest(t, src, message(fmt.Sprintf("01CH%022d", c), id, fmt.Sprint(i)))
		}
	}
	drain(t, f)
	if bad.Load() != 0 {
		t.Fatalf("%d events out of order", bad.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for c := 0; c < channels; c++ {
		ch := fmt.Sprintf("01CH%022d", c)
		if last[ch] != perChannel {
			t.Fatalf("channel %s saw %d events", ch, last[ch])
		}
		if n := len(b.Cache().Messages(ch)); n != perChannel {
			t.Fatalf("channel %s cached %d messages", ch, n)
		}
	}
}

// TestWaitingHandlerKeepsTheEdit is stoat.py's lost update: a MessageCreate handler waits while
// the MessageUpdate of that message arrives. The edit must reach the cache, and the handler's
// own snapshot must not change under it.
func TestWaitingHandlerKeepsTheEdit(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	release := make(chan struct{})
	handlerSaw := make(chan string, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		ctx.Detach() // about to wait
		<-release
		handlerSaw <- ev.GetMessage().GetContent()
		return nil
	})
	updates := make(chan *stoatpb.MessageUpdateEvent, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageUpdateEvent) error {
		updates <- ev
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "hello"), edit(general, 1, "hello, edited"))
	up := <-updates
	if up.GetBefore().GetContent() != "hello" || up.GetAfter().GetContent() != "hello, edited" {
		t.Fatalf("update before %q after %q", up.GetBefore().GetContent(), up.GetAfter().GetContent())
	}
	drain(t, f)
	if got := b.Cache().Message(general, msgID(1)).GetContent(); got != "hello, edited" {
		t.Fatalf("cached content %q: the edit was lost", got)
	}
	close(release)
	if got := <-handlerSaw; got != "hello" {
		t.Fatalf("the waiting handler's message changed under it: %q", got)
	}
}

// TestBlockingHandlerIsDetached checks that a handler that blocks without detaching cannot hold
// back its channel: it is detached after DetachAfter.
func TestBlockingHandlerIsDetached(t *testing.T) {
	b, f := newBot(t, ermine.Config{DetachAfter: 20 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetContent() == "block" {
			<-release
		}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "block"), message(general, 2, "next"))
	drain(t, f)
	if b.Cache().Message(general, msgID(2)) == nil {
		t.Fatal("the next message was not processed")
	}
	if b.Stats().AutoDetached != 1 {
		t.Fatalf("AutoDetached = %d", b.Stats().AutoDetached)
	}
}

func TestCancelSkipsTheCacheUpdate(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageUpdateEvent) error {
		if !ctx.Cancel() || ctx.Cancel() || !ctx.IsCanceled() {
			t.Error("cancel semantics: first Cancel reports true, the second false")
		}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "original"), edit(general, 1, "edited"))
	drain(t, f)
	if got := b.Cache().Message(general, msgID(1)).GetContent(); got != "original" {
		t.Fatalf("a cancelled edit changed the cache: %q", got)
	}
	if b.Stats().Cancelled != 1 {
		t.Fatalf("Cancelled = %d", b.Stats().Cancelled)
	}
}

func TestHandlerPanicAndErrorAreIsolated(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	var after atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		panic("boom")
	})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		return errors.New("nope")
	})
	ermine.Handle(b, func(ctx *ermine.Context, ev stoatpb.ShardEvent) error {
		if ev.EventType() == stoatpb.EventTypeMessageCreate {
			after.Add(1)
		}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "a"), message(general, 2, "b"))
	drain(t, f)
	if after.Load() != 2 {
		t.Fatalf("later handlers ran %d times, want 2", after.Load())
	}
	s := b.Stats()
	if s.HandlerPanics != 2 || s.HandlerErrors != 2 {
		t.Fatalf("panics %d errors %d", s.HandlerPanics, s.HandlerErrors)
	}
	if len(b.Cache().Messages(general)) != 2 {
		t.Fatal("the cache update must still apply after a handler panics")
	}
}

func TestWaitForWithTimeoutAndCount(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	src := f.Source("s0")
	ingest(t, src, ready())

	// A timed-out wait is removed at once and does not consume later events.
	_, err := ermine.WaitFor(context.Background(), b, func(*stoatpb.MessageCreateEvent) bool { return true }, dispatch.WithTimeout(10*time.Millisecond))
	if !errors.Is(err, dispatch.ErrWaitTimeout) {
		t.Fatalf("err = %v, want ErrWaitTimeout", err)
	}
	if f.Registry().HasSubscribers(stoatpb.EventTypeMessageCreate) {
		t.Fatal("a timed-out wait is still registered")
	}

	got := make(chan []*stoatpb.MessageCreateEvent, 1)
	go func() {
		evs, err := dispatch.WaitForN(context.Background(), f.Registry(), 3, func(ev *stoatpb.MessageCreateEvent) bool {
			return ev.GetMessage().GetContent() != "skip"
		}, dispatch.WithTimeout(5*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	eventually(t, "the wait to register", func() bool { return f.Registry().HasSubscribers(stoatpb.EventTypeMessageCreate) })
	ingest(t, src, message(general, 1, "one"), message(general, 2, "skip"), message(general, 3, "two"), message(general, 4, "three"), message(general, 5, "four"))
	evs := <-got
	if len(evs) != 3 || evs[0].GetMessage().GetContent() != "one" || evs[2].GetMessage().GetContent() != "three" {
		t.Fatalf("got %v", evs)
	}
}

// TestWaitForInsideHandlerOfSameChannel checks that a handler can wait for the next message of
// its own channel (a confirmation prompt) without deadlocking the channel.
func TestWaitForInsideHandlerOfSameChannel(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	confirmed := make(chan string, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetContent() != "!ban alice" {
			return nil
		}
		reply, err := ermine.WaitFor(ctx, b, func(r *stoatpb.MessageCreateEvent) bool {
			return r.GetMessage().GetChannel() == ev.GetMessage().GetChannel() && r.GetMessage().GetContent() == "yes"
		}, dispatch.WithTimeout(5*time.Second))
		if err != nil {
			return err
		}
		confirmed <- reply.GetMessage().GetId()
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "!ban alice"))
	eventually(t, "the wait to register", func() bool {
		return b.Stats().Dispatched >= 2 && f.Registry().HasSubscribers(stoatpb.EventTypeMessageCreate)
	})
	ingest(t, src, message(general, 2, "yes"))
	select {
	case id := <-confirmed:
		if id != msgID(2) {
			t.Fatalf("confirmed by %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: the confirmation never reached the waiting handler")
	}
}

func TestCategoryHandlers(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	var creates, shard, all atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev stoatpb.ChannelCreateEvent) error {
		creates.Add(1)
		return nil
	})
	ermine.Handle(b, func(ctx *ermine.Context, ev stoatpb.ShardEvent) error {
		shard.Add(1)
		return nil
	})
	sub := ermine.Handle(b, func(ctx *ermine.Context, ev stoatpb.Event) error {
		all.Add(1)
		return nil
	})
	src := f.Source("s0")
	ingest(t, src,
		&stoatpb.PrivateChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01DM", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE}},
		&stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: "01TXT", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Server: server}},
		&stoatpb.ReportCreateEvent{Report: &stoatpb.Report{Id: "r"}},
	)
	drain(t, f)
	sub.Remove()
	ingest(t, src, &stoatpb.LogoutEvent{})
	drain(t, f)
	if creates.Load() != 2 || shard.Load() != 3 || all.Load() != 3 {
		t.Fatalf("channel_create %d shard %d all %d", creates.Load(), shard.Load(), all.Load())
	}
}

// TestIdleOwnersPassivateWithoutLoss passivates channel owners after 1ms of silence while a
// bursty stream keeps reactivating them: nothing is lost or reordered.
func TestIdleOwnersPassivateWithoutLoss(t *testing.T) {
	b, f := newBot(t, ermine.Config{ChannelIdle: time.Millisecond})
	var count atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		count.Add(1)
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	id := 0
	for burst := 0; burst < 20; burst++ {
		for c := 0; c < 20; c++ {
			id++
			ingest(t, src, message(fmt.Sprintf("01CH%022d", c), id, "x"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	drain(t, f)
	if count.Load() != 400 {
		t.Fatalf("handled %d of 400", count.Load())
	}
	for c := 0; c < 20; c++ {
		if n := len(b.Cache().Messages(fmt.Sprintf("01CH%022d", c))); n != 20 {
			t.Fatalf("channel %d cached %d of 20 across passivations", c, n)
		}
	}
	if b.Stats().Owners.Passivations == 0 {
		t.Log("no passivation happened (timing); the test still checked ordering")
	}
}

// TestBackpressure checks that when owners fall behind, Ingest waits instead of queueing without
// bound, and that typing events are shed (counted) under pressure while messages are not.
func TestBackpressure(t *testing.T) {
	b, f := newBot(t, ermine.Config{MaxInFlight: 8, DetachAfter: time.Hour})
	release := make(chan struct{})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		<-release // a slow handler that never detaches
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	for i := 1; i <= 8; i++ {
		ingest(t, src, message(general, i, "m"))
	}
	// The budget is exhausted: typing is shed, a message waits.
	ingest(t, src, &stoatpb.ChannelStartTypingEvent{ChannelId: general, UserId: alice})
	if b.Stats().ShedTyping != 1 {
		t.Fatalf("ShedTyping = %d", b.Stats().ShedTyping)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := src.Ingest(ctx, message(general, 9, "m")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ingest over budget = %v, want it to wait until its context ends", err)
	}
	close(release)
	ingest(t, src, message(general, 10, "m"))
	drain(t, f)
	if n := len(b.Cache().Messages(general)); n != 9 {
		t.Fatalf("cached %d messages, want 9 (none lost)", n)
	}
}

// TestExpectBeforeTheEvent registers a wait, lets the awaited event be processed, and only then
// waits: the event is not missed (the race a prompt-then-WaitFor handler would have).
func TestExpectBeforeTheEvent(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	src := f.Source("s0")
	ingest(t, src, ready())
	p, err := ermine.Expect(context.Background(), b, func(ev *stoatpb.MessageCreateEvent) bool {
		return ev.GetMessage().GetContent() == "yes"
	}, dispatch.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, src, message(general, 1, "yes"))
	drain(t, f)
	evs, err := p.Wait()
	if err != nil || len(evs) != 1 || evs[0].GetMessage().GetId() != msgID(1) {
		t.Fatalf("Wait = %v, %v", evs, err)
	}
}

// TestHandlersRunOnTheOwnersGoroutine checks that an event whose handlers return without
// waiting costs no goroutine: they run on the owner's own goroutine.
func TestHandlersRunOnTheOwnersGoroutine(t *testing.T) {
	b, f := newBot(t, ermine.Config{DetachAfter: time.Minute})
	var handled atomic.Int64
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		handled.Add(1)
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	const events = 5000
	before := goroutinesCreated()
	for i := 1; i <= events; i++ {
		ingest(t, src, message(general, i, "hi"))
	}
	drain(t, f)
	if n := goroutinesCreated() - before; n > events/50 {
		t.Fatalf("%d goroutines started for %d events", n, events)
	}
	if handled.Load() != events {
		t.Fatalf("%d of %d events handled", handled.Load(), events)
	}
}

// TestDetachMovesTheOwnerOn: the first of two handlers detaches on every event and waits; the
// owner goes on without it, so the second handler and the cache update still run for each
// event, in order, while every first handler is still waiting.
func TestDetachMovesTheOwnerOn(t *testing.T) {
	b, f := newBot(t, ermine.Config{DetachAfter: time.Minute})
	const events = 200
	release := make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // before the bot closes (cleanups run last first), even if the test fails
	var waiting, returned atomic.Int64
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		waiting.Add(1) // before Detach: once detached, the owner may finish before this goroutine goes on
		ctx.Detach()
		<-release
		returned.Add(1)
		return nil
	})
	var order []string
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		// Runs before the cache update: the message is not cached yet.
		if b.Cache().Message(general, ev.GetMessage().GetId()) != nil {
			t.Errorf("%s: the second handler ran after the cache update", ev.GetMessage().GetId())
		}
		order = append(order, ev.GetMessage().GetContent()) // one owner: no lock needed
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	for i := 1; i <= events; i++ {
		ingest(t, src, message(general, i, fmt.Sprint(i)))
	}
	drain(t, f)
	if returned.Load() != 0 || waiting.Load() != events {
		t.Fatalf("%d first handlers waiting, %d returned", waiting.Load(), returned.Load())
	}
	if n := len(b.Cache().Messages(general)); n != events {
		t.Fatalf("%d messages cached", n)
	}
	for i, got := range order {
		if got != fmt.Sprint(i+1) {
			t.Fatalf("second handler saw event %s at position %d", got, i+1)
		}
	}
	if len(order) != events {
		t.Fatalf("second handler ran %d times", len(order))
	}
	letGo()
	eventually(t, "detached handlers return", func() bool { return returned.Load() == events })
}

// goroutinesCreated is the number of goroutines the process has started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestDetachWhileReplayingHeldEvents: a server holds its events behind a cascade that waits for
// a channel's handler; when they are replayed, each one's handler detaches, and the owner still
// goes on with the rest of what it held, in order.
func TestDetachWhileReplayingHeldEvents(t *testing.T) {
	b, f := newBot(t, ermine.Config{DetachAfter: time.Minute})
	unblock, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ChannelDeleteEvent) error {
		<-unblock // in the synchronous phase: the server's cascade waits for it
		return nil
	})
	var mu sync.Mutex
	var names []string
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ServerUpdateEvent) error {
		mu.Lock()
		names = append(names, ev.GetServer().GetName())
		mu.Unlock()
		ctx.Detach()
		<-release
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), &stoatpb.ChannelDeleteEvent{ChannelId: general})
	const updates = 5
	for i := 1; i <= updates; i++ {
		name := fmt.Sprint("lab ", i)
		ingest(t, src, &stoatpb.ServerUpdateEvent{ServerId: server, Server: &stoatpb.PartialServer{Name: &name}})
	}
	close(unblock)
	drain(t, f)
	mu.Lock()
	defer mu.Unlock()
	if len(names) != updates {
		t.Fatalf("%d of %d ServerUpdate handlers ran: %q", len(names), updates, names)
	}
	for i, n := range names {
		if n != fmt.Sprint("lab ", i+1) {
			t.Fatalf("handlers ran out of order: %q", names)
		}
	}
	if got := b.Cache().Server(server).GetName(); got != fmt.Sprint("lab ", updates) {
		t.Fatalf("cached server name %q", got)
	}
	if chs := b.Cache().Server(server).GetChannels(); len(chs) != 0 {
		t.Fatalf("the deleted channel is still listed: %q", chs)
	}
}
