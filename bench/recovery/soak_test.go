package recovery

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/bench/measure"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// The soak's settings, on the test binary's command line (go test … -args is not needed: flags
// after the package are passed on). ERMINE_SOAK_DUR sets the duration when -soak.dur does not.
var (
	soakDur      = flag.Duration("soak.dur", 0, "BenchmarkChaosSoak: how long messages are posted (default $ERMINE_SOAK_DUR, else 10m)")
	soakRate     = flag.Float64("soak.rate", 20_000, "BenchmarkChaosSoak: messages offered per second, across all channels")
	soakChannels = flag.Int("soak.channels", 100, "BenchmarkChaosSoak: channels the messages are spread over, round robin")
	soakCut      = flag.Duration("soak.cut", 30*time.Second, "BenchmarkChaosSoak: time between two cuts of the connection")
	soakSample   = flag.Duration("soak.sample", 5*time.Second, "BenchmarkChaosSoak: time between two RSS samples (each after a GC)")
	soakWarmup   = flag.Duration("soak.warmup", time.Minute, "BenchmarkChaosSoak: RSS samples taken before this are left out of the slope (at most half the run)")
)

// soakDuration resolves -soak.dur and ERMINE_SOAK_DUR.
func soakDuration() (time.Duration, error) {
	if *soakDur > 0 {
		return *soakDur, nil
	}
	if v := os.Getenv("ERMINE_SOAK_DUR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("ERMINE_SOAK_DUR=%q: want a positive duration such as 60s", v)
		}
		return d, nil
	}
	return 10 * time.Minute, nil
}

// window is how far, in messages of one channel, the first message not handled yet may trail the
// newest handled before it is given up as lost. A channel's messages reach its handlers in id
// order, so a hole never fills later; the window only bounds the tracker's memory.
const window = 1 << 16

// channelSeen tracks which of one channel's messages (numbered 0, 1, … in posting order, the
// number is the content) its handlers got, in constant memory: every number below low was
// handled or given up, bits holds the numbers low … low+window-1.
type channelSeen struct {
	mu       sync.Mutex
	low      uint64
	bits     [window / 64]uint64
	distinct uint64 // numbers handled at least once
	dups     uint64 // handler calls for a number handled before (or given up)
}

// add records that the handlers got message seq.
func (c *channelSeen) add(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq < c.low {
		c.dups++
		return
	}
	for seq >= c.low+window { // give the oldest unhandled numbers up, to make room
		c.bits[c.low%window/64] &^= 1 << (c.low % 64)
		c.low++
	}
	w, bit := seq%window/64, uint64(1)<<(seq%64)
	if c.bits[w]&bit != 0 {
		c.dups++
		return
	}
	c.bits[w] |= bit
	c.distinct++
	for c.bits[c.low%window/64]&(1<<(c.low%64)) != 0 { // slide past what is complete
		c.bits[c.low%window/64] &^= 1 << (c.low % 64)
		c.low++
	}
}

func (c *channelSeen) counts() (distinct, dups uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.distinct, c.dups
}

// soakLog is what the soak's handlers got.
type soakLog struct {
	index     map[string]int // channel id → its number (read-only once built)
	seen      []channelSeen
	handled   atomic.Uint64 // handler calls
	recovered atomic.Uint64 // of which recovered (backfilled)
	foreign   atomic.Uint64 // messages the soak did not post (none expected)
}

func (l *soakLog) handle(_ *ermine.Context, ev *ermine.MessageCreateEvent) error {
	l.handled.Add(1)
	if ev.GetRecovered() {
		l.recovered.Add(1)
	}
	m := ev.GetMessage()
	ch, ok := l.index[m.GetChannel()]
	seq, err := strconv.ParseUint(m.GetContent(), 10, 64)
	if !ok || err != nil {
		l.foreign.Add(1)
		return nil
	}
	l.seen[ch].add(seq)
	return nil
}

func (l *soakLog) counts() (distinct, dups uint64) {
	for i := range l.seen {
		d, u := l.seen[i].counts()
		distinct, dups = distinct+d, dups+u
	}
	return distinct, dups
}

// rssSample is the process's resident set and live heap, after a GC, at t into the run.
type rssSample struct {
	t         time.Duration
	rss, heap uint64
}

