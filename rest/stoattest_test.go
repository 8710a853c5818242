package rest_test

// Tests against stoattest, the fake Stoat server: real HTTP, the real rate limit buckets and
// headers, and a world that the calls change.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/stoattest"
)

func ids(ms []*stoatpb.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.GetId())
	}
	return out
}

func TestMessagesAgainstStoattest(t *testing.T) {
	srv, c := fakeServer(t, []stoattest.Option{stoattest.WithoutRateLimits()})
	ctx := testContext(t)
	w := srv.World()
	general := w.ChannelByName("general")
	hist := w.Messages[general.Id]
	alice, self := w.UserByName("alice"), w.Self

	// Send with every field.
	key := rest.NewIdempotencyKey()
	sent, err := c.SendMessage(ctx, general.Id, rest.SendMessage{
		Content:        fmt.Sprintf("pong <@%s>", alice.Id),
		Replies:        []rest.Reply{{ID: hist[1].Id, Mention: true}},
		Masquerade:     &rest.Masquerade{Name: "Ermine", Colour: "#ff0000"},
		Embeds:         []rest.SendableEmbed{{Title: "Status", Description: "all good", Colour: "red"}},
		Interactions:   &rest.Interactions{Reactions: []string{"👍"}},
		Flags:          rest.FlagSuppressNotifications,
		IdempotencyKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sent.GetAuthor() != self.Id || sent.GetChannel() != general.Id || sent.GetNonce() != key {
		t.Errorf("sent: author %q channel %q nonce %q", sent.GetAuthor(), sent.GetChannel(), sent.GetNonce())
	}
	if !slices.Equal(sent.GetReplies(), []string{hist[1].Id}) || !slices.Contains(sent.GetMentions(), alice.Id) {
		t.Errorf("replies %v mentions %v", sent.GetReplies(), sent.GetMentions())
	}
	bob := w.UserByName("bob") // hist[1]'s author, mentioned by the reply
	if !slices.Contains(sent.GetMentions(), bob.Id) {
		t.Errorf("the reply with mention did not mention bob: %v", sent.GetMentions())
	}
	if sent.GetMasquerade().GetName() != "Ermine" || len(sent.GetEmbeds()) != 1 || sent.GetEmbeds()[0].GetTitle() != "Status" ||
		!slices.Equal(sent.GetInteractions().GetReactions(), []string{"👍"}) || sent.GetFlags() != rest.FlagSuppressNotifications {
		t.Errorf("sent = %v", sent)
	}
	if sent.GetUser().GetId() != self.Id || sent.GetMember() == nil {
		t.Errorf("the answer should embed the author's user and member: %v %v", sent.GetUser(), sent.GetMember())
	}

	// The same key again: the server refuses it.
	_, err = c.SendMessage(ctx, general.Id, rest.SendMessage{Content: "again", IdempotencyKey: key})
	if e, ok := rest.AsError(err); !ok || e.Status != 409 || e.Type != "DuplicateNonce" {
		t.Errorf("duplicate key: %v", err)
	}

	plain, err := c.SendText(ctx, general.Id, "plain")
	if err != nil || plain.GetContent() != "plain" {
		t.Fatal(plain, err)
	}
	got, err := c.FetchMessage(ctx, general.Id, sent.Id)
	if err != nil || got.GetContent() != sent.GetContent() {
		t.Fatal(got, err)
	}

	// History.
	for _, tc := range []struct {
		name string
		q    rest.MessageQuery
		want []string
	}{
		{"latest", rest.MessageQuery{Limit: 2}, []string{plain.Id, sent.Id}},
		{"oldest after", rest.MessageQuery{Sort: rest.SortOldest, After: hist[0].Id, Limit: 2}, ids(hist[1:3])},
		{"before", rest.MessageQuery{Before: sent.Id}, []string{hist[2].Id, hist[1].Id, hist[0].Id}},
		{"nearby", rest.MessageQuery{Nearby: hist[1].Id, Limit: 2}, []string{hist[1].Id, hist[2].Id, hist[0].Id}},
	} {
		page, err := c.FetchMessages(ctx, general.Id, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ids(page.Messages); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if page.Users != nil || page.Members != nil {
			t.Errorf("%s: users without include_users", tc.name)
		}
	}
	page, err := c.FetchMessages(ctx, general.Id, rest.MessageQuery{Sort: rest.SortOldest, Limit: 3, IncludeUsers: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 3 || len(page.Users) != 2 || len(page.Members) != 2 { // alice and bob
		t.Errorf("include_users: %d messages, %d users, %d members", len(page.Messages), len(page.Users), len(page.Members))
	}
	if _, err := c.FetchMessages(ctx, general.Id, rest.MessageQuery{Limit: 500}); rest.ErrorType(err) != "FailedValidation" {
		t.Errorf("limit 500: %v", err)
	}

	// Edit.
	edited, err := c.EditMessage(ctx, general.Id, plain.Id, rest.EditMessage{Content: new("edited")})
	if err != nil || edited.GetContent() != "edited" || edited.GetEdited() == 0 {
		t.Fatal(edited, err)
	}
	_, err = c.EditMessage(ctx, general.Id, hist[0].Id, rest.EditMessage{Content: new("not mine")})
	if !rest.IsForbidden(err) || rest.ErrorType(err) != "CannotEditMessage" {
		t.Errorf("editing another's message: %v", err)
	}

	// Reactions.
	reactions := func(id string) map[string][]string {
		out := map[string][]string{}
		for _, m := range srv.World().Messages[general.Id] {
			if m.Id == id {
				for _, r := range m.Reactions {
					out[r.Emoji] = r.Users
				}
			}
		}
		return out
	}
	if err := c.React(ctx, general.Id, plain.Id, "🔥"); err != nil {
		t.Fatal(err)
	}
	if got := reactions(plain.Id)["🔥"]; !slices.Equal(got, []string{self.Id}) {
		t.Errorf("after React: %v", got)
	}
	if err := c.Unreact(ctx, general.Id, plain.Id, "🔥", rest.UnreactOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := reactions(plain.Id); len(got) != 0 {
		t.Errorf("after Unreact: %v", got)
	}
	if err := c.Unreact(ctx, general.Id, hist[1].Id, "👍", rest.UnreactOptions{UserID: alice.Id}); err != nil {
		t.Fatal(err)
	}
	if got := reactions(hist[1].Id); len(got) != 0 {
		t.Errorf("after removing alice's reaction: %v", got)
	}
	if err := c.React(ctx, general.Id, plain.Id, "🎉"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unreact(ctx, general.Id, plain.Id, "🎉", rest.UnreactOptions{RemoveAll: true}); err != nil {
		t.Fatal(err)
	}
	if got := reactions(plain.Id); len(got) != 0 {
		t.Errorf("after remove_all: %v", got)
	}
	if err := c.Unreact(ctx, general.Id, plain.Id, "🎉", rest.UnreactOptions{}); !rest.IsNotFound(err) {
		t.Errorf("unreacting without a reaction: %v", err)
	}

	// Delete.
	if err := c.DeleteMessage(ctx, general.Id, plain.Id); err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchMessage(ctx, general.Id, plain.Id)
	if !rest.IsNotFound(err) || !errors.Is(err, rest.ErrNotFound) {
		t.Fatalf("fetching a deleted message: %v", err)
	}
	e, _ := rest.AsError(err)
	if e.Status != 404 || e.Type != "NotFound" || e.Method != "GET" ||
		e.Path != "/channels/"+general.Id+"/messages/"+plain.Id || e.Route != "/channels/{channel}/messages/{message}" {
		t.Errorf("error = %+v", e)
	}

	routes := srv.Stats().Routes
	for _, r := range []string{"POST /channels/{target}/messages", "GET /channels/{target}/messages",
		"GET /channels/{target}/messages/{msg}", "PATCH /channels/{target}/messages/{msg}",
		"DELETE /channels/{target}/messages/{msg}", "PUT /channels/{target}/messages/{msg}/reactions/{emoji}",
		"DELETE /channels/{target}/messages/{msg}/reactions/{emoji}"} {
		if routes[r] == 0 {
			t.Errorf("stoattest saw no %s", r)
		}
	}
}

func TestEntitiesAgainstStoattest(t *testing.T) {
	srv, c := fakeServer(t, []stoattest.Option{stoattest.WithoutRateLimits()})
	ctx := testContext(t)
	w := srv.World()
	lab, general := w.ServerByName("Ermine Lab"), w.ChannelByName("general")
	alice, carol := w.UserByName("alice"), w.UserByName("carol")

	ch, err := c.FetchChannel(ctx, general.Id)
	if err != nil || ch.GetName() != "general" || ch.GetServer() != lab.Id ||
		ch.GetChannelType() != stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL {
		t.Fatal(ch, err)
	}
	s, err := c.FetchServer(ctx, lab.Id)
	if err != nil || s.GetName() != "Ermine Lab" || len(s.GetRoles()) != 2 || len(s.GetChannels()) != 3 {
		t.Fatal(s, err)
	}
	members, err := c.FetchMembers(ctx, lab.Id)
	if err != nil || len(members.Members) != 4 || len(members.Users) != 4 {
		t.Fatal(members, err)
	}
	online, err := c.FetchOnlineMembers(ctx, lab.Id)
	if err != nil || len(online.Members) != 2 { // alice and the bot
		t.Fatal(online, err)
	}
	m, err := c.FetchMember(ctx, lab.Id, carol.Id)
	if err != nil || m.GetNickname() != "caz" || m.GetId().GetUser() != carol.Id {
		t.Fatal(m, err)
	}
	m, roles, err := c.FetchMemberWithRoles(ctx, lab.Id, alice.Id)
	if err != nil || m.GetId().GetUser() != alice.Id || len(roles) != 1 || roles[0].GetName() != "Moderator" || roles[0].GetId() == "" {
		t.Fatal(m, roles, err)
	}
	u, err := c.FetchUser(ctx, alice.Id)
	if err != nil || u.GetUsername() != "alice" {
		t.Fatal(u, err)
	}
	self, err := c.FetchSelf(ctx)
	if err != nil || self.GetId() != w.Self.Id || self.GetBot().GetOwner() != alice.Id {
		t.Fatal(self, err)
	}
	for name, call := range map[string]func() error{
		"channel": func() error { _, err := c.FetchChannel(ctx, "01AAAAAAAAAAAAAAAAAAAAAAAA"); return err },
		"server":  func() error { _, err := c.FetchServer(ctx, "01AAAAAAAAAAAAAAAAAAAAAAAA"); return err },
		"member":  func() error { _, err := c.FetchMember(ctx, lab.Id, "01AAAAAAAAAAAAAAAAAAAAAAAA"); return err },
		"user":    func() error { _, err := c.FetchUser(ctx, "01AAAAAAAAAAAAAAAAAAAAAAAA"); return err },
	} {
		if err := call(); !rest.IsNotFound(err) {
			t.Errorf("unknown %s: %v", name, err)
		}
	}
}

func TestTokensAgainstStoattest(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithoutRateLimits())
	ctx := testContext(t)
	for _, opts := range [][]rest.Option{nil, {rest.WithSessionToken()}} {
		c := rest.New(srv.Token(), append(opts, rest.WithBaseURL(srv.URL))...)
		if _, err := c.FetchSelf(ctx); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	c := rest.New("wrong-token", rest.WithBaseURL(srv.URL+"/0.8/"))
	_, err := c.FetchSelf(ctx)
	if !errors.Is(err, rest.ErrUnauthorized) {
		t.Errorf("a wrong token: %v", err)
	}
}

// TestBurstOfSendsAgainstRealBuckets sends 50 messages into one channel at once. The real
// messaging bucket allows 10 per 10 s window, so the burst spans 5 windows (≥ 40 s of fake
// time); the client and the server share a clock that runs 40 times faster than real time.
// No 429 may reach the caller, and the limiter should not even earn one.
func TestBurstOfSendsAgainstRealBuckets(t *testing.T) {
	clk := newScaledClock(40)
	srv, c := fakeServer(t, []stoattest.Option{stoattest.WithClock(clk.Now)}, rest.WithClock(clk))
	ctx := testContext(t)
	general := srv.World().ChannelByName("general")

	start := clk.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, err := c.SendText(ctx, general.Id, fmt.Sprintf("burst %d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := clk.Now().Sub(start)
	st := srv.Stats()
	t.Logf("50 sends in %v of fake time; the server answered %d requests, %d with 429", elapsed, st.Requests, st.RateLimited)
	if st.RateLimited != 0 {
		t.Errorf("the server answered %d requests with 429", st.RateLimited)
	}
	if n := st.Routes["POST /channels/{target}/messages"]; n != 50 {
		t.Errorf("the server saw %d sends, want 50", n)
	}
	if elapsed < 40*time.Second {
		t.Errorf("50 sends took %v of fake time; 5 windows of 10 take at least 40 s", elapsed)
	}
	if n := len(srv.World().Messages[general.Id]); n != 3+50 {
		t.Errorf("history has %d messages, want 53", n)
	}
}

// TestBucketsPerChannel checks pre-emptive waiting against the real buckets: the 11th send into
// a channel within a window waits for the window's reset (no 429), while a send into another
// channel, or a fetch, does not wait.
func TestBucketsPerChannel(t *testing.T) {
	clk := newManualClock()
	srv, c := fakeServer(t, []stoattest.Option{stoattest.WithClock(clk.Now)}, rest.WithClock(clk))
	ctx := testContext(t)
	w := srv.World()
	general, random := w.ChannelByName("general"), w.ChannelByName("random")

	for i := range 10 {
		if _, err := c.SendText(ctx, general.Id, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SendText(ctx, random.Id, "other channel"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchChannel(ctx, general.Id); err != nil { // the channels bucket, not messaging
		t.Fatal(err)
	}
	if p := clk.pending(); len(p) != 0 {
		t.Fatalf("something waited: %v", p)
	}

	done := make(chan error, 1)
	go func() { _, err := c.SendText(ctx, general.Id, "eleventh"); done <- err }()
	p := clk.waitPending(t, 1)
	if p[0] < 9*time.Second || p[0] > 11*time.Second {
		t.Errorf("the 11th send waits %v, want about 10 s", p[0])
	}
	select {
	case err := <-done:
		t.Fatalf("the 11th send returned before the reset: %v", err)
	default:
	}
	clk.Advance(p[0])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.RateLimited != 0 {
		t.Errorf("%d requests were answered 429", st.RateLimited)
	}
}

func TestInjected429IsWaitedOut(t *testing.T) {
	clk := newManualClock()
	srv, c := fakeServer(t, []stoattest.Option{stoattest.WithClock(clk.Now)}, rest.WithClock(clk))
	ctx := testContext(t)
	general := srv.World().ChannelByName("general")

	srv.InjectRateLimit(1, 3*time.Second)
	type result struct {
		m   *stoatpb.Message
		err error
	}
	done := make(chan result, 1)
	go func() { m, err := c.SendText(ctx, general.Id, "after the 429"); done <- result{m, err} }()
	p := clk.waitPending(t, 1)
	if p[0] < 3*time.Second || p[0] > 3*time.Second+500*time.Millisecond {
		t.Errorf("waiting %v after a 429 with retry_after 3000, want 3 s", p[0])
	}
	select {
	case r := <-done:
		t.Fatalf("returned before retry_after: %v", r.err)
	default:
	}
	clk.Advance(p[0])
	r := <-done
	if r.err != nil || r.m.GetContent() != "after the 429" {
		t.Fatal(r.m, r.err)
	}
	if st := srv.Stats(); st.RateLimited != 1 || st.Requests != 2 {
		t.Errorf("stats: %d 429s of %d requests, want 1 of 2", st.RateLimited, st.Requests)
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*stoattest.Server, *rest.Client, string)
	}{
		{"429", func(srv *stoattest.Server, _ *rest.Client, _ string) { srv.InjectRateLimit(1, time.Minute) }},
		{"empty bucket", func(_ *stoattest.Server, c *rest.Client, server string) {
			for range 5 { // the servers bucket: 5 per window
				if _, err := c.FetchServer(context.Background(), server); err != nil {
					panic(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newManualClock()
			srv, c := fakeServer(t, []stoattest.Option{stoattest.WithClock(clk.Now)}, rest.WithClock(clk))
			lab := srv.World().ServerByName("Ermine Lab")
			tc.setup(srv, c, lab.Id)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := c.FetchServer(ctx, lab.Id); done <- err }()
			clk.waitPending(t, 1)
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("returned %v after the cancellation", d)
				}
				if e, ok := rest.AsError(err); !ok || e.Route != "/servers/{server}" {
					t.Errorf("err = %#v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the call did not return after its context was cancelled")
			}
			if st := srv.Stats(); st.RateLimited > 1 {
				t.Errorf("%d requests were answered 429", st.RateLimited)
			}
		})
	}
}
