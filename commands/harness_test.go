package commands_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/commands"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// Ids of the users the tests add to the fake world: a bot other than ours, and a user the bot
// shares nothing with (not in its Ready, so only REST knows him).
const (
	helperID = "01KBHE1PER0000000000000000"
	daveID   = "01KBDAVE000000000000000000"
)

// harness is a bot running a Router against a fake Stoat server.
type harness struct {
	t    *testing.T
	srv  *stoattest.Server
	bot  *ermine.Bot
	logs *testlog.Buffer
	w    *stoattest.World
}

// world is SmallWorld(1) with the helper bot (a member of Ermine Lab) and dave (in no server).
func world() *stoattest.World {
	w := stoattest.SmallWorld(1)
	lab := w.ServerByName("Ermine Lab")
	w.Users = append(w.Users,
		&stoatpb.User{Id: helperID, Username: "helper", Discriminator: "0002", Bot: &stoatpb.BotInformation{Owner: w.UserByName("bob").GetId()}},
		&stoatpb.User{Id: daveID, Username: "dave", Discriminator: "7777"})
	w.Members = append(w.Members, &stoatpb.Member{Id: &stoatpb.MemberId{Server: lab.GetId(), User: helperID}})
	return w
}

// start runs a bot with r on a fresh fake server until the test ends.
func start(t *testing.T, r *commands.Router) *harness {
	t.Helper()
	srv := stoattest.NewServer(t, stoattest.WithoutRateLimits(), stoattest.WithWorld(world()))
	logs := &testlog.Buffer{}
	bot, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ermine.Handle(bot, r.Handle)
	ready := make(chan struct{})
	ermine.Handle(bot, func(*ermine.Context, *stoatpb.ReadyEvent) error { close(ready); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the bot stopped before Ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no Ready within 15s")
	}
	return &harness{t: t, srv: srv, bot: bot, logs: logs, w: srv.World()}
}

func (h *harness) user(name string) string { return h.w.UserByName(name).GetId() }

func (h *harness) channel(name string) string { return h.w.ChannelByName(name).GetId() }

// dm is the DM between the bot and alice.
func (h *harness) dm() string {
	for _, c := range h.w.Channels {
		if c.GetChannelType() == stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE {
			return c.GetId()
		}
	}
	h.t.Fatal("the world has no DM")
	return ""
}

// post sends content as user in channel and returns the message's id.
func (h *harness) post(user, channel, content string) string {
	h.t.Helper()
	m, err := h.srv.PostMessage(&stoatpb.Message{Channel: channel, Author: user, Content: content})
	if err != nil {
		h.t.Fatal(err)
	}
	return m.GetId()
}

// reply returns the bot's reply to message id, waiting up to 10s for it.
func (h *harness) reply(channel, id string) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := h.replyTo(channel, id); m != nil {
			return m.GetContent()
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("no reply to %s within 10s", id)
	return ""
}

func (h *harness) replyTo(channel, id string) *stoatpb.Message {
	for _, m := range h.srv.World().Messages[channel] {
		if m.GetAuthor() == h.w.Self.GetId() && slices.Contains(m.GetReplies(), id) {
			return m
		}
	}
	return nil
}

// say posts content as user in channel and returns the bot's reply.
func (h *harness) say(user, channel, content string) string {
	h.t.Helper()
	return h.reply(channel, h.post(user, channel, content))
}

// ignored posts content as user in channel and checks that the bot does not answer it: a probe
// command is posted after it in the same channel and answered; a channel's messages are handled
// in order, so an answer to the first would have been sent before the probe's.
func (h *harness) ignored(user, channel, content, probe string) {
	h.t.Helper()
	id := h.post(user, channel, content)
	h.say(h.user("alice"), channel, probe)
	if m := h.replyTo(channel, id); m != nil {
		h.t.Errorf("%q was answered %q", content, m.GetContent())
	}
}
