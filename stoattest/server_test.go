package stoattest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
	"github.com/vmihailenco/msgpack/v5"
)

var formats = []bonfire.Format{bonfire.JSON, bonfire.Msgpack}

func TestConnectAndReady(t *testing.T) {
	for _, f := range formats {
		for _, viaFrame := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/authenticate_frame=%v", f, viaFrame), func(t *testing.T) {
				ctx := testCtx(t)
				srv := stoattest.NewServer(t)
				c := dial(t, srv, dialOpts{format: f, noToken: viaFrame})
				if viaFrame {
					c.send(ctx, &stoatpb.AuthenticateFrame{Token: srv.Token()})
				}
				ready := c.handshake(ctx)
				w := srv.World()

				if n := len(ready.Users); n != 2 {
					t.Fatalf("Ready has %d users, want 2 (the DM partner alice, then Self)", n)
				}
				if u := ready.Users[0]; u.Username != "alice" {
					t.Errorf("first user %q, want alice", u.Username)
				}
				me := ready.Users[len(ready.Users)-1]
				if me.Id != w.Self.Id || me.Relationship != stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER || !me.Online {
					t.Errorf("last user %v, want Self with relationship User, online", me)
				}
				if ready.Me.GetId() != w.Self.Id || me.GetBot().GetOwner() != w.UserByName("alice").Id {
					t.Errorf("Me = %v", ready.Me)
				}
				if len(ready.Servers) != 2 || ready.Servers[0].Name != "Ermine Lab" || len(ready.Servers[0].Roles) != 2 {
					t.Errorf("servers %v", ready.Servers)
				}
				var names []string
				for _, ch := range ready.Channels {
					names = append(names, ch.Name+":"+ch.ChannelType.String())
				}
				want := []string{"general:CHANNEL_TYPE_TEXT_CHANNEL", "random:CHANNEL_TYPE_TEXT_CHANNEL",
					"voice:CHANNEL_TYPE_TEXT_CHANNEL", "lobby:CHANNEL_TYPE_TEXT_CHANNEL", ":CHANNEL_TYPE_DIRECT_MESSAGE"}
				if !slices.Equal(names, want) {
					t.Errorf("channels %v, want %v", names, want)
				}
				if len(ready.Members) != 2 {
					t.Errorf("%d members, want only Self's 2 memberships", len(ready.Members))
				}
				for _, m := range ready.Members {
					if m.Id.User != w.Self.Id {
						t.Errorf("member %v is not Self's", m.Id)
					}
				}
				if len(ready.Emojis) != 1 || ready.Emojis[0].Name != "ermine" {
					t.Errorf("emojis %v", ready.Emojis)
				}
				st := srv.Stats()
				if st.Authenticated != 1 || st.LiveReady != 1 || st.Live != 1 || st.Accepted != 1 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

// The raw Ready has every list, empty ones too, and no policy_changes for a bot.
func TestReadyRawShape(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.next(ctx) // Authenticated
	raw := string(c.next(ctx).data)
	for _, key := range []string{`"users":[`, `"servers":[`, `"channels":[`, `"members":[`, `"emojis":[`, `"voice_states":[]`} {
		if !contains(raw, key) {
			t.Errorf("Ready lacks %s: %.300s", key, raw)
		}
	}
	if contains(raw, "policy_changes") || contains(raw, "channel_unreads") {
		t.Errorf("Ready of a bot has policy_changes or channel_unreads: %.300s", raw)
	}

	// ready= selects fields, like Bonfire.
	c2 := dial(t, srv, dialOpts{query: "ready=servers&ready=channel_unreads"})
	c2.next(ctx)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(c2.next(ctx).data, &top); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(top)); !slices.Equal(keys, []string{"channel_unreads", "servers", "type"}) || string(top["channel_unreads"]) != "[]" {
		t.Errorf("Ready with ready=servers&ready=channel_unreads has %v", keys)
	}

	// A non-bot user gets policy_changes.
	w := stoattest.SmallWorld(2)
	w.Self.Bot = nil
	w.PolicyChanges = []*stoatpb.PolicyChange{{CreatedTime: 1, EffectiveTime: 2, Description: "new terms", Url: "https://example.invalid/terms"}}
	srv2 := stoattest.NewServer(t, stoattest.WithWorld(w))
	c3 := dial(t, srv2, dialOpts{format: bonfire.Msgpack})
	ready := c3.handshake(ctx)
	if len(ready.PolicyChanges) != 1 || ready.PolicyChanges[0].Description != "new terms" {
		t.Errorf("policy changes %v", ready.PolicyChanges)
	}
}

func TestInvalidToken(t *testing.T) {
	for _, f := range formats {
		for _, viaFrame := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/authenticate_frame=%v", f, viaFrame), func(t *testing.T) {
				ctx := testCtx(t)
				srv := stoattest.NewServer(t)
				c := dial(t, srv, dialOpts{format: f, noToken: viaFrame, token: "not-the-token"})
				if viaFrame {
					c.send(ctx, &stoatpb.AuthenticateFrame{Token: "not-the-token"})
				}
				ev := expect[*stoatpb.ErrorEvent](ctx, c)
				if ev.Data.GetType() != "InvalidSession" || ev.Data.GetLocation() == "" {
					t.Fatalf("error %v, want InvalidSession with a location", ev)
				}
				dropped(t, c.ended(ctx))
				if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Live == 0 && s.AuthFailures == 1 }); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestRejectTokens(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	old := dial(t, srv, dialOpts{})
	old.handshake(ctx)

	srv.RejectTokens(true)
	c := dial(t, srv, dialOpts{})
	if ev := expect[*stoatpb.ErrorEvent](ctx, c); ev.Data.GetType() != "InvalidSession" {
		t.Fatalf("got %v", ev)
	}
	dropped(t, c.ended(ctx))
	wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 401, "Unauthorized")

	// The connection authenticated before keeps working.
	ping(ctx, t, srv, old, 7)
	if p := expect[*stoatpb.PongEvent](ctx, old); p.Data.GetNumber() != 7 {
		t.Fatalf("pong %v", p)
	}

	srv.RejectTokens(false)
	dial(t, srv, dialOpts{}).handshake(ctx)
	wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 200)
}

