package ermine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// drainWithin drains f within 15 s.
func drainWithin(t *testing.T, f *feed.Feed) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// ids returns the ids of msgs.
func ids(msgs []*stoatpb.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.GetId()
	}
	return out
}

// TestResyncChannel: a channel changed behind the bot's back (renamed, messages stored without
// events) is rebuilt from the API; live messages that arrive while the rebuild's requests wait
// run their handlers once, are cached once and in order, although the API's answer has them too.
func TestResyncChannel(t *testing.T) {
	srv := stoattest.NewServer(t)
	f, bot, got, _ := startLoggedBot(t, srv, bonfire.JSON)
	ch := srv.World().Servers[0].Channels[0]

	silent := []string{srv.NewID(), srv.NewID(), srv.NewID(), srv.NewID(), srv.NewID()}
	if err := srv.Update(func(w *stoattest.World) {
		for _, c := range w.Channels {
			if c.Id == ch {
				c.Name = "renamed-silently"
			}
		}
		for i, id := range silent {
			w.Messages[ch] = append(w.Messages[ch], &stoatpb.Message{Id: id, Channel: ch, Author: w.Self.Id, Content: fmt.Sprintf("silent %d", i)})
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Every request of the rebuild first waits 300 ms (a 429), long enough for live messages
	// to arrive behind its gate.
	srv.InjectRateLimit(1, 300*time.Millisecond)
	before := srv.Stats().RateLimited
	done := make(chan error, 1)
	go func() { done <- bot.Resync(context.Background(), ch) }()
	if err := srv.WaitFor(context.Background(), func(st stoattest.Stats) bool { return st.RateLimited > before }); err != nil {
		t.Fatal(err)
	}
	var live []string
	for i := range 3 {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: ch, Content: fmt.Sprintf("live %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, m.Id)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	drainWithin(t, f)

	if name := bot.Cache().Channel(ch).GetName(); name != "renamed-silently" {
		t.Errorf("channel name %q after the rebuild", name)
	}
	history := ids(srv.World().Messages[ch])
	want := history[max(0, len(history)-100):]
	if cached := ids(bot.Cache().Messages(ch)); !slices.Equal(cached, want) {
		t.Errorf("cached messages after the rebuild:\n%v\nwant the API's newest, each once:\n%v", cached, want)
	}
	if last := bot.Cache().Channel(ch).GetLastMessageId(); last != live[len(live)-1] {
		t.Errorf("last_message_id %s, want %s", last, live[len(live)-1])
	}
	seen := map[string]int{}
	for _, m := range got.snapshot() {
		seen[m.id]++
		if m.recovered {
			t.Errorf("message %s is marked recovered", m.id)
		}
	}
	for _, id := range live {
		if seen[id] != 1 {
			t.Errorf("live message %s reached the handlers %d times, want once", id, seen[id])
		}
	}
	for _, id := range silent {
		if seen[id] != 0 {
			t.Errorf("a rebuild ran the handlers for message %s", id)
		}
	}
}

// TestResyncKeepsLastMessageNewest: a channel and its messages are two requests, so a rebuild can
// fetch a message newer than the channel's last_message_id; the cached channel's is then the
// newest message's (Stoat never lowers it).
func TestResyncKeepsLastMessageNewest(t *testing.T) {
	srv := stoattest.NewServer(t)
	f, bot, _, _ := startLoggedBot(t, srv, bonfire.JSON)
	ch := srv.World().Servers[0].Channels[0]
	newest := srv.NewID()
	if err := srv.Update(func(w *stoattest.World) {
		w.Messages[ch] = append(w.Messages[ch], &stoatpb.Message{Id: newest, Channel: ch, Author: w.Self.Id, Content: "sent between the requests"})
		for _, c := range w.Channels {
			if c.Id == ch && c.LastMessageId >= newest {
				t.Fatalf("the world's channel already has last_message_id %s", c.LastMessageId)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := bot.Resync(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	drainWithin(t, f)
	if last := bot.Cache().Channel(ch).GetLastMessageId(); last != newest {
		t.Errorf("last_message_id %q after the rebuild, want the newest message's %s", last, newest)
	}
}

// TestResyncServerAndGone: a server rebuilt from the API gets every member, its new name and
// emojis; a channel the API no longer has is dropped; an id not cached is an error.
func TestResyncServerAndGone(t *testing.T) {
	srv := stoattest.NewServer(t)
	f, bot, _, _ := startLoggedBot(t, srv, bonfire.JSON)
	w := srv.World()
	server := w.Servers[0].Id
	gone := w.Servers[0].Channels[len(w.Servers[0].Channels)-1]
	members := 0
	for _, m := range w.Members {
		if m.GetId().GetServer() == server {
			members++
		}
	}
	if members < 3 {
		t.Fatalf("the world's server has %d members; the test needs more", members)
	}
	if n := len(bot.Cache().Members(server)); n != 1 {
		t.Fatalf("%d members cached after the Ready, want your own only", n)
	}
	if err := srv.Update(func(w *stoattest.World) {
		w.Servers[0].Name = "renamed-server"
		w.Channels = slices.DeleteFunc(w.Channels, func(c *stoatpb.Channel) bool { return c.Id == gone })
		w.Servers[0].Channels = slices.DeleteFunc(w.Servers[0].Channels, func(id string) bool { return id == gone })
	}); err != nil {
		t.Fatal(err)
	}
	err := bot.Resync(context.Background(), server, gone, "01NOTCACHED0000000000000000")
	if err == nil {
		t.Fatal("Resync of an id not cached: no error")
	}
	drainWithin(t, f)
	if n := len(bot.Cache().Members(server)); n != members {
		t.Errorf("%d members cached after the rebuild, want %d", n, members)
	}
	if name := bot.Cache().Server(server).GetName(); name != "renamed-server" {
		t.Errorf("server name %q after the rebuild", name)
	}
	for _, m := range bot.Cache().Members(server) {
		if bot.Cache().User(m.GetId().GetUser()) == nil {
			t.Errorf("member %s rebuilt without its user", m.GetId().GetUser())
		}
	}
	if bot.Cache().Channel(gone) != nil {
		t.Error("a channel the API no longer has is still cached after its rebuild")
	}
}

// TestMemberListsAfterReconnect: a re-Ready lists only your own memberships; the member lists
// the cache held are fetched again after it (and are not, when MemberLists is negative).
func TestMemberListsAfterReconnect(t *testing.T) {
	for _, refetch := range []bool{true, false} {
		t.Run(fmt.Sprintf("refetch=%t", refetch), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			f, bot, _, readies := startLoggedBot(t, srv, bonfire.JSON, func(c *ermine.Config) {
				if !refetch {
					c.Backfill.MemberLists = -1
				}
			})
			// The cache learns the members who write (a message embeds its author's member).
			w := srv.World()
			server := w.Servers[0].Id
			full := 0
			for _, m := range w.Members {
				if m.GetId().GetServer() == server {
					full++
					if _, err := srv.PostMessage(&stoatpb.Message{Channel: w.Servers[0].Channels[0], Author: m.GetId().GetUser(), Content: "hello"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for deadline := time.Now().Add(10 * time.Second); len(bot.Cache().Members(server)) < full; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d members cached, want the %d who wrote", len(bot.Cache().Members(server)), full)
				}
			}
			serverRequests := func() (n uint64) {
				for _, r := range bot.REST().Stats() {
					if strings.Contains(r.Route, "/servers/") {
						n += r.Requests
					}
				}
				return n
			}
			requests := serverRequests()
			cutAway(t, srv)()
			select {
			case <-readies:
			case <-time.After(15 * time.Second):
				t.Fatal("no second Ready")
			}
			drainWithin(t, f)
			want := full
			if !refetch {
				want = 1
			}
			if n := len(bot.Cache().Members(server)); n != want {
				t.Errorf("%d members cached after the re-Ready, want %d", n, want)
			}
			if refetch {
				// The server, its members and its emojis.
				if n := serverRequests() - requests; n != 3 {
					t.Errorf("%d requests on server routes after the cut, want 3 (server, members, emojis)", n)
				}
			}
		})
	}
}

// TestTruncatedGapIsRebuilt: a channel that missed more messages than the backfill fetches gets
// the oldest missed ones as recovered events, and its cache then holds the newest ones.
func TestTruncatedGapIsRebuilt(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithWorld(backfillWorld(2)))
	fd, bot, log, readies := startLoggedBot(t, srv, bonfire.JSON, func(c *ermine.Config) { c.Backfill.Messages = 10 })
	ch := srv.World().Servers[0].Channels[0]
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: ch, Content: "seen"}); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, 1)
	comeBack := cutAway(t, srv)
	var missed []string
	for i := range 30 {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: ch, Content: fmt.Sprintf("missed %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, m.Id)
	}
	comeBack()
	<-readies
	log.waitFor(t, 11)
	drainWithin(t, fd)
	var recovered []string
	for _, m := range log.snapshot() {
		if m.recovered {
			recovered = append(recovered, m.id)
		}
	}
	if !slices.Equal(recovered, missed[:10]) {
		t.Errorf("recovered %v, want the 10 oldest missed %v", recovered, missed[:10])
	}
	cached := ids(bot.Cache().Messages(ch))
	if !slices.Equal(cached, missed[20:]) {
		t.Errorf("cached %v after the rebuild, want the 10 newest %v", cached, missed[20:])
	}
}
