package recovery

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// tally counts, per message id, the MessageCreateEvents the handlers got, and signals when every
// message it waits for has been handled.
type tally struct {
	mu            sync.Mutex
	times         map[string]int
	gap           map[string]bool // the messages waited for
	wantRecovered bool            // whether they must arrive recovered (a gap) or live
	pending       int             // messages of gap not handled yet
	last          time.Time       // when the last of them was handled
	done          chan struct{}   // closed once pending reaches 0
	errs          []string        // what went wrong, reported once the gap is in
}

func newTally() *tally { return &tally{times: map[string]int{}} }

// expect makes the tally wait for the messages of gap, which must arrive recovered or live.
// Those already handled (live messages may overtake the call) count as arrived.
func (t *tally) expect(gap map[string]bool, recovered bool) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gap, t.wantRecovered, t.pending, t.done = gap, recovered, 0, make(chan struct{})
	for id := range gap {
		if t.times[id] == 0 {
			t.pending++
		}
	}
	if t.pending == 0 {
		t.last = time.Now()
		close(t.done)
	}
	return t.done
}

func (t *tally) handle(_ *ermine.Context, ev *ermine.MessageCreateEvent) error {
	id := ev.GetMessage().GetId()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.times[id]++
	if !t.gap[id] {
		return nil
	}
	switch {
	case ev.GetRecovered() != t.wantRecovered:
		t.errs = append(t.errs, fmt.Sprintf("message %s: recovered %t, want %t", id, ev.GetRecovered(), t.wantRecovered))
	case t.times[id] > 1:
		t.errs = append(t.errs, fmt.Sprintf("message %s handled %d times", id, t.times[id]))
	default:
		if t.pending--; t.pending == 0 {
			t.last = time.Now()
			close(t.done)
		}
	}
	return nil
}

// check reports the errors seen so far and every id of gap not handled exactly once.
func (t *tally) check(gap map[string]bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	errs := t.errs
	t.errs = nil
	for id := range gap {
		if n := t.times[id]; n != 1 {
			errs = append(errs, fmt.Sprintf("missed message %s handled %d times, want 1", id, n))
		}
	}
	return errs
}

// BenchmarkBackfill100x100 measures the recovery of one reconnect's gap: a bot with ermine's
// default backfill (100 messages per channel, 8 channels at a time) follows 100 channels of a
// stoattest server with Stoat's real rate limits; the connection is cut, 100 messages are posted
// into each channel while the bot is away (upgrades are refused meanwhile, so that none arrives
// live), then the bot may reconnect. Reported per reconnect: ms/backfill from the server sending
// the Ready to the handler of the last recovered message, rest-calls/backfill and 429s/backfill
// (the server's counters from before the reconnect until then). Each missed message must reach a
// handler exactly once, marked recovered. ns/op is the whole cycle: cut, posting, reconnect,
// backfill.
//
// Each iteration spends one request of each channel's "channels" bucket (15 per 10 s), so more
// than about 15 iterations in 10 s wait for the rate limiter: run it with -benchtime 10x (see
// README.md).
func BenchmarkBackfill100x100(b *testing.B) {
	const channels, perChannel = 100, 100
	w, chans, authors := world(channels)
	srv := stoattest.NewServer(b, stoattest.WithWorld(w)) // Stoat's rate limits: the default
	t := newTally()
	bot := start(b, srv, ermine.Config{
		// Reconnect quickly once upgrades are accepted again: the wait is not what is measured.
		Connection: ermine.Connection{Backoff: ermine.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, ResetAfter: time.Minute}},
	}, t.handle)
	ctx := b.Context()

	post := func(ch, content string, i int) string {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: ch, Author: authors[i%len(authors)], Content: content})
		if err != nil {
			b.Fatal(err)
		}
		return m.Id
	}
	// One live message per channel first: the bot has seen every channel's history.
	live := map[string]bool{}
	for i, ch := range chans {
		live[post(ch, "live", i)] = true
	}
	wait(b, t.expect(live, false), "the live messages")

	var elapsed time.Duration
	var calls, limited int
	b.ResetTimer()
	for range b.N {
		srv.RefuseUpgrades(http.StatusServiceUnavailable)
		srv.Cut()
		if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
			b.Fatal(err)
		}
		gap := make(map[string]bool, channels*perChannel)
		for i := range perChannel {
			for j, ch := range chans {
				gap[post(ch, fmt.Sprint("missed ", i), i+j)] = true
			}
		}
		done := t.expect(gap, true)
		before := srv.Stats()
		// The Ready's time is when the server sends it: the bot's Ready handler may run after
		// the backfill has begun, or even ended.
		readyAt := make(chan time.Time, 1)
		go func() {
			if srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Authenticated > before.Authenticated }) == nil {
				readyAt <- time.Now()
			}
		}()
		srv.RefuseUpgrades(0)
		var ready time.Time
		select {
		case ready = <-readyAt:
		case <-time.After(30 * time.Second):
			b.Fatal("no Ready within 30s of accepting upgrades again")
		}
		wait(b, done, "the missed messages")
		after := srv.Stats()
		t.mu.Lock()
		elapsed += t.last.Sub(ready)
		t.mu.Unlock()
		calls += after.Requests - before.Requests
		limited += after.RateLimited - before.RateLimited
		if errs := t.check(gap); len(errs) > 0 {
			b.Fatalf("%d problems, the first: %s", len(errs), errs[0])
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(elapsed.Seconds()*1e3/n, "ms/backfill")
	b.ReportMetric(float64(calls)/n, "rest-calls/backfill")
	b.ReportMetric(float64(limited)/n, "429s/backfill")
	// Nothing may come twice later either: Run returns once the bot has drained.
	if err := bot.stop(); err != nil {
		b.Fatal(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, n := range t.times {
		if n != 1 {
			b.Errorf("message %s handled %d times", id, n)
		}
	}
}

// wait waits for done, failing the benchmark after a minute.
func wait(b *testing.B, done <-chan struct{}, what string) {
	b.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%s were not all handled within a minute", what)
	}
}