func TestPingPong(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			ctx := testCtx(t)
			srv := stoattest.NewServer(t)
			c := dial(t, srv, dialOpts{format: f})
			c.handshake(ctx)

			c.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: 1764115200123}})
			if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 1764115200123 || p.Data.GetBytes() != nil {
				t.Fatalf("pong %v", p)
			}
			c.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Bytes: []byte{0, 1, 254, 255}}})
			if p := expect[*stoatpb.PongEvent](ctx, c); !bytes.Equal(p.Data.GetBytes(), []byte{0, 1, 254, 255}) {
				t.Fatalf("pong %v", p)
			}
			if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.PongsSent == 2 && s.Received["Ping"] == 2 }); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("raw json", func(t *testing.T) {
		ctx := testCtx(t)
		srv := stoattest.NewServer(t)
		c := dial(t, srv, dialOpts{})
		c.handshake(ctx)
		c.sendRaw(ctx, []byte(`{"type":"Ping","data":[1,2,3],"responded":false}`))
		if got := string(c.next(ctx).data); got != `{"type":"Pong","data":[1,2,3]}` {
			t.Fatalf("pong frame %s", got)
		}
	})
}

// Pings are not answered before Ready: before authentication they are ignored, and a Ping sent
// while Ready is being built is answered after it.
func TestNoPongBeforeReady(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)

	c := dial(t, srv, dialOpts{noToken: true})
	c.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: 1}})
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Received["Ping"] == 1 }); err != nil {
		t.Fatal(err)
	}
	c.quiet()
	c.send(ctx, &stoatpb.AuthenticateFrame{Token: srv.Token()})
	c.handshake(ctx)
	ping(ctx, t, srv, c, 2)
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 2 {
		t.Fatalf("first pong carries %v, want 2 (the ping before authentication is ignored)", p.Data)
	}

	srv.DelayReady(200 * time.Millisecond)
	c2 := dial(t, srv, dialOpts{})
	c2.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: 3}})
	c2.handshake(ctx)
	if p := expect[*stoatpb.PongEvent](ctx, c2); p.Data.GetNumber() != 3 {
		t.Fatalf("pong %v", p)
	}
}

