package ermine_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// TestReadyDiffAfterReconnect: while the bot is away, a channel is deleted, a server is left
// and a channel is created; after it reconnects, its handlers get one ReadyDiffEvent that lists
// them, after the second Ready's handlers and with the Ready applied to the cache; the first
// Ready has none.
func TestReadyDiffAfterReconnect(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithWorld(stoattest.SmallWorld(7)))
	w := srv.World()
	lab, second := w.Servers[0], w.Servers[1]
	general, deleted := lab.Channels[0], lab.Channels[1]

	b, err := ermine.New(ermine.Config{
		Token: srv.Token(), APIURL: srv.URL,
		Logger:     slog.New(slog.NewTextHandler(&syncBuffer{}, nil)),
		Connection: ermine.Connection{Backoff: ermine.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, ResetAfter: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var diffs []*stoatpb.ReadyDiffEvent
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	ready := make(chan struct{}, 4)
	ermine.Handle(b, func(*ermine.Context, *stoatpb.ReadyEvent) error {
		note("ready")
		time.Sleep(20 * time.Millisecond) // a slow handler (not detached: below DetachAfter)
		note("ready done")
		ready <- struct{}{}
		return nil
	})
	ermine.Handle(b, func(_ *ermine.Context, ev *stoatpb.ReadyDiffEvent) error {
		note("diff")
		mu.Lock()
		defer mu.Unlock()
		diffs = append(diffs, ev)
		if b.Cache().Channel(deleted) != nil || b.Cache().Server(second.Id) != nil {
			t.Error("the diff's handler runs before the Ready's drops are applied")
		}
		return nil
	})
	f := connect(t, b)
	ctx := t.Context()
	waitReady := func() {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(15 * time.Second):
			t.Fatal("no Ready")
		}
	}
	waitReady()
	drain := func() {
		t.Helper()
		dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
		defer dcancel()
		if err := f.Drain(dctx); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	if b.Cache().Channel(deleted) == nil || b.Cache().Server(second.Id) == nil {
		t.Fatal("the first Ready did not cache the channel and the server to be removed")
	}

	srv.RefuseUpgrades(http.StatusServiceUnavailable)
	srv.Cut()
	if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
		t.Fatal(err)
	}
	const created = "01READYD1FFNEWCHANNE000001"
	err = srv.Update(func(w *stoattest.World) {
		w.Channels = slices.DeleteFunc(w.Channels, func(c *stoatpb.Channel) bool { return c.GetId() == deleted })
		w.Channels = append(w.Channels, &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: created, Server: lab.Id, Name: "created"})
		s := w.Servers[0]
		s.Channels = append(slices.DeleteFunc(s.Channels, func(id string) bool { return id == deleted }), created)
		for _, c := range s.Categories {
			c.Channels = slices.DeleteFunc(c.Channels, func(id string) bool { return id == deleted })
		}
		w.Members = slices.DeleteFunc(w.Members, func(m *stoatpb.Member) bool {
			return m.GetId().GetServer() == second.Id && m.GetId().GetUser() == w.Self.GetId()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	expect, err := ermine.Expect(wctx, b, func(*stoatpb.ReadyDiffEvent) bool { return true }, ermine.WithoutConsume())
	if err != nil {
		t.Fatal(err)
	}
	srv.RefuseUpgrades(0)
	waitReady()
	if _, err := expect.Wait(); err != nil {
		t.Fatalf("waiting for the ReadyDiffEvent: %v", err)
	}
	drain()

	mu.Lock()
	defer mu.Unlock()
	if want := []string{"ready", "ready done", "ready", "ready done", "diff"}; !slices.Equal(order, want) {
		t.Fatalf("handlers ran in the order %q, want %q", order, want)
	}
	d := diffs[0]
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	check("servers removed", d.GetServersRemoved(), []string{second.Id})
	check("servers added", d.GetServersAdded(), nil)
	check("channels added", d.GetChannelsAdded(), []string{created})
	removed := []string{deleted}
	removed = append(removed, second.Channels...) // the left server's channels go with it
	slices.Sort(removed)
	check("channels removed", d.GetChannelsRemoved(), removed)
	if len(d.GetBackfilled())+len(d.GetNotBackfilled()) != 0 {
		t.Errorf("channels that missed messages: %v, %v; none did", d.GetBackfilled(), d.GetNotBackfilled())
	}
	if b.Cache().Channel(created) == nil || b.Cache().Channel(general) == nil {
		t.Error("the created channel, or a kept one, is not cached after the re-Ready")
	}
}