// slopeKiBPerMin fits rss = a + b·t by least squares over the samples and returns b in KiB per
// minute (NaN with fewer than two samples).
func slopeKiBPerMin(samples []rssSample) float64 {
	n := float64(len(samples))
	if n < 2 {
		return math.NaN()
	}
	var st, sr, stt, str float64
	for _, s := range samples {
		t, r := s.t.Minutes(), float64(s.rss)/1024
		st, sr, stt, str = st+t, sr+r, stt+t*t, str+t*r
	}
	return (n*str - st*sr) / (n*stt - st*st)
}

// BenchmarkChaosSoak streams messages at a steady offered rate (-soak.rate, default 20k/s) into
// -soak.channels channels (default 100) of a stoattest server with Stoat's real rate limits,
// cutting the bot's connection every -soak.cut (30s), for -soak.dur (10m; see README.md for the
// short mode). The server pushes the messages posted while the bot is connected and keeps those
// posted while it is away in the history, for the bot's backfill. Each message's content is its
// number in its channel, so that a constant-memory tracker tells whether every one was handled.
// It runs once, whatever b.N.
//
// Reported: posted, posted-ev/s (what the server sustained), handled, recovered (handled as
// backfilled), lost (posted and never handled: must be 0), dups (handled more than once: must be
// 0), reconnects, slow-drops (connections the server dropped because the bot fell behind),
// rest-calls and 429s (the server's counts: the backfills' fetches), and the process's RSS after GC (the server's share included): rss-MiB at the end, rss-max-MiB, and
// rss-slope-KiB/min, the least-squares slope over the samples after -soak.warmup.
//
// The bot keeps ermine's default cache policy (1,000 messages per channel), so its memory can be
// flat. Its backfill bound (Config.Backfill.Messages) is raised from 100 to what 10 s of a
// channel's traffic is (2,000 at 20k/s over 100 channels): a cut's gap is the reconnect delay,
// below a second with the backoff set here, plus the handshake; the margin covers a connection
// dropped again while it catches up. The server keeps twice that per channel (WithHistoryLimit),
// not its whole history, so that its memory is flat too.
func BenchmarkChaosSoak(b *testing.B) {
	dur, err := soakDuration()
	if err != nil {
		b.Fatal(err)
	}
	rate, nch, cutEvery := *soakRate, *soakChannels, *soakCut
	if rate <= 0 || nch < 1 || cutEvery <= 0 || *soakSample <= 0 {
		b.Fatalf("-soak.rate %v, -soak.channels %d, -soak.cut %v, -soak.sample %v: want positive values", rate, nch, cutEvery, *soakSample)
	}
	warmup := min(*soakWarmup, dur/2)
	perChannel := int(math.Ceil(rate/float64(nch)*10/100)) * 100 // 10 s of a channel's messages
	perChannel = max(perChannel, 100)

	w, chans, authors := world(nch)
	srv := stoattest.NewServer(b, stoattest.WithWorld(w), stoattest.WithHistoryLimit(2*perChannel))
	log := &soakLog{index: make(map[string]int, nch), seen: make([]channelSeen, nch)}
	for i, ch := range chans {
		log.index[ch] = i
	}
	bot := start(b, srv, ermine.Config{
		Backfill: ermine.BackfillConfig{Channels: max(nch, 250), Messages: perChannel},
		// Each cut is a first failure (ResetAfter below the cut interval): the reconnect waits up to
		// Base, 1s, ermine's default.
		Connection: ermine.Connection{Backoff: ermine.Backoff{Base: time.Second, ResetAfter: min(10*time.Second, cutEvery/2)}},
	}, log.handle)
	progress := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		progress = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	progress.Info("soak: started", "dur", dur, "rate", rate, "channels", nch, "cut", cutEvery, "backfill_per_channel", perChannel)

	b.ResetTimer()
	began := time.Now()
	ctx, stop := context.WithTimeout(b.Context(), dur)
	defer stop()
	posted := make([]uint64, nch) // the poster's; read once it has returned
	var postedTotal atomic.Uint64
	var postErr error
	var postedFor time.Duration // set by the poster when it stops
	var wg sync.WaitGroup
	wg.Go(func() { // the poster: catches up with rate·elapsed every millisecond
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		defer func() { postedFor = time.Since(began) }()
		for sent := uint64(0); ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for due := uint64(rate * time.Since(began).Seconds()); sent < due && ctx.Err() == nil; sent++ {
				c := sent % uint64(nch)
				_, err := srv.PostMessage(&stoatpb.Message{Channel: chans[c], Author: authors[sent%uint64(len(authors))],
					Content: strconv.FormatUint(posted[c], 10)})
				if err != nil {
					postErr = fmt.Errorf("posting message %d: %w", sent, err)
					stop()
					return
				}
				posted[c]++
				postedTotal.Add(1)
			}
		}
	})
	cuts := 0
	wg.Go(func() { // the chaos: a cut every cutEvery
		tick := time.NewTicker(cutEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				srv.Cut()
				cuts++
			}
		}
	})
	var samples []rssSample
	sample := func() {
		rss, heap, err := measure.Memory()
		if err != nil {
			b.Error(err)
			return
		}
		s := rssSample{t: time.Since(began), rss: rss, heap: heap}
		samples = append(samples, s)
		distinct, _ := log.counts()
		progress.Info("soak", "t", s.t.Round(time.Second), "posted", postedTotal.Load(), "handled", distinct,
			"rss_MiB", rss>>20, "heap_MiB", heap>>20, "reconnects", srv.Stats().Authenticated-1)
	}
	func() {
		tick := time.NewTicker(*soakSample)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	wg.Wait()
	if postErr != nil {
		b.Fatal(postErr)
	}
	total := postedTotal.Load()

	// Let the bot catch up: reconnect if the last cut was recent, backfill, drain.
	deadline := time.Now().Add(2 * time.Minute)
	for distinct, _ := log.counts(); distinct < total && time.Now().Before(deadline); distinct, _ = log.counts() {
		time.Sleep(50 * time.Millisecond)
	}
	caughtUp := time.Since(began) - postedFor
	if err := bot.stop(); err != nil {
		b.Error(err)
	}
	b.StopTimer()

	distinct, dups := log.counts()
	var lost uint64
	for i := range posted {
		d, _ := log.seen[i].counts()
		lost += posted[i] - min(d, posted[i])
	}
	st := srv.Stats()
	reconnects := st.Authenticated - 1
	var steady []rssSample
	for _, s := range samples {
		if s.t >= warmup {
			steady = append(steady, s)
		}
	}
	var rssMax, rssEnd uint64
	for _, s := range samples {
		rssMax = max(rssMax, s.rss)
	}
	if len(samples) > 0 {
		rssEnd = samples[len(samples)-1].rss
	}
	slope := slopeKiBPerMin(steady)
	sustained := float64(total) / postedFor.Seconds()

	b.ReportMetric(float64(total), "posted")
	b.ReportMetric(sustained, "posted-ev/s")
	b.ReportMetric(float64(log.handled.Load()), "handled")
	b.ReportMetric(float64(log.recovered.Load()), "recovered")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(dups), "dups")
	b.ReportMetric(float64(reconnects), "reconnects")
	b.ReportMetric(float64(st.SlowDropped), "slow-drops")
	b.ReportMetric(float64(st.Requests), "rest-calls")
	b.ReportMetric(float64(st.RateLimited), "429s")
	b.ReportMetric(float64(rssEnd)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(rssMax)/(1<<20), "rss-max-MiB")
	b.ReportMetric(slope, "rss-slope-KiB/min")

	var series strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&series, " %s:%d/%d", s.t.Round(time.Second), s.rss>>20, s.heap>>20)
	}
	b.Logf("soak: %v at %.0f ev/s offered (%.0f sustained) into %d channels, a cut every %v (%d cuts, %d reconnects, %d slow drops); backfill bound %d per channel",
		postedFor.Round(time.Second), rate, sustained, nch, cutEvery, cuts, reconnects, st.SlowDropped, perChannel)
	b.Logf("soak: posted %d, distinct handled %d, handler calls %d (%d recovered, %d foreign), lost %d, dups %d; caught up %v after posting stopped",
		total, distinct, log.handled.Load(), log.recovered.Load(), log.foreign.Load(), lost, dups, caughtUp.Round(time.Millisecond))
	b.Logf("soak: RSS/heap MiB after GC at t:%s; slope after %v: %.1f KiB/min over %d samples", series.String(), warmup, slope, len(steady))
	if sustained < 0.98*rate {
		b.Logf("soak: the server sustained %.0f ev/s, not the %.0f offered", sustained, rate)
	}
	if lost > 0 {
		b.Errorf("%d of %d messages posted were never handled", lost, total)
	}
	if dups > 0 {
		b.Errorf("%d handler calls repeated a message already handled", dups)
	}
}
