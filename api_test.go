package ermine_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/permissions"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestRESTCallDetachesTheHandler: a handler that calls the REST client directly, with its own
// Context, is detached by the call: its channel's next message is processed while the request
// is still in flight, and nothing was detached for blocking.
func TestRESTCallDetachesTheHandler(t *testing.T) {
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"_id":"` + alice + `","username":"alice","discriminator":"0001"}`))
	}))
	defer api.Close()
	defer close(release)
	b, f := newBot(t, ermine.Config{APIURL: api.URL, Token: "t", DetachAfter: time.Minute})
	fetched := make(chan error, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		if ev.GetMessage().GetContent() == "fetch" {
			_, err := b.REST().FetchUser(ctx, alice)
			fetched <- err
		}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready(), message(general, 1, "fetch"), message(general, 2, "next"))
	eventually(t, "the next message is processed while the request waits", func() bool {
		return b.Cache().Message(general, msgID(2)) != nil
	})
	if n := b.Stats().AutoDetached; n != 0 {
		t.Fatalf("%d handlers were detached for blocking", n)
	}
	release <- struct{}{}
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
}

// TestContextAccessors: the accessors resolve the event's channel, server, message, author,
// member and the bot from the cache.
func TestContextAccessors(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	type seen struct {
		channel, server, message, author, member, me string
	}
	got := make(chan seen, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		got <- seen{
			channel: ctx.Channel().GetName(), server: ctx.Server().GetName(), message: ctx.Message().GetContent(),
			author: ctx.Author().GetUsername(), member: ctx.Member().GetId().GetUser(), me: ctx.Me().GetUsername(),
		}
		return nil
	})
	src := f.Source("s0")
	rd := ready()
	rd.Members = append(rd.Members, &stoatpb.Member{Id: &stoatpb.MemberId{Server: server, User: alice}})
	ingest(t, src, rd)
	drain(t, f) // the server and user owners apply their seeds in parallel with the channel's
	ingest(t, src, message(general, 1, "hello"))
	want := seen{channel: "general", server: "lab", message: "hello", author: "alice", member: alice, me: "bot"}
	if s := <-got; s != want {
		t.Fatalf("accessors gave %+v, want %+v", s, want)
	}
}

// TestReplyWithABuiltMessage: ReplyWith sends the whole built message, replying to the event's
// message unless the message says otherwise.
func TestReplyWithABuiltMessage(t *testing.T) {
	bodies := make(chan map[string]any, 2)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		bodies <- body
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"_id":"01REPLY00000000000000000000","channel":"` + general + `","author":"` + me + `"}`))
	}))
	defer api.Close()
	b, f := newBot(t, ermine.Config{APIURL: api.URL, Token: "t"})
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
		m := ermine.NewMessage("hi").As("Ermine", "").Embed(ermine.OutgoingEmbed{Title: "t"}).Reactions(true, "👍")
		if ev.GetMessage().GetContent() == "other" {
			m.ReplyTo(msgID(1), true)
		}
		_, err := ctx.ReplyWith(m.Build())
		return err
	})
	ingest(t, f.Source("s0"), ready(), message(general, 1, "first"), message(general, 2, "other"))
	first, second := <-bodies, <-bodies // sent concurrently: each detached its handler
	if r := second["replies"].([]any)[0].(map[string]any); r["mention"] == false {
		first, second = second, first
	}
	check := func(body map[string]any, replyTo string, mention bool) {
		t.Helper()
		replies, _ := body["replies"].([]any)
		if len(replies) != 1 {
			t.Fatalf("replies %v", body["replies"])
		}
		r := replies[0].(map[string]any)
		if r["id"] != replyTo || r["mention"] != mention {
			t.Fatalf("reply %v, want %s mention %v", r, replyTo, mention)
		}
		if body["content"] != "hi" || body["masquerade"].(map[string]any)["name"] != "Ermine" ||
			len(body["embeds"].([]any)) != 1 || body["interactions"].(map[string]any)["restrict_reactions"] != true {
			t.Fatalf("body %v", body)
		}
	}
	check(first, msgID(1), false)
	check(second, msgID(1), true)
}

// TestPermissionsFromTheCache: the owner of a server holds every permission in its channels; a
// member without roles holds the server's default permissions.
func TestPermissionsFromTheCache(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	got := make(chan permissions.Set, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
		got <- ctx.Permissions()
		return nil
	})
	rd := ready()
	rd.Servers[0].DefaultPermissions = int64(permissions.ViewChannel | permissions.SendMessage)
	src := f.Source("s0")
	ingest(t, src, rd)
	drain(t, f)
	ingest(t, src, message(general, 1, "hi")) // by alice, the server's owner
	if p := <-got; !p.Has(permissions.ManageMessages | permissions.ManageServer) {
		t.Fatalf("the server owner's permissions: %s", p)
	}
	if p := b.Permissions(general, me); !p.Has(permissions.SendMessage) || p.Has(permissions.ManageMessages) {
		t.Fatalf("a member without roles: %s", p)
	}
	if p := b.Permissions("01NOSUCHCHANNEL00000000000", me); p != 0 {
		t.Fatalf("an unknown channel: %s", p)
	}
}

