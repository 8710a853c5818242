package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
	"github.com/ermine-rt/ermine/synth"
)

// canonical returns the bot's cache as canonical JSON.
func canonical(t *testing.T, bot *ermine.Bot) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bot.Cache().WriteCanonicalJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitUntil polls cond until it holds, or fails the test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRecordReplaysToTheSameCache records a live session over the fake server (a stream of
// events, a cut, messages posted and a channel gone while the bot is away, a reconnect, more
// events), then replays the recording into a fresh bot: its cache is the live bot's, byte for
// byte in canonical JSON.
func TestRecordReplaysToTheSameCache(t *testing.T) {
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(f.String(), func(t *testing.T) {
			gen := synth.New(synth.World{Seed: 7, Servers: 3, ChannelsPerServer: 4, Users: 60, MembersPerServer: 20, RolesPerServer: 2, EmojisPerServer: 2})
			world := demoWorld(gen)
			srv := stoattest.NewServer(t, stoattest.WithWorld(world), stoattest.WithoutRateLimits())
			var rec bytes.Buffer // written by the connection's reader only, read after Run returns
			// No backfill nor member-list refetch: what they fetch over REST is not in the
			// recording (Config.Record).
			bot, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, WireFormat: f, Record: &rec,
				Connection: ermine.Connection{Backoff: ermine.Backoff{Base: 10 * time.Millisecond}},
				Backfill:   ermine.BackfillConfig{Channels: -1, MemberLists: -1}})
			if err != nil {
				t.Fatal(err)
			}
			var readies atomic.Int32
			var seen sync.Map // message contents handled
			ermine.Handle(bot, func(*ermine.Context, *stoatpb.ReadyEvent) error { readies.Add(1); return nil })
			var connects, replayedConnects atomic.Int32
			ermine.Handle(bot, func(*ermine.Context, *stoatpb.AfterConnectEvent) error { connects.Add(1); return nil })
			ermine.Handle(bot, func(_ *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
				seen.Store(ev.GetMessage().GetContent(), true)
				return nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			runCtx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- bot.Run(runCtx) }()

			// post sends a message through the server (stored in its history) and, unless the
			// bot is away, waits for the bot to handle it: everything pushed before it was read.
			post := func(content string, away bool) {
				t.Helper()
				ch := world.Channels[len(content)%len(world.Channels)].GetId()
				if _, err := srv.PostMessage(&stoatpb.Message{Channel: ch, Author: gen.UserID(1), Content: content}); err != nil {
					t.Fatal(err)
				}
				if !away {
					waitUntil(t, content, func() bool { _, ok := seen.Load(content); return ok })
				}
			}
			push := func(n int) {
				t.Helper()
				for range n {
					if err := srv.Push(gen.Next()); err != nil {
						t.Fatal(err)
					}
				}
			}
			waitUntil(t, "Ready", func() bool { return readies.Load() == 1 })
			push(400)
			post("before the cut", false)

			srv.Cut()
			waitUntil(t, "the server to see the cut", func() bool { return srv.Stats().LiveReady == 0 })
			post("while away", true)
			gone := world.Channels[0].GetId()
			if err := srv.Update(func(w *stoattest.World) {
				w.Channels = w.Channels[1:]
				delete(w.Messages, gone)
			}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the second Ready", func() bool { return readies.Load() == 2 })
			push(400)
			post("the last", false)
			stop()
			if err := <-ran; err != nil {
				t.Fatal(err)
			}
			live := canonical(t, bot)
			if st := bot.Stats().Shard; st.Connects != 2 || st.RecordErrors != 0 {
				t.Fatalf("shard stats %+v", st)
			}
			var c map[string]map[string]any
			if err := json.Unmarshal(live, &c); err != nil {
				t.Fatal(err)
			}
			if _, ok := c["channels"][gone]; ok || !bytes.Contains(live, []byte("the last")) {
				t.Fatal("the live cache holds the channel the second Ready lacks, or lacks the last message")
			}
			if n := bytes.Count(rec.Bytes(), shardactor.ConnectMarker(f)); n != 2 {
				t.Errorf("%d connect markers, want 2", n)
			}
			if bytes.Contains(rec.Bytes(), []byte(srv.Token())) {
				t.Error("the recording holds the token")
			}

			fresh, err := ermine.New(ermine.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close(context.Background())
			ermine.Handle(fresh, func(*ermine.Context, *stoatpb.AfterConnectEvent) error { replayedConnects.Add(1); return nil })
			fd, err := feed.Start(ctx, fresh)
			if err != nil {
				t.Fatal(err)
			}
			n, bad, err := replayFrames(ctx, fd, &rec, f, nil)
			if err != nil || bad != 0 || n < 800 {
				t.Fatalf("replay: %d events, %d malformed frames, %v", n, bad, err)
			}
			if err := fd.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if live, replayed := connects.Load(), replayedConnects.Load(); live != 2 || replayed != live {
				t.Errorf("AfterConnectEvent handled %d times live, %d in the replay", live, replayed)
			}
			if replayed := canonical(t, fresh); !bytes.Equal(replayed, live) {
				t.Errorf("the replayed cache differs from the live one:\nlive     %.2000s\nreplayed %.2000s", live, replayed)
			}
		})
	}
}

// TestRecordCommand runs `ermine record` against the fake server with the token in the
// environment, through a reconnect, then `ermine replay` on what it wrote.
func TestRecordCommand(t *testing.T) {
	srv := stoattest.NewServer(t)
	t.Setenv("ERMINE_TEST_TOKEN", srv.Token())
	file := filepath.Join(t.TempDir(), "rec.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runRecord(ctx, []string{"--api", srv.URL, "--token-env", "ERMINE_TEST_TOKEN", "--out", file, "--duration", "3s"})
	}()
	if err := srv.WaitAuthenticated(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Cut()
	if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Authenticated == 2 && st.LiveReady == 1 }); err != nil {
		t.Fatal(err)
	}
	general := srv.World().Channels[0].GetId()
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: general, Content: "recorded"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(rec, shardactor.ConnectMarker(bonfire.JSON)); n != 2 || strings.Contains(string(rec), srv.Token()) {
		t.Fatalf("%d connect markers, or the token, in the recording:\n%s", n, rec)
	}
	c := replayCache(t, strings.Split(strings.TrimSpace(string(rec)), "\n")...)
	if field(c["channels"], general, "last_message_id") == nil || !strings.Contains(string(rec), `"recorded"`) {
		t.Errorf("the replayed cache lacks the recorded message; recording:\n%.3000s", rec)
	}
}
