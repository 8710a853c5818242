package stoattest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// TestMessagesWhileAway: messages posted while no client is connected are kept in the channel's
// history, and the next Ready's last_message_id names the newest.
func TestMessagesWhileAway(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	general := channelID(t, srv, "general")
	c := dial(t, srv, dialOpts{})
	c.handshake(ctx)
	_ = c.ws.CloseNow()
	if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for _, content := range []string{"one", "two", "three"} {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: general, Content: content})
		if err != nil {
			t.Fatalf("posting with no client connected: %v", err)
		}
		ids = append(ids, m.Id)
	}
	lastMessage := func(r *stoatpb.ReadyEvent) string {
		for _, ch := range r.GetChannels() {
			if ch.GetId() == general {
				return ch.GetLastMessageId()
			}
		}
		t.Fatalf("general is not in the Ready")
		return ""
	}
	if got := lastMessage(dial(t, srv, dialOpts{format: bonfire.Msgpack}).handshake(ctx)); got != ids[2] {
		t.Errorf("the next Ready's last_message_id = %q, want the newest message %s", got, ids[2])
	}
	r := do(t, srv, "GET", "/channels/"+general+"/messages?sort=Latest&limit=3", nil)
	wantStatus(t, r, http.StatusOK)
	var hist []struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(r.body, &hist); err != nil {
		t.Fatalf("history %s: %v", r.body, err)
	}
	if len(hist) != 3 || hist[0].ID != ids[2] || hist[1].ID != ids[1] || hist[2].ID != ids[0] {
		t.Errorf("the newest of the history = %s, want %v newest first", r.body, ids)
	}
}

// TestRefuseUpgrades: the events endpoint answers upgrades with the status set, until it is
// reset; open connections and REST go on.
func TestRefuseUpgrades(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	open := dial(t, srv, dialOpts{})
	open.handshake(ctx)

	srv.RefuseUpgrades(http.StatusServiceUnavailable)
	_, resp, err := websocket.Dial(ctx, srv.EventsURL()+"?format=json&token="+srv.Token(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade: response %v, err %v; want 503", resp, err)
	}
	if st := srv.Stats(); st.UpgradesRefused != 1 || st.Accepted != 1 || st.Live != 1 {
		t.Errorf("stats %+v", st)
	}
	wantStatus(t, do(t, srv, "GET", "/", nil), http.StatusOK)
	if err := srv.Push(&stoatpb.ChannelStartTypingEvent{ChannelId: "c", UserId: "u"}); err != nil {
		t.Fatal(err)
	}
	expect[*stoatpb.ChannelStartTypingEvent](ctx, open)

	srv.RefuseUpgrades(0)
	dial(t, srv, dialOpts{}).handshake(ctx)
	if st := srv.Stats(); st.UpgradesRefused != 1 || st.Accepted != 2 {
		t.Errorf("stats after accepting again %+v", st)
	}
	defer func() {
		if recover() == nil {
			t.Error("RefuseUpgrades(200) did not panic")
		}
	}()
	srv.RefuseUpgrades(http.StatusOK)
}

// TestClientCloses: the close code a client sends is reported; a dropped connection reports
// none.
func TestClientCloses(t *testing.T) {
	ctx := testCtx(t)
	srv := stoattest.NewServer(t)
	a, b, c := dial(t, srv, dialOpts{}), dial(t, srv, dialOpts{}), dial(t, srv, dialOpts{})
	for _, cl := range []*client{a, b, c} {
		cl.handshake(ctx)
	}
	if err := a.ws.Close(websocket.StatusGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	_ = b.ws.CloseNow()
	if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Live == 1 }); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().ClientCloses; len(got) != 1 || got[websocket.StatusGoingAway] != 1 {
		t.Errorf("ClientCloses = %v, want one StatusGoingAway", got)
	}
	// A client answering the server's close echoes its code.
	srv.CloseAll(4000, "restarting")
	if code := websocket.CloseStatus(c.ended(ctx)); code != 4000 {
		t.Fatalf("the client saw close code %v", code)
	}
	if err := srv.WaitFor(ctx, func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().ClientCloses; len(got) != 2 || got[4000] != 1 {
		t.Errorf("ClientCloses = %v, want the echoed 4000 too", got)
	}
}
