package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
	"github.com/ermine-rt/ermine/synth"
)

// runDemo starts the fake Stoat server with a synthetic world, runs a small bot on the runtime
// against it over a real WebSocket, streams synthetic traffic, and shows live progress.
func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Second, "how long to stream (Ctrl-C stops earlier)")
	rate := fs.Int("rate", 5000, "events per second the fake server pushes")
	seed := fs.Uint64("seed", 1, "seed of the world and the stream")
	format := fs.String("format", "json", "wire format: json or msgpack")
	verbose := fs.Bool("v", false, "show the runtime's warnings")
	metrics := fs.String("metrics", "", "serve Prometheus metrics and /healthz on this address (e.g. 127.0.0.1:9464)")
	nodes := fs.Int("nodes", 1, "run the bot as a local cluster of this many `ermine node` processes (cluster mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	gen := synth.New(synth.World{Seed: *seed, Servers: 5, ChannelsPerServer: 8, Users: 200, MembersPerServer: 60, RolesPerServer: 4, EmojisPerServer: 3})
	srv, err := stoattest.Start(ctx, "127.0.0.1:0", stoattest.WithWorld(demoWorld(gen)))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("fake Stoat on %s (events %s)\n", srv.URL, srv.EventsURL())
	if *nodes > 1 {
		return runClusterDemo(ctx, *nodes, gen, srv, *rate, *duration, *format)
	}
	if *metrics != "" {
		fmt.Printf("metrics on http://%s/metrics, health on http://%s/healthz\n", *metrics, *metrics)
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	bot, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, EventsURL: srv.EventsURL() + "?format=" + *format, Logger: logger,
		MetricsAddr: *metrics})
	if err != nil {
		return err
	}
	var handled, replies, readies atomic.Int64
	ready := make(chan struct{}, 1)
	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		readies.Add(1)
		select {
		case ready <- struct{}{}:
		default:
		}
		return nil
	})
	ermine.Handle(bot, func(ctx *ermine.Context, ev stoatpb.ShardEvent) error {
		handled.Add(1)
		return nil
	})
	// The example bot: answer "!ping" with "pong", through the rate-limited REST client.
	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetContent() != "!ping" {
			return nil
		}
		if _, err := ctx.Reply("pong"); err != nil {
			return err
		}
		replies.Add(1)
		return nil
	})

	runCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	fd, err := feed.Connect(runCtx, bot) // Run, with Drain to let the bot catch up at the end
	if err != nil {
		return err
	}
	select {
	case <-ready:
	case <-fd.Done():
		return fmt.Errorf("the bot stopped before Ready: %w", fd.Err())
	case <-time.After(15 * time.Second):
		return fmt.Errorf("no Ready from the fake server within 15s")
	}
	fmt.Printf("bot connected; streaming %d events/s for %v (Ctrl-C to stop)\n\n", *rate, *duration)

	streamCtx, stopStream := context.WithTimeout(ctx, *duration)
	defer stopStream()
	var pushed, pings atomic.Int64
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		stream(streamCtx, srv, gen, *rate, &pushed, &pings)
	}()

	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	for running := true; running; {
		select {
		case <-streamDone:
			running = false
		case <-tick.C:
			h := handled.Load()
			printProgress(time.Since(start), h-last, bot, pushed.Load(), h, replies.Load())
			last = h
		}
	}
	// Let the bot catch up, then stop it gracefully.
	drainCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	for handled.Load() < pushed.Load()+readies.Load() && drainCtx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	_ = fd.Drain(drainCtx)
	cancel()
	elapsed := time.Since(start)
	stats := bot.Stats()
	stopBot()
	<-fd.Done()
	runErr := fd.Err()

	fmt.Printf("\nsummary after %v\n", elapsed.Round(time.Millisecond))
	fmt.Printf("  events pushed by the fake server  %d (%.0f/s)\n", pushed.Load(), float64(pushed.Load())/elapsed.Seconds())
	fmt.Printf("  events handled by the bot         %d (Ready %d)\n", handled.Load(), readies.Load())
	fmt.Printf("  !ping received / pong replies     %d / %d (REST, rate-limited to 10 per channel per 10s)\n", pings.Load(), replies.Load())
	fmt.Printf("  handler errors / panics           %d / %d\n", stats.HandlerErrors, stats.HandlerPanics)
	fmt.Printf("  typing events shed under pressure %d\n", stats.ShedTyping)
	fmt.Printf("  owners activated                  %d\n", stats.Owners.Activations)
	fmt.Printf("  cache                             %s\n", cacheLine(bot))
	if runErr != nil {
		return runErr
	}
	return nil
}

