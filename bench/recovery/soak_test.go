package recovery

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// The soak's settings, on the test binary's command line (after the package: go test passes them
// on). ERMINE_SOAK_DUR sets the duration when -soak.dur does not.
var (
	soakDur      = flag.Duration("soak.dur", 0, "BenchmarkChaosSoak: how long messages are posted (default $ERMINE_SOAK_DUR, else 10m)")
	soakRate     = flag.Float64("soak.rate", 20_000, "BenchmarkChaosSoak: messages offered per second, across all channels")
	soakChannels = flag.Int("soak.channels", 100, "BenchmarkChaosSoak: channels the messages are spread over, round robin")
	soakCut      = flag.Duration("soak.cut", 30*time.Second, "BenchmarkChaosSoak: time between two cuts of the connection")
	soakSample   = flag.Duration("soak.sample", 5*time.Second, "BenchmarkChaosSoak: time between two memory samples of the bot (each after a GC)")
	soakWarmup   = flag.Duration("soak.warmup", time.Minute, "BenchmarkChaosSoak: memory samples taken before this are left out of the slopes (at most half the run)")
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

// rssSample is the bot process's resident set and live heap, after a GC, read at at, t into the
// run.
type rssSample struct {
	at        time.Time
	t         time.Duration
	rss, heap uint64
}

// slopes fits the samples' RSS and live heap by least squares and returns the slopes in KiB per
// minute (NaN with fewer than two samples).
func slopes(samples []rssSample) (rss, heap float64) {
	return slopeKiBPerMin(samples, func(s rssSample) uint64 { return s.rss }),
		slopeKiBPerMin(samples, func(s rssSample) uint64 { return s.heap })
}

func slopeKiBPerMin(samples []rssSample, v func(rssSample) uint64) float64 {
	n := float64(len(samples))
	if n < 2 {
		return math.NaN()
	}
	var st, sv, stt, stv float64
	for _, s := range samples {
		t, y := s.t.Minutes(), float64(v(s))/1024
		st, sv, stt, stv = st+t, sv+y, stt+t*t, stv+t*y
	}
	return (n*stv - st*sv) / (n*stt - st*st)
}

// BenchmarkChaosSoak streams messages at a steady offered rate (-soak.rate, default 20k/s) into
// -soak.channels channels (default 100) of a stoattest server with Stoat's real rate limits,
// cutting the bot's connection every -soak.cut (30s), for -soak.dur (10m; see README.md for the
// short mode). The server pushes the messages posted while the bot is connected and keeps those
// posted while it is away in the history, for the bot's backfill. Each message's content is its
// number in its channel, so that a constant-memory tracker in the bot tells whether every one
// was handled. The bot runs in a process of its own (see botEnv); the server and the poster run
// in the benchmark's. It runs once, whatever b.N.
//
// Reported: posted, posted-ev/s (what the server sustained), handled, recovered (handled as
// backfilled), lost (posted and never handled: must be 0), dups (handled more than once: must be
// 0), reconnects, slow-drops (connections the server dropped because the bot fell behind),
// rest-calls and 429s (the server's counts: the backfills' fetches), and the bot process's memory,
// sampled every -soak.sample after a forced GC: rss-MiB at the end, rss-max-MiB,
// rss-slope-KiB/min (the least-squares slope of the samples after -soak.warmup),
// rss-floor-slope-KiB/min (the same fit over the lowest sample of each cut interval: a leak
// raises the floor, a sample that happens to catch a burst of allocation does not) and
// heap-slope-KiB/min (the slope of the live heap the GC found, which concurrent allocation does
// not blur as it does RSS).
//
// The bot keeps ermine's default cache policy (1,000 messages per channel), so its memory can be
// flat. Its backfill bound (Config.Backfill.Messages) is raised from 100 to what 10 s of a
// channel's traffic is (2,000 at 20k/s over 100 channels): a cut's gap is the reconnect delay,
// below a second with the backoff set here, plus the handshake; the margin covers a connection
// dropped again while it catches up. The server keeps twice that per channel (WithHistoryLimit),
// not its whole history, so that a long soak does not fill the machine.
func BenchmarkChaosSoak(b *testing.B) {
	dur, err := soakDuration()
	if err != nil {
		b.Fatal(err)
	}
	rate, nch, cutEvery := *soakRate, *soakChannels, *soakCut
	if rate <= 0 || nch < 1 || cutEvery <= 0 || *soakSample <= 0 {
		b.Fatalf("-soak.rate %v, -soak.channels %d, -soak.cut %v, -soak.sample %v: want positive values", rate, nch, cutEvery, *soakSample)
	}
	// go test's default -timeout is 10m: say so rather than panic at the end of a long soak.
	if f := flag.Lookup("test.timeout"); f != nil {
		if t, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && t > 0 && t < dur+2*time.Minute {
			b.Fatalf("-soak.dur %v needs a -timeout of at least %v (it is %v)", dur, dur+2*time.Minute, t)
		}
	}
	warmup := min(*soakWarmup, dur/2)
	perChannel := int(math.Ceil(rate/float64(nch)*10/100)) * 100 // 10 s of a channel's messages
	perChannel = max(perChannel, 100)

	w, chans, authors := world(nch)
	srv := stoattest.NewServer(b, stoattest.WithWorld(w), stoattest.WithHistoryLimit(2*perChannel))
	progress := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		progress = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	bot := startBot(b, botSpec{
		APIURL: srv.URL, EventsURL: srv.EventsURL(), Token: srv.Token(), Channels: chans, Sample: *soakSample,
		Backfill: ermine.BackfillConfig{Channels: max(nch, 250), Messages: perChannel},
		// Each cut is a first failure (ResetAfter below the cut interval): the reconnect waits up
		// to Base, 1s, ermine's default.
		BackoffBase: time.Second, BackoffReset: min(10*time.Second, cutEvery/2),
	})
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
	func() { // progress, every memory sample
		tick := time.NewTicker(*soakSample)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				last, samples := bot.latest(began)
				attrs := []any{"t", time.Since(began).Round(time.Second), "posted", postedTotal.Load(), "handled", last.Distinct,
					"reconnects", srv.Stats().Authenticated - 1}
				if len(samples) > 0 {
					s := samples[len(samples)-1]
					attrs = append(attrs, "bot_rss_MiB", s.rss>>20, "bot_heap_MiB", s.heap>>20)
				}
				progress.Info("soak", attrs...)
			}
		}
	}()
	wg.Wait()
	if postErr != nil {
		b.Fatal(postErr)
	}
	total := postedTotal.Load()

	// Let the bot catch up: reconnect if the last cut was recent, backfill, handle.
	deadline := time.Now().Add(2 * time.Minute)
	for last, _ := bot.latest(began); last.Distinct < total && time.Now().Before(deadline); last, _ = bot.latest(began) {
		time.Sleep(20 * time.Millisecond)
	}
	caughtUp := time.Since(began) - postedFor
	_, samples := bot.latest(began)
	final, err := bot.stop()
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	var lost uint64
	for i := range posted {
		var d uint64
		if i < len(final.PerChannel) {
			d = final.PerChannel[i]
		}
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
	slope, heapSlope := slopes(steady)
	floors := map[time.Duration]rssSample{} // the lowest sample of each cut interval
	for _, s := range steady {
		k := s.t.Truncate(cutEvery)
		if f, ok := floors[k]; !ok || s.rss < f.rss {
			floors[k] = s
		}
	}
	floorSlope, _ := slopes(slices.Collect(maps.Values(floors))) // the fit needs no order
	sustained := float64(total) / postedFor.Seconds()

	b.ReportMetric(float64(total), "posted")
	b.ReportMetric(sustained, "posted-ev/s")
	b.ReportMetric(float64(final.Handled), "handled")
	b.ReportMetric(float64(final.Recovered), "recovered")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(final.Dups), "dups")
	b.ReportMetric(float64(reconnects), "reconnects")
	b.ReportMetric(float64(st.SlowDropped), "slow-drops")
	b.ReportMetric(float64(st.Requests), "rest-calls")
	b.ReportMetric(float64(st.RateLimited), "429s")
	b.ReportMetric(float64(rssEnd)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(rssMax)/(1<<20), "rss-max-MiB")
	b.ReportMetric(slope, "rss-slope-KiB/min")
	b.ReportMetric(floorSlope, "rss-floor-slope-KiB/min")
	b.ReportMetric(heapSlope, "heap-slope-KiB/min")

	var series strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&series, " %s:%.1f/%.1f", s.t.Round(time.Second), float64(s.rss)/(1<<20), float64(s.heap)/(1<<20))
	}
	b.Logf("soak: %v at %.0f ev/s offered (%.0f sustained) into %d channels, a cut every %v (%d cuts, %d reconnects, %d slow drops); backfill bound %d per channel",
		postedFor.Round(time.Second), rate, sustained, nch, cutEvery, cuts, reconnects, st.SlowDropped, perChannel)
	b.Logf("soak: posted %d, distinct handled %d, handler calls %d (%d recovered, %d foreign), lost %d, dups %d; caught up %v after posting stopped",
		total, final.Distinct, final.Handled, final.Recovered, final.Foreign, lost, final.Dups, caughtUp.Round(time.Millisecond))
	b.Logf("soak: the bot's RSS/live heap in MiB after GC at t:%s", series.String())
	b.Logf("soak: slopes after %v, KiB/min: RSS %.1f over %d samples, %.1f over the %d interval floors; live heap %.1f",
		warmup, slope, len(steady), floorSlope, len(floors), heapSlope)
	if sustained < 0.98*rate {
		b.Logf("soak: the server sustained %.0f ev/s, not the %.0f offered", sustained, rate)
	}
	if lost > 0 {
		b.Errorf("%d of %d messages posted were never handled", lost, total)
	}
	if final.Dups > 0 {
		b.Errorf("%d handler calls repeated a message already handled", final.Dups)
	}
}
