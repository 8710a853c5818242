package ermine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// seenMessage is one MessageCreateEvent as a handler got it.
type seenMessage struct {
	id, channel string
	recovered   bool
}

// messageLog records the MessageCreateEvents a bot's handlers get.
type messageLog struct {
	mu   sync.Mutex
	msgs []seenMessage
}

func (l *messageLog) add(ev *stoatpb.MessageCreateEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, seenMessage{id: ev.GetMessage().GetId(), channel: ev.GetMessage().GetChannel(), recovered: ev.GetRecovered()})
}

func (l *messageLog) snapshot() []seenMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenMessage(nil), l.msgs...)
}

func (l *messageLog) waitFor(t *testing.T, n int) []seenMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := l.snapshot()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handlers got %d messages, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// backfillWorld is SmallWorld with its server grown to channels text channels.
func backfillWorld(channels int) *stoattest.World {
	w := stoattest.SmallWorld(7)
	lab := w.Servers[0]
	for i := len(lab.Channels); i < channels; i++ {
		c := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: fmt.Sprintf("01BACKF1LLCHANNE%010d", i), Server: lab.Id, Name: fmt.Sprintf("extra-%d", i)}
		w.Channels = append(w.Channels, c)
		lab.Channels = append(lab.Channels, c.Id)
	}
	return w
}

// startLoggedBot runs a bot on srv whose MessageCreateEvent handler records into a messageLog;
// the returned channel gets each Ready. configure, if given, changes the bot's Config first.
func startLoggedBot(t *testing.T, srv *stoattest.Server, format bonfire.Format, configure ...func(*ermine.Config)) (*feed.Feed, *ermine.Bot, *messageLog, chan struct{}) {
	t.Helper()
	cfg := ermine.Config{
		Token: srv.Token(), APIURL: srv.URL, WireFormat: format,
		Logger:     slog.New(slog.NewTextHandler(&syncBuffer{}, nil)),
		Connection: ermine.Connection{Backoff: ermine.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, ResetAfter: time.Minute}},
	}
	for _, c := range configure {
		c(&cfg)
	}
	b, err := ermine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := &messageLog{}
	ermine.Handle(b, func(_ *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		log.add(ev)
		return nil
	})
	ready := make(chan struct{}, 8)
	ermine.Handle(b, func(*ermine.Context, *stoatpb.ReadyEvent) error {
		ready <- struct{}{}
		return nil
	})
	f := connect(t, b)
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("no Ready")
	}
	return f, b, log, ready
}

func dump(t *testing.T, b *ermine.Bot) string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Cache().WriteCanonicalJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestBackfillAfterReconnect: messages posted in many channels while the bot is away reach its
// handlers after it reconnects, each once, marked recovered, in id order per channel and before
// that channel's later live messages; the cache then equals that of a bot that never
// disconnected.
func TestBackfillAfterReconnect(t *testing.T) {
	const channels, missed = 20, 500
	for _, format := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(format.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t, stoattest.WithWorld(backfillWorld(channels)))
			ref := stoattest.NewServer(t, stoattest.WithWorld(backfillWorld(channels)))
			feedOf, bot, got, ready := startLoggedBot(t, srv, format)
			refFeed, refBot, refGot, _ := startLoggedBot(t, ref, format)

			w := srv.World()
			var authors []string
			for _, m := range w.Members {
				authors = append(authors, m.GetId().GetUser())
			}
			chans := w.Servers[0].Channels
			live := map[string]bool{}
			post := func(i int) {
				m, err := srv.PostMessage(&stoatpb.Message{Channel: chans[i%len(chans)], Author: authors[i%len(authors)], Content: fmt.Sprintf("message %d", i)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ref.PostMessage(&stoatpb.Message{Id: m.Id, Channel: m.Channel, Author: m.Author, Content: m.Content}); err != nil {
					t.Fatal(err)
				}
				live[m.Id] = true
			}
			for i := range channels {
				post(i)
			}
			got.waitFor(t, channels)

			comeBack := cutAway(t, srv)
			ctx := context.Background()
			gap := map[string]bool{}
			for i := range missed {
				m, err := srv.PostMessage(&stoatpb.Message{Channel: chans[i%len(chans)], Author: authors[i%len(authors)], Content: fmt.Sprintf("missed %d", i)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ref.PostMessage(&stoatpb.Message{Id: m.Id, Channel: m.Channel, Author: m.Author, Content: m.Content}); err != nil {
					t.Fatal(err)
				}
				gap[m.Id] = true
			}
			comeBack()
			select {
			case <-ready:
			case <-time.After(15 * time.Second):
				t.Fatal("no second Ready")
			}
			for i := range channels { // live at once, while the backfill may still run
				post(channels + i)
			}

			got.waitFor(t, 2*channels+missed)
			refGot.waitFor(t, 2*channels+missed)
			for _, f := range []*feed.Feed{feedOf, refFeed} {
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				if err := f.Drain(dctx); err != nil {
					t.Fatal(err)
				}
				cancel()
			}
			all := got.snapshot()
			if len(all) != 2*channels+missed {
				t.Errorf("the handlers got %d messages, want %d", len(all), 2*channels+missed)
			}
			times := map[string]int{}
			last := map[string]string{}
			for _, m := range all {
				times[m.id]++
				switch {
				case live[m.id] && m.recovered:
					t.Errorf("live message %s is marked recovered", m.id)
				case gap[m.id] && !m.recovered:
					t.Errorf("missed message %s is not marked recovered", m.id)
				case !live[m.id] && !gap[m.id]:
					t.Errorf("message %s was never posted", m.id)
				}
				if m.id <= last[m.channel] {
					t.Errorf("channel %s: message %s after %s", m.channel, m.id, last[m.channel])
				}
				last[m.channel] = m.id
			}
			for id := range gap {
				if times[id] != 1 {
					t.Errorf("missed message %s reached the handlers %d times", id, times[id])
				}
			}
			if a, b := dump(t, bot), dump(t, refBot); a != b {
				t.Errorf("the cache after the backfill differs from a bot's that never disconnected:\n%s\nwant\n%s", a, b)
			}
		})
	}
}

// cutAway cuts the bot's connection and refuses its reconnects until the returned function is
// called.
func cutAway(t *testing.T, srv *stoattest.Server) (comeBack func()) {
	t.Helper()
	srv.RefuseUpgrades(http.StatusServiceUnavailable)
	srv.Cut()
	if err := srv.WaitFor(context.Background(), func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
		t.Fatal(err)
	}
	return func() { srv.RefuseUpgrades(0) }
}

// connect runs b connected, until the test ends; Run must then return nil.
func connect(t *testing.T, b *ermine.Bot) *feed.Feed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := feed.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-f.Done()
		if err := f.Err(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}