// stream pushes synthetic events at rate, in batches every 10ms; one message in 200 is a
// "!ping" posted through the fake server's REST path (so the bot's reply has a real channel).
func stream(ctx context.Context, srv *stoattest.Server, gen *synth.Generator, rate int, pushed, pings *atomic.Int64) {
	const period = 10 * time.Millisecond
	perTick := max(1, rate/100)
	t := time.NewTicker(period)
	defer t.Stop()
	batch := make([]stoatpb.Event, 0, perTick)
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch = batch[:0]
		for i := 0; i < perTick; i++ {
			ev := gen.Next()
			if mc, ok := ev.(*stoatpb.MessageCreateEvent); ok {
				if n++; n%200 == 0 {
					m := mc.GetMessage()
					if _, err := srv.PostMessage(&stoatpb.Message{Channel: m.GetChannel(), Author: m.GetAuthor(), Content: "!ping"}); err == nil {
						pings.Add(1)
						pushed.Add(1)
					}
					continue
				}
			}
			batch = append(batch, ev)
		}
		if err := srv.Push(batch...); err != nil {
			return
		}
		pushed.Add(int64(len(batch)))
	}
}

func printProgress(elapsed time.Duration, perSecond int64, bot *ermine.Bot, pushed, handled, replies int64) {
	s := bot.Stats()
	fmt.Printf("t=%-4s events %7d/s  pushed %8d  handled %8d  owners %s  replies %d  in-flight %d\n  cache %s\n",
		elapsed.Round(time.Second), perSecond, pushed, handled, ownersLine(s.Owners), replies, s.InFlight, cacheLine(bot))
}

func ownersLine(s actors.Stats) string {
	return fmt.Sprintf("%d servers %d channels %d userdir %d shard",
		s.Active[actors.KindServer], s.Active[actors.KindChannel], s.Active[actors.KindUserDir], s.Active[actors.KindShard])
}

func cacheLine(bot *ermine.Bot) string {
	c := bot.Cache().Counts()
	var parts []string
	for _, k := range []string{"servers", "channels", "users", "members", "messages", "emojis", "voice_channels"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// demoWorld turns a synthetic world into the fake server's world: the bot is a member of every
// server and every user a member of the servers the generator gives them.
func demoWorld(g *synth.Generator) *stoattest.World {
	w := g.World()
	world := &stoattest.World{Token: "demo-token-not-a-secret", Self: g.Bot(), Messages: map[string][]*stoatpb.Message{}}
	for i := 0; i < w.Users; i++ {
		world.Users = append(world.Users, g.User(i))
	}
	for s := 0; s < w.Servers; s++ {
		world.Servers = append(world.Servers, g.Server(s))
		for c := 0; c < w.ChannelsPerServer; c++ {
			world.Channels = append(world.Channels, g.Channel(s, c))
		}
		for e := 0; e < w.EmojisPerServer; e++ {
			world.Emojis = append(world.Emojis, g.Emoji(s, e))
		}
		world.Members = append(world.Members, &stoatpb.Member{Id: &stoatpb.MemberId{Server: g.ServerID(s), User: g.BotID()}})
		seen := map[string]bool{}
		for m := 0; m < w.MembersPerServer; m++ {
			mem := g.Member(s, m)
			if !seen[mem.GetId().GetUser()] {
				seen[mem.GetId().GetUser()] = true
				world.Members = append(world.Members, mem)
			}
		}
	}
	return world
}