// TestPermissionAliases: every permission (Set) constant of package permissions has its Perm
// alias in the root package.
func TestPermissionAliases(t *testing.T) {
	consts := func(path string) map[string]bool {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					if typ, ok := vs.Type.(*ast.Ident); ok && typ.Name == "Set" || path == "perms.go" {
						names[vs.Names[0].Name] = true
					}
				}
			}
		}
		return names
	}
	aliases := consts("perms.go")
	for name := range consts("permissions/bits.go") {
		if !aliases["Perm"+name] {
			t.Errorf("permissions.%s has no ermine.Perm%s", name, name)
		}
	}
}

// TestFramesNothingNeedsAreSkipped: typing frames are left undecoded while nothing subscribes
// to them, decoded as soon as a handler does; the connection's and the cache's frames never are.
func TestFramesNothingNeedsAreSkipped(t *testing.T) {
	b, _ := newBot(t, ermine.Config{})
	skip := ermine.SkipFrameForTest(b)
	for _, f := range []string{"Ready", "Authenticated", "Pong", "Error", "Logout", "Bulk", "Message", "MessageUpdate", "ChannelAck", "UserUpdate", "NoSuchFrame"} {
		if skip(f) {
			t.Errorf("%s is skipped", f)
		}
	}
	for _, f := range []string{"ChannelStartTyping", "ChannelStopTyping"} {
		if !skip(f) {
			t.Errorf("%s is decoded with nothing subscribed", f)
		}
	}
	sub := ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.ChannelStartTypingEvent) error { return nil })
	if skip("ChannelStartTyping") {
		t.Error("ChannelStartTyping is skipped while a handler subscribes")
	}
	if !skip("ChannelStopTyping") {
		t.Error("ChannelStopTyping is decoded though nothing subscribes to it")
	}
	sub.Remove()
	if !skip("ChannelStartTyping") {
		t.Error("ChannelStartTyping is still decoded after its handler was removed")
	}
}

// TestAccessorReadsKnowTheirContext: the accessors read in their cache context, which the
// cache's stats count and a policy may refuse.
func TestAccessorReadsKnowTheirContext(t *testing.T) {
	refuseAuthors := func(ctx cacheactors.CacheContext) bool { return ctx.Kind != cacheactors.CacheUserThroughMessageAuthor }
	b, f := newBot(t, ermine.Config{Cache: ermine.CachePolicy{Reads: refuseAuthors}})
	got := make(chan [2]bool, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
		got <- [2]bool{ctx.Author() == nil, ctx.Channel() != nil}
		return nil
	})
	src := f.Source("s0")
	ingest(t, src, ready())
	drain(t, f)
	ingest(t, src, message(general, 1, "hi"))
	if r := <-got; !r[0] || !r[1] {
		t.Fatalf("author refused: %v, channel answered: %v", r[0], r[1])
	}
	if b.Cache().User(alice) == nil {
		t.Fatal("alice is not cached: the refusal proves nothing")
	}
	reads := b.Cache().Stats().Reads
	if reads[cacheactors.CacheUserThroughMessageAuthor] != 1 || reads[cacheactors.CacheChannelThroughMessageChannel] != 1 {
		t.Fatalf("reads by context: %v", reads)
	}
}

// TestEventCacheContext: a handler sees its event's cache context (stoat.py's cache_context);
// an event that writes no cache has none.
func TestEventCacheContext(t *testing.T) {
	b, f := newBot(t, ermine.Config{})
	got := make(chan *cacheactors.CacheContext, 2)
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
		got <- ctx.CacheContext()
		return nil
	})
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.ChannelStartTypingEvent) error {
		got <- ctx.CacheContext()
		return nil
	})
	ingest(t, f.Source("s0"), ready(), message(general, 1, "hi"), &ermine.ChannelStartTypingEvent{ChannelId: general, UserId: alice})
	if cc := <-got; cc == nil || cc.Kind != cacheactors.CacheMessageCreateEvent || cc.Kind.String() != "MessageCreateEventCacheContext" {
		t.Fatalf("MessageCreate's context: %+v", cc)
	}
	if cc := <-got; cc != nil {
		t.Fatalf("typing's context: %+v, want none", cc)
	}
}
