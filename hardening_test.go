package ermine_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// These tests hold the runtime to what a production week throws at it: shutdown with work
// queued, a hot channel, blocked and failing handlers.

const other = "01CHANNEL00000000000000OTHER"

func readyWithOther() *stoatpb.ReadyEvent {
	r := ready()
	r.Servers[0].Channels = append(r.Servers[0].Channels, other)
	r.Channels = append(r.Channels, &stoatpb.Channel{Id: other, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Server: server, Name: "other"})
	return r
}

func loggerTo(buf *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// settledGoroutines polls until the goroutine count is at most limit, and returns the last
// count seen.
func settledGoroutines(limit int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > limit && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// slowBot returns a bot whose MessageCreate handler takes 5 ms, and its call counter.
func slowBot(t *testing.T, cfg ermine.Config) (*ermine.Bot, *atomic.Int64) {
	t.Helper()
	b, err := ermine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := new(atomic.Int64)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	return b, calls
}

// assertStill checks that, once the bot has stopped, its handlers and cache stay as they are and
// its goroutines are gone (at most slack more than before it was made).
func assertStill(t *testing.T, calls *atomic.Int64, cached func() int, before, slack int) {
	t.Helper()
	callsAtStop, cachedAtStop := calls.Load(), cached()
	time.Sleep(300 * time.Millisecond)
	if got := calls.Load(); got != callsAtStop {
		t.Errorf("handlers ran %d more times after the bot stopped", got-callsAtStop)
	}
	if got := cached(); got != cachedAtStop {
		t.Errorf("the cache changed after the bot stopped: %d → %d messages", cachedAtStop, got)
	}
	if got := settledGoroutines(before + slack); got > before+slack {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before New, %d after the stop:\n%s", before, got, buf[:runtime.Stack(buf, true)])
	}
}

// TestNothingRunsAfterClose: Close runs out of time with thousands of events queued behind
// slow handlers. When it returns, no handler runs any more, the cache no longer changes, the
// runtime's goroutines are gone, and the error says what was discarded.
func TestNothingRunsAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	b, calls := slowBot(t, ermine.Config{})
	f := start(t, b)
	src := f.Source("s0")
	ingest(t, src, readyWithOther())
	const n = 3000
	for i := 1; i <= n; i++ {
		ch := general
		if i%2 == 0 {
			ch = other
		}
		ingest(t, src, message(ch, i, "m"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := b.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "discarded") {
		t.Fatalf("Close = %v, want an error saying events were discarded", err)
	}
	callsAtClose := calls.Load()
	discarded := b.Stats().Owners.Discarded
	if callsAtClose >= n || discarded == 0 {
		t.Fatalf("handled %d of %d, discarded %d: the test needs work left at the deadline", callsAtClose, n, discarded)
	}
	if err := src.Ingest(context.Background(), message(general, n+1, "late")); !errors.Is(err, ermine.ErrClosed) {
		t.Fatalf("Ingest after Close = %v, want ErrClosed", err)
	}
	assertStill(t, calls, func() int { return len(b.Cache().Messages(general)) + len(b.Cache().Messages(other)) }, before, 2)
}

// TestCloseWaitsForDetachedHandlers: a graceful Close lets a detached handler finish (a reply in
// flight), then cancels what still runs.
func TestCloseWaitsForDetachedHandlers(t *testing.T) {
	b, err := ermine.New(ermine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var finished, cancelled atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		ctx.Detach()
		switch ev.GetMessage().GetContent() {
		case "quick":
			time.Sleep(50 * time.Millisecond)
			finished.Add(1)
		case "forever":
			<-ctx.Done()
			cancelled.Add(1)
		}
		return nil
	})
	f := start(t, b)
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "quick"), message(general, 2, "forever"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = b.Close(ctx)
	if finished.Load() != 1 || cancelled.Load() != 1 {
		t.Fatalf("after Close: %d quick handlers finished, %d waiting ones saw the cancellation; want 1 and 1", finished.Load(), cancelled.Load())
	}
}

// TestHandlerThatIgnoresCancellationIsNamed: Go cannot stop a goroutine; Close says which
// handler it could not stop.
func TestHandlerThatIgnoresCancellationIsNamed(t *testing.T) {
	b, err := ermine.New(ermine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		ctx.Detach()
		<-stuck
		return nil
	}, dispatch.Named("stubborn"))
	f := start(t, b)
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "x"))
	drain(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); err == nil || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Close = %v, want an error naming the handler that did not return", err)
	}
}