// Frames the real server cannot decode are ignored silently and counted; the connection stays.
func TestUndecodableClientFrames(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)

	bad := []string{
		`not json`,
		`{"type":"Ping","data":-1}`,
		`{"type":"Ping","data":1.5}`,
		`{"type":"Ping","data":"12"}`,
		`{"type":"Ping"}`,
		`{"type":"Ping","data":[1,256]}`,
		`{"type":"ping","data":1}`,
		`{"type":"BeginTyping"}`,
		`{"type":"Pong","data":1}`,
		`{"data":1}`,
		`[]`,
	}
	for _, b := range bad {
		c.sendRaw(ctx, []byte(b))
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"Ping","data":5}`)); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, srv, c, 9)
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 9 {
		t.Fatalf("the first pong answers %v, want the valid ping 9", p.Data)
	}
	st := srv.Stats()
	if st.Undecodable != len(bad)+1 || st.FramesReceived != len(bad)+2 {
		t.Errorf("undecodable %d of %d frames, want %d of %d", st.Undecodable, st.FramesReceived, len(bad)+1, len(bad)+2)
	}
	if st.Received["Ping"] != 6 || st.Received["Pong"] != 1 || st.Received["ping"] != 1 {
		t.Errorf("received %v", st.Received)
	}
}

func TestUndecodableClientFramesMsgpack(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{format: bonfire.Msgpack})
	c.handshake(ctx)
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := [][]byte{
		{0xc1}, // never used in msgpack
		enc(map[string]any{"type": "Ping", "data": -1}),
		enc(map[string]any{"type": "Ping", "data": 1.5}),
		enc(map[string]any{"type": "Ping", "data": "12"}),
		enc(map[string]any{"type": "Ping", "data": []byte{1, 2}}), // bin, not an array of ints
		enc(map[string]any{"type": "Ping"}),
		enc(map[string]any{"type": "Authenticate"}),
	}
	for _, b := range bad {
		c.sendRaw(ctx, b)
	}
	if err := c.ws.Write(ctx, websocket.MessageText, enc(map[string]any{"type": "Ping", "data": 5})); err != nil {
		t.Fatal(err)
	}
	c.sendRaw(ctx, enc(map[string]any{"type": "Ping", "data": []any{int8(1), uint16(255)}, "responded": true}))
	if p := expect[*stoatpb.PongEvent](ctx, c); !bytes.Equal(p.Data.GetBytes(), []byte{1, 255}) {
		t.Fatalf("the first pong answers %v, want the valid ping [1 255]", p.Data)
	}
	c.sendRaw(ctx, enc(map[string]any{"type": "Ping", "data": uint64(1) << 60}))
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 1<<60 {
		t.Fatalf("pong %v", p.Data)
	}
	if st := srv.Stats(); st.Undecodable != len(bad)+1 || st.FramesReceived != len(bad)+3 {
		t.Errorf("undecodable %d of %d frames", st.Undecodable, st.FramesReceived)
	}
}

func TestTyping(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	a := dial(t, srv, dialOpts{})
	b := dial(t, srv, dialOpts{format: bonfire.Msgpack})
	a.handshake(ctx)
	b.handshake(ctx)
	general, self := channelID(t, srv, "general"), srv.World().Self.Id

	a.send(ctx, &stoatpb.BeginTypingFrame{Channel: "01ZZZZZZZZZZZZZZZZZZZZZZZZ"}) // unknown: no effect
	a.send(ctx, &stoatpb.BeginTypingFrame{Channel: general})
	for _, c := range []*client{a, b} {
		ev := expect[*stoatpb.ChannelStartTypingEvent](ctx, c)
		if ev.ChannelId != general || ev.UserId != self {
			t.Fatalf("typing %v", ev)
		}
	}
	b.send(ctx, &stoatpb.EndTypingFrame{Channel: general})
	for _, c := range []*client{a, b} {
		if ev := expect[*stoatpb.ChannelStopTypingEvent](ctx, c); ev.ChannelId != general {
			t.Fatalf("typing %v", ev)
		}
	}
	b.send(ctx, &stoatpb.SubscribeFrame{ServerId: srv.World().Servers[0].Id})
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Received["Subscribe"] == 1 }); err != nil {
		t.Fatal(err)
	}
}

func TestPush(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	j := dial(t, srv, dialOpts{})
	m := dial(t, srv, dialOpts{format: bonfire.Msgpack})
	pending := dial(t, srv, dialOpts{noToken: true}) // not authenticated: receives nothing
	j.handshake(ctx)
	m.handshake(ctx)

	msg := &stoatpb.Message{Id: "01KB0000000000000000000000", Channel: channelID(t, srv, "general"), Author: userID(t, srv, "bob"), Content: "pushed"}
	if err := srv.Push(&stoatpb.MessageCreateEvent{Message: msg}, &stoatpb.ChannelDeleteEvent{ChannelId: "01KB0000000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.PushBulk(&stoatpb.ServerDeleteEvent{ServerId: "01KB0000000000000000000002"}, &stoatpb.LogoutEvent{}); err != nil {
		t.Fatal(err)
	}
	srv.PushRaw(websocket.MessageText, []byte(`{"type":`))
	for _, c := range []*client{j, m} {
		if ev := expect[*stoatpb.MessageCreateEvent](ctx, c); ev.Message.Content != "pushed" || ev.Message.Id != msg.Id {
			t.Fatalf("%v: %v", c.format, ev)
		}
		expect[*stoatpb.ChannelDeleteEvent](ctx, c)
		if evs := c.nextEvents(ctx); len(evs) != 2 {
			t.Fatalf("bulk gave %v", evs)
		} else if _, ok := evs[1].(*stoatpb.LogoutEvent); !ok {
			t.Fatalf("bulk gave %v", evs)
		}
		if f := c.next(ctx); f.typ != websocket.MessageText || string(f.data) != `{"type":` {
			t.Fatalf("raw frame %v %q", f.typ, f.data)
		}
	}
	pending.quiet()

	// Push does not store the message.
	wantStatus(t, do(t, srv, "GET", "/channels/"+msg.Channel+"/messages/"+msg.Id, nil), 404, "NotFound")
	// An event that is not a frame is refused.
	if err := srv.Push(&stoatpb.BeforeConnectEvent{}); err == nil {
		t.Fatal("pushing a local-only event succeeded")
	}
}

func TestPostMessage(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{format: bonfire.Msgpack})
	c.handshake(ctx)
	general, bob := channelID(t, srv, "general"), userID(t, srv, "bob")

	sent, err := srv.PostMessage(&stoatpb.Message{Channel: general, Author: bob, Content: "from bob"})
	if err != nil {
		t.Fatal(err)
	}
	ev := expect[*stoatpb.MessageCreateEvent](ctx, c)
	if ev.Message.Id != sent.Id || ev.Message.User.GetUsername() != "bob" || ev.Message.Member.GetId().GetUser() != bob {
		t.Fatalf("event %v", ev.Message)
	}
	r := do(t, srv, "GET", "/channels/"+general+"/messages/"+sent.Id, nil)
	wantStatus(t, r, 200)
	if got := r.json(t); got["content"] != "from bob" || got["user"] != nil {
		t.Fatalf("stored %s", r.body)
	}
	if srv.World().Channel(general).LastMessageId != sent.Id {
		t.Error("last_message_id not updated")
	}
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: "nope", Content: "x"}); err == nil {
		t.Error("posting to an unknown channel succeeded")
	}
}

// TestHistoryLimit: with WithHistoryLimit(n) a channel keeps its newest n messages; the older
// ones are gone from REST, and last_message_id still names the newest.
func TestHistoryLimit(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithHistoryLimit(3), stoattest.WithoutRateLimits())
	general := channelID(t, srv, "general")
	var ids []string
	for i := range 5 {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: general, Content: fmt.Sprint("message ", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Id)
	}
	r := do(t, srv, "GET", "/channels/"+general+"/messages?sort=Oldest", nil)
	wantStatus(t, r, 200)
	var msgs []struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(r.body, &msgs); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.ID)
	}
	if want := ids[2:]; !slices.Equal(got, want) {
		t.Errorf("history %v, want the newest 3 %v", got, want)
	}
	wantStatus(t, do(t, srv, "GET", "/channels/"+general+"/messages/"+ids[1], nil), 404)
	if last := srv.World().Channel(general).LastMessageId; last != ids[4] {
		t.Errorf("last_message_id %s, want %s", last, ids[4])
	}
}

func TestCloseAll(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)
	if err := srv.Push(&stoatpb.LogoutEvent{}); err != nil { // queued before the close frame
		t.Fatal(err)
	}
	srv.CloseAll(websocket.StatusGoingAway, "maintenance")
	expect[*stoatpb.LogoutEvent](ctx, c)
	err := c.ended(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("ended with %v (%v), want a close frame 1001", code, err)
	}
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Live == 0 }); err != nil {
		t.Fatal(err)
	}
}

func TestCut(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	a, b := dial(t, srv, dialOpts{}), dial(t, srv, dialOpts{format: bonfire.Msgpack, noToken: true})
	a.handshake(ctx)
	if err := srv.WaitConnections(ctx, 2); err != nil {
		t.Fatal(err)
	}
	srv.Cut()
	dropped(t, a.ended(ctx))
	dropped(t, b.ended(ctx))
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Live == 0 && s.LiveReady == 0 }); err != nil {
		t.Fatal(err)
	}
	// The server still accepts connections.
	dial(t, srv, dialOpts{}).handshake(ctx)
}

func TestLogout(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{format: bonfire.Msgpack})
	c.handshake(ctx)
	srv.Logout()
	expect[*stoatpb.LogoutEvent](ctx, c)
	dropped(t, c.ended(ctx))
}

func TestStall(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)

	release := srv.Stall(0)
	if err := srv.Push(&stoatpb.ChannelDeleteEvent{ChannelId: "01KB0000000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, srv, c, 42)
	late := dial(t, srv, dialOpts{}) // a new connection gets nothing either, not even Authenticated
	if err := srv.WaitConnections(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c.quiet()
	late.quiet()
	if st := srv.Stats(); st.PongsSent != 0 {
		t.Fatalf("a pong was sent while stalled: %+v", st)
	}
	release()
	release() // idempotent
	expect[*stoatpb.ChannelDeleteEvent](ctx, c)
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 42 {
		t.Fatalf("pong %v", p)
	}
	late.handshake(ctx)

	// A timed stall ends by itself.
	start := time.Now()
	srv.Stall(100 * time.Millisecond)
	ping(ctx, t, srv, c, 43)
	expect[*stoatpb.PongEvent](ctx, c)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("pong after %v, inside a 100ms stall", d)
	}
}

func TestDelayAndDropPongs(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)

	srv.DelayPongs(300 * time.Millisecond)
	start := time.Now()
	ping(ctx, t, srv, c, 1)
	// Other frames are not held back by a delayed Pong.
	if err := srv.Push(&stoatpb.ChannelDeleteEvent{ChannelId: "01KB0000000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	expect[*stoatpb.ChannelDeleteEvent](ctx, c)
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 1 {
		t.Fatalf("pong %v", p)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("pong after %v, want ≥ 300ms", d)
	}

	srv.DelayPongs(0)
	srv.DropPongs(true)
	ping(ctx, t, srv, c, 2)
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.PongsDropped == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.DropPongs(false)
	ping(ctx, t, srv, c, 3)
	if p := expect[*stoatpb.PongEvent](ctx, c); p.Data.GetNumber() != 3 {
		t.Fatalf("pong %v, want 3 (2 was dropped)", p)
	}
}

func TestRestart(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)

	w := srv.World()
	w.Self.Username = "ermine2"
	w.Servers = w.Servers[:1]
	if err := srv.Restart(w); err != nil {
		t.Fatal(err)
	}
	dropped(t, c.ended(ctx))
	ready := dial(t, srv, dialOpts{format: bonfire.Msgpack}).handshake(ctx)
	if ready.Me.GetUsername() != "ermine2" || len(ready.Servers) != 1 {
		t.Fatalf("Ready after restart: me %v, %d servers", ready.Me, len(ready.Servers))
	}
	if err := srv.Restart(&stoattest.World{}); err == nil {
		t.Fatal("a world without Self was accepted")
	}
}

func TestUpdate(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)
	err := srv.Update(func(w *stoattest.World) {
		w.ServerByName("Ermine Lab").Name = "Renamed Lab"
	})
	if err != nil {
		t.Fatal(err)
	}
	c.quiet() // Update is silent
	if r := do(t, srv, "GET", "/servers/"+srv.World().Servers[0].Id, nil); r.json(t)["name"] != "Renamed Lab" {
		t.Fatalf("server %s", r.body)
	}
	if ready := dial(t, srv, dialOpts{}).handshake(ctx); ready.Servers[0].Name != "Renamed Lab" {
		t.Fatalf("Ready server %v", ready.Servers[0])
	}
}

// A connection that does not read is dropped once its queue overflows, while a reading one keeps
// receiving every event.
func TestSlowConnectionDropped(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t, stoattest.WithQueueSize(16))
	fast := dial(t, srv, dialOpts{})
	fast.handshake(ctx)
	slow, _, err := websocket.Dial(ctx, srv.EventsURL()+"?format=json&token="+srv.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	if err := srv.WaitAuthenticated(ctx, 2); err != nil {
		t.Fatal(err)
	}

	big := &stoatpb.Message{Channel: channelID(t, srv, "general"), Content: string(bytes.Repeat([]byte("x"), 16<<10))}
	sent := 0
	for srv.Stats().SlowDropped == 0 {
		if sent >= 20000 {
			t.Fatal("the slow connection was never dropped")
		}
		for range 8 {
			big.Id = fmt.Sprintf("01KB%022d", sent)
			if err := srv.Push(&stoatpb.MessageCreateEvent{Message: big}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		for range 8 {
			expect[*stoatpb.MessageCreateEvent](ctx, fast)
		}
	}
	if st := srv.Stats(); st.SlowDropped != 1 || st.LiveReady != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The fast connection is still served.
	ping(ctx, t, srv, fast, 1)
	expect[*stoatpb.PongEvent](ctx, fast)
}

// Controls and pushes from many goroutines at once (run with -race).
func TestConcurrentControls(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	clients := []*client{dial(t, srv, dialOpts{}), dial(t, srv, dialOpts{format: bonfire.Msgpack})}
	for _, c := range clients {
		c.handshake(ctx)
	}
	general := channelID(t, srv, "general")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				switch i % 5 {
				case 0:
					_, _ = srv.PostMessage(&stoatpb.Message{Channel: general, Content: fmt.Sprint(g, i)})
				case 1:
					_ = srv.Push(&stoatpb.ChannelStartTypingEvent{ChannelId: general, UserId: "x"})
				case 2:
					srv.DelayPongs(time.Duration(i) * time.Microsecond)
				case 3:
					_ = srv.Stats()
					_ = srv.World()
				case 4:
					srv.Stall(time.Millisecond)
				}
			}
		})
	}
	for _, c := range clients {
		wg.Go(func() {
			for i := range 20 {
				c.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: uint64(i)}})
			}
		})
	}
	wg.Wait()
	srv.DelayPongs(0)
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.PongsSent == 40 }); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.World().Messages[general]); n != 3+40 {
		t.Fatalf("%d messages in general, want 43", n)
	}
}

func TestStartAndClose(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := stoattest.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv, dialOpts{})
	c.handshake(testCtx(t))
	cancel() // ending the context closes the server
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close")
	}
	srv.Close() // idempotent
	dropped(t, c.ended(testCtx(t)))
	if _, err := stoattest.Start(t.Context(), "256.0.0.1:0"); err == nil {
		t.Fatal("listening on a bad address succeeded")
	}
}
