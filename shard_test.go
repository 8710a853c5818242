package ermine_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

type syncBuffer = testlog.Buffer

type running struct {
	bot   *ermine.Bot
	feed  *feed.Feed
	srv   *stoattest.Server
	logs  *syncBuffer
	ready chan *stoatpb.ReadyEvent
	err   chan error
	stop  context.CancelFunc
}

// runBot starts a bot on a fake server with fast heartbeats and backoff, and registers a Ready
// handler; it stops the bot when the test ends.
func runBot(t *testing.T, format bonfire.Format, opts ...stoattest.Option) *running {
	t.Helper()
	srv := stoattest.NewServer(t, opts...)
	logs := &syncBuffer{}
	b, err := ermine.New(ermine.Config{
		Token:      srv.Token(),
		APIURL:     srv.URL,
		WireFormat: format,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Connection: ermine.Connection{
			PingInterval: 50 * time.Millisecond,
			PongTimeout:  200 * time.Millisecond,
			Backoff:      ermine.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond, ResetAfter: time.Minute},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{bot: b, srv: srv, logs: logs, ready: make(chan *stoatpb.ReadyEvent, 16), err: make(chan error, 1)}
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		r.ready <- ev
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	if r.feed, err = feed.Connect(ctx, b); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-r.feed.Done()
		r.err <- r.feed.Err()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.err:
			if err != nil && !errors.As(err, new(*shardactor.AuthError)) && !errors.Is(err, shardactor.ErrLoggedOut) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		if strings.Contains(logs.String(), srv.Token()) {
			t.Error("the token appears in the logs")
		}
	})
	return r
}

func (r *running) waitReady(t *testing.T) *stoatpb.ReadyEvent {
	t.Helper()
	select {
	case ev := <-r.ready:
		return ev
	case err := <-r.err:
		t.Fatalf("Run ended before Ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no Ready")
	}
	return nil
}

func firstTextChannel(t *testing.T, w *stoattest.World) *stoatpb.Channel {
	t.Helper()
	for _, c := range w.Channels {
		if c.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL {
			return c
		}
	}
	t.Fatal("the world has no text channel")
	return nil
}

// TestOverTheWire connects to the fake server, receives Ready and a stream of events in both
// formats, and checks that they reach typed handlers in order and fill the cache.
func TestOverTheWire(t *testing.T) {
	for _, format := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(format.String(), func(t *testing.T) {
			r := runBot(t, format)
			got := make(chan string, 100)
			ermine.Handle(r.bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
				got <- ev.GetMessage().GetContent()
				return nil
			})
			rd := r.waitReady(t)
			if rd.GetMe().GetId() != r.srv.World().Self.GetId() {
				t.Fatalf("Ready's me = %v", rd.GetMe())
			}
			ch := firstTextChannel(t, r.srv.World())
			if r.bot.Cache().Channel(ch.GetId()) == nil {
				t.Fatal("Ready did not fill the cache")
			}
			for i := 0; i < 50; i++ {
				if _, err := r.srv.PostMessage(&stoatpb.Message{Channel: ch.GetId(), Author: r.srv.World().Users[0].GetId(), Content: strings.Repeat("x", i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 50; i++ {
				select {
				case c := <-got:
					if len(c) != i {
						t.Fatalf("message %d arrived as %d: out of order", i, len(c))
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("message %d never reached the handler", i)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.feed.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(r.bot.Cache().Messages(ch.GetId())); n < 50 {
				t.Fatalf("cached %d messages", n)
			}
		})
	}
}

// TestReconnects drops the connection in the ways Stoat does (a cut socket, a close frame, a
// missed Pong) and checks that the bot reconnects with a fresh Ready each time.
func TestReconnects(t *testing.T) {
	r := runBot(t, bonfire.JSON)
	r.waitReady(t)
	r.srv.Cut()
	r.waitReady(t)
	r.srv.CloseAll(websocket.StatusGoingAway, "restart")
	r.waitReady(t)
	r.srv.DropPongs(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The missed Pong ends the connection; a new one is made while Pongs are still dropped.
	if err := r.srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Accepted >= 4 }); err != nil {
		t.Fatalf("no reconnect after missed Pongs: %v", err)
	}
	r.srv.DropPongs(false)
	r.waitReady(t)
}

func TestInvalidSessionStopsWithAnError(t *testing.T) {
	r := runBot(t, bonfire.JSON)
	r.waitReady(t)
	r.srv.RejectTokens(true)
	r.srv.Cut()
	select {
	case err := <-r.err:
		var auth *shardactor.AuthError
		if !errors.As(err, &auth) {
			t.Fatalf("Run = %v, want an *AuthError", err)
		}
		if strings.Contains(err.Error(), r.srv.Token()) {
			t.Fatal("the token appears in the error")
		}
		r.err <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run kept going after the token was refused")
	}
}

// TestRestartReplacesTheCache restarts the server with a changed world: the bot reconnects, and
// the re-Ready replaces the cached servers and channels.
func TestRestartReplacesTheCache(t *testing.T) {
	r := runBot(t, bonfire.JSON)
	r.waitReady(t)
	w := r.srv.World()
	gone := w.Servers[0].GetId()
	var keep []*stoatpb.Member
	for _, m := range w.Members {
		if m.GetId().GetServer() != gone {
			keep = append(keep, m)
		}
	}
	w.Members = keep
	if err := r.srv.Restart(w); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t)
	if r.bot.Cache().Server(gone) != nil {
		t.Fatal("a server absent from the new Ready is still cached")
	}
}