// TestHotChannelStallIsVisible: one channel's slow handlers spend the budget; the stall is
// logged with the owner that holds it and counted.
func TestHotChannelStallIsVisible(t *testing.T) {
	var logs testlog.Buffer
	b, f := newBot(t, ermine.Config{MaxInFlight: 32, DetachAfter: time.Hour, Logger: loggerTo(&logs)})
	release := make(chan struct{})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetChannel() == general {
			<-release
		}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, readyWithOther())
	drain(t, f)
	for i := 1; i <= 32; i++ {
		ingest(t, src, message(general, i, "hot"))
	}
	done := make(chan error, 1)
	go func() { done <- src.Ingest(context.Background(), message(other, 100, "cold")) }()
	eventually(t, "the stall to be counted", func() bool { return b.Stats().Budget.Stalls == 1 })
	st := b.Stats().Budget
	if len(st.Heaviest) == 0 || st.Heaviest[0].Owner != (actors.Key{Kind: actors.KindChannel, ID: general}) || st.Heaviest[0].Events != 32 {
		t.Errorf("Heaviest = %+v, want channel/%s with 32 events first", st.Heaviest, general)
	}
	if st.Stalled < time.Second {
		t.Errorf("Budget.Stalled = %s during a stall of over a second", st.Stalled)
	}
	// The stall is counted before it is logged: wait for the line.
	eventually(t, "the stall to be logged with its owner", func() bool {
		out := logs.String()
		return strings.Contains(out, "reader is stalled") && strings.Contains(out, "owner=channel/"+general)
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	drain(t, f)
	if b.Stats().Budget.Stalled <= 0 {
		t.Error("Stats().Budget.Stalled does not add up the stall")
	}
}

// TestBudgetBoundsBytes: the budget counts wire bytes as well as events; an event larger than
// the whole byte budget still passes alone.
func TestBudgetBoundsBytes(t *testing.T) {
	b, f := newBot(t, ermine.Config{MaxInFlightBytes: 1 << 20, DetachAfter: time.Hour})
	release := make(chan struct{})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		<-release
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	for i := 1; i <= 2; i++ {
		if err := src.IngestSized(context.Background(), message(general, i, "big"), 400<<10); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := src.IngestSized(ctx, message(general, 3, "big"), 400<<10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third 400 KiB event over a 1 MiB budget = %v, want it to wait", err)
	}
	if got := b.Stats().Budget.Bytes; got != 800<<10 {
		t.Fatalf("Budget.Bytes = %d, want %d", got, 800<<10)
	}
	close(release)
	drain(t, f)
	if err := src.IngestSized(context.Background(), message(general, 4, "huge"), 3<<20); err != nil {
		t.Fatalf("an event larger than the byte budget must pass alone: %v", err)
	}
	drain(t, f)
	if n := len(b.Cache().Messages(general)); n != 3 {
		t.Fatalf("cached %d messages, want 3", n)
	}
}

// TestBackloggedOwnerRunsHandlersConcurrently: with ConcurrentHandlersAbove, a hot channel whose
// handlers all block does not hold the budget: the cold channel's message reaches its handler
// while every hot handler still runs, and the hot channel's cache updates are all applied, in
// order.
func TestBackloggedOwnerRunsHandlersConcurrently(t *testing.T) {
	b, f := newBot(t, ermine.Config{MaxInFlight: 64, ConcurrentHandlersAbove: 8, MaxDetachedHandlers: 1000, DetachAfter: 20 * time.Millisecond})
	release := make(chan struct{})
	var hotRunning, hotMax atomic.Int64
	coldSeen := make(chan int64, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetChannel() == other {
			coldSeen <- hotRunning.Load()
			return nil
		}
		n := hotRunning.Add(1)
		for m := hotMax.Load(); n > m && !hotMax.CompareAndSwap(m, n); m = hotMax.Load() {
		}
		<-release
		hotRunning.Add(-1)
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, readyWithOther())
	drain(t, f)
	const hot = 400
	for i := 1; i <= hot; i++ {
		ingest(t, src, message(general, i, "hot"))
	}
	ingest(t, src, message(other, hot+1, "cold"))
	select {
	case running := <-coldSeen:
		t.Logf("%d hot handlers were running when the cold message arrived", running)
	case <-time.After(10 * time.Second):
		t.Fatal("the cold channel's message did not reach its handler while the hot channel's handlers were blocked")
	}
	eventually(t, "every hot message to be cached", func() bool { return len(b.Cache().Messages(general)) == hot })
	msgs := b.Cache().Messages(general)
	for i, m := range msgs {
		if m.GetId() != msgID(i+1) {
			t.Fatalf("cached message %d is %s, want %s (wire order)", i, m.GetId(), msgID(i+1))
		}
	}
	if b.Stats().Concurrent == 0 || hotMax.Load() < 2 {
		t.Errorf("Concurrent = %d, max concurrent hot handlers %d: nothing ran concurrently", b.Stats().Concurrent, hotMax.Load())
	}
	close(release)
	drain(t, f)
}

// TestBlockedHandlersAreBounded: a handler that blocks forever is detached, but at most
// MaxDetachedHandlers of one owner run detached; then the owner waits, visibly, instead of
// leaving a goroutine behind per event.
func TestBlockedHandlersAreBounded(t *testing.T) {
	var logs testlog.Buffer
	b, f := newBot(t, ermine.Config{DetachAfter: 5 * time.Millisecond, MaxDetachedHandlers: 8, Logger: loggerTo(&logs)})
	release := make(chan struct{})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		<-release
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	base := runtime.NumGoroutine()
	for i := 1; i <= 50; i++ {
		ingest(t, src, message(general, i, "m"))
	}
	eventually(t, "the owner to wait for its detached handlers", func() bool {
		s := b.Stats()
		return s.Detached == 8 && s.DetachedWaits >= 1
	})
	time.Sleep(100 * time.Millisecond) // time enough to leak more, were it not bounded
	if s := b.Stats(); s.Detached != 8 {
		t.Fatalf("Detached = %d, want 8", s.Detached)
	}
	if extra := runtime.NumGoroutine() - base; extra > 8+2 {
		t.Errorf("%d goroutines more than before the events, want at most ~9", extra)
	}
	out := logs.String()
	if !strings.Contains(out, "owner waits") || !strings.Contains(out, "owner=channel/"+general) {
		t.Errorf("the owner's wait was not logged:\n%s", out)
	}
	if !strings.Contains(out, "after=5ms") {
		t.Errorf("the auto-detach warning does not say the delay that applied:\n%s", out)
	}
	close(release)
	drain(t, f)
	if n := len(b.Cache().Messages(general)); n != 50 {
		t.Fatalf("cached %d messages, want 50", n)
	}
	eventually(t, "the detached handlers to return", func() bool { return b.Stats().Detached == 0 })
}

// TestHandlerFaultLogsAreRateLimited: thousands of panics and errors give a few full lines and
// summaries with counts, each naming its handler.
func TestHandlerFaultLogsAreRateLimited(t *testing.T) {
	var logs testlog.Buffer
	b, f := newBot(t, ermine.Config{Logger: loggerTo(&logs)})
	ermine.Handle(b, panicky)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		return errors.New("nope")
	}, dispatch.Named("refuser"))
	src := f.Source("s0")
	ingest(t, src, ready())
	const n = 2000
	for i := 1; i <= n; i++ {
		ingest(t, src, message(general, i, "m"))
	}
	drain(t, f)
	if s := b.Stats(); s.HandlerPanics != n || s.HandlerErrors != n {
		t.Fatalf("counted %d panics and %d errors, want %d each", s.HandlerPanics, s.HandlerErrors, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	lines := strings.Count(out, "\n")
	if lines > 20 {
		t.Errorf("%d log lines for %d faults; want a handful", lines, 2*n)
	}
	if stacks := strings.Count(out, "[running]"); stacks > 3 {
		t.Errorf("%d stacks logged, want at most 3", stacks)
	}
	if !strings.Contains(out, "handler=ermine_test.panicky") || !strings.Contains(out, "handler=refuser") {
		t.Errorf("handlers are not named in the log:\n%s", out)
	}
	if !strings.Contains(out, "suppressed=") {
		t.Errorf("no summary counts the faults left out:\n%s", out)
	}
}

func panicky(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error { panic("boom") }

// TestPanickingCheckIsAFailedCheck: a WaitFor check that panics does not swallow the event,
// and the wait goes on.
func TestPanickingCheckIsAFailedCheck(t *testing.T) {
	var logs testlog.Buffer
	b, f := newBot(t, ermine.Config{Logger: loggerTo(&logs)})
	var handled atomic.Int32
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		handled.Add(1)
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	p, err := ermine.Expect(context.Background(), b, func(ev *stoatpb.MessageCreateEvent) bool {
		if ev.GetMessage().GetContent() == "bad" {
			panic("check exploded")
		}
		return ev.GetMessage().GetContent() == "yes"
	}, dispatch.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, src, message(general, 1, "bad"))
	for i := 2; i <= 101; i++ {
		ingest(t, src, message(general, i, "x"))
	}
	drain(t, f)
	if got := handled.Load(); got != 101 {
		t.Fatalf("handlers ran for %d of 101 events", got)
	}
	ingest(t, src, message(general, 102, "yes"))
	got, err := p.Wait()
	if err != nil || got[0].GetMessage().GetId() != msgID(102) {
		t.Fatalf("the wait after a panicking check = %v, %v; want message 102", got, err)
	}
	if b.Stats().CheckPanics != 1 {
		t.Errorf("CheckPanics = %d, want 1", b.Stats().CheckPanics)
	}
	if out := logs.String(); strings.Count(out, "check panicked") != 1 || !strings.Contains(out, "check exploded") {
		t.Errorf("the panicking check was not logged once:\n%s", out)
	}
}

// TestRunReturnsWithNothingLeftRunning is TestNothingRunsAfterClose over the wire: thousands of
// messages queued behind 5 ms handlers when the context ends. Run returns within about
// ShutdownTimeout, says what it discarded, and nothing of the bot runs afterwards.
func TestRunReturnsWithNothingLeftRunning(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithQueueSize(1<<16))
	before := runtime.NumGoroutine()
	b, calls := slowBot(t, ermine.Config{Token: srv.Token(), APIURL: srv.URL, ShutdownTimeout: 300 * time.Millisecond})
	readied := make(chan struct{}, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		readied <- struct{}{}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	select {
	case <-readied:
	case <-time.After(10 * time.Second):
		t.Fatal("no Ready")
	}
	ch := firstTextChannel(t, srv.World())
	author := srv.World().Users[0].GetId()
	const n = 5000
	evs := make([]stoatpb.Event, 0, 100)
	for i := 0; i < n; i++ {
		evs = append(evs, &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: msgID(i + 1), Channel: ch.GetId(), Author: author, Content: "m"}})
		if len(evs) == cap(evs) {
			if err := srv.PushBulk(evs...); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	eventually(t, "the bot to have read the stream", func() bool { return b.Stats().Ingested >= n/2 })
	cancel()
	var err2 error
	select {
	case err2 = <-runErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if err2 == nil || !strings.Contains(err2.Error(), "discarded") {
		t.Fatalf("Run = %v, want an error saying what was discarded", err2)
	}
	assertStill(t, calls, func() int { return len(b.Cache().Messages(ch.GetId())) }, before, 2)
}

// TestBudgetCountsWireBytes: over the wire, the shard reports each frame's size and the budget
// holds the reader once MaxInFlightBytes of frames wait for a blocked handler.
func TestBudgetCountsWireBytes(t *testing.T) {
	srv := stoattest.NewServer(t)
	b, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, MaxInFlightBytes: 64 << 10, DetachAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	readied := make(chan struct{}, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		readied <- struct{}{}
		return nil
	})
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
	}()
	select {
	case <-readied:
	case <-time.After(10 * time.Second):
		t.Fatal("no Ready")
	}
	ch := firstTextChannel(t, srv.World())
	big := strings.Repeat("x", 20<<10)
	for i := 0; i < 20; i++ {
		if _, err := srv.PostMessage(&stoatpb.Message{Channel: ch.GetId(), Author: srv.World().Users[0].GetId(), Content: big}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the reader to wait on the byte budget", func() bool {
		st := b.Stats().Budget
		return st.Bytes > 40<<10
	})
	time.Sleep(50 * time.Millisecond)
	st := b.Stats()
	if st.Budget.Bytes > 64<<10+21<<10 || st.Budget.Events > 4 {
		t.Fatalf("in flight: %d events, %d bytes; want the 64 KiB byte budget to hold the reader", st.Budget.Events, st.Budget.Bytes)
	}
	close(release)
	eventually(t, "every message to be cached", func() bool { return len(b.Cache().Messages(ch.GetId())) == 20 })
}

// TestCloseStopsRun: Close called while Run runs stops the connection too; Run returns nil, and
// nothing of the bot is left running.
func TestCloseStopsRun(t *testing.T) {
	srv := stoattest.NewServer(t)
	before := runtime.NumGoroutine()
	b, calls := slowBot(t, ermine.Config{Token: srv.Token(), APIURL: srv.URL})
	readied := make(chan struct{}, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		readied <- struct{}{}
		return nil
	})
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(context.Background()) }()
	select {
	case <-readied:
	case <-time.After(10 * time.Second):
		t.Fatal("no Ready")
	}
	ch := firstTextChannel(t, srv.World())
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: ch.GetId(), Author: srv.World().Users[0].GetId(), Content: "hi"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the message to be handled", func() bool { return calls.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run after Close = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	assertStill(t, calls, func() int { return len(b.Cache().Messages(ch.GetId())) }, before, 2)
	if err := b.Run(context.Background()); !errors.Is(err, ermine.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}
