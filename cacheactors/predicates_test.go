package cacheactors

import (
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

const (
	srv3 = "01SRV300000000000000000000"
	dave = "01DAVE00000000000000000000"
)

// predicateStream follows the world's Ready: messages in three channels (carol's with her user
// and member snapshots), two more servers, a member joining each server, an edit of every
// message, and a friend request from dave, a user never seen.
func predicateStream() []stoatpb.Event {
	carolMsg := msg(general, 3, carol, "hi")
	carolMsg.Message.User = &stoatpb.User{Id: carol, Username: "carol"}
	carolMsg.Message.Member = &stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: carol}}
	edit := func(ch string, i int) stoatpb.Event {
		return &stoatpb.MessageUpdateEvent{ChannelId: ch, MessageId: msgID(i), Message: &stoatpb.PartialMessage{Content: ptr("edited")}}
	}
	return []stoatpb.Event{
		msg(general, 1, alice, "a"), msg(lounge, 2, bob, "b"), carolMsg, msg(dm, 4, alice, "d"),
		&stoatpb.ServerCreateEvent{ServerId: srv2, Server: &stoatpb.Server{Id: srv2, Name: "two"}, JoinedAt: 7000},
		&stoatpb.ServerCreateEvent{ServerId: srv3, Server: &stoatpb.Server{Id: srv3, Name: "three"}, JoinedAt: 7000},
		&stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: bob},
		&stoatpb.ServerMemberJoinEvent{ServerId: srv2, UserId: bob},
		&stoatpb.ServerMemberJoinEvent{ServerId: srv3, UserId: bob},
		edit(general, 1), edit(lounge, 2), edit(general, 3), edit(dm, 4),
		&stoatpb.UserRelationshipUpdateEvent{CurrentUserId: me, Status: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING,
			NewUser: &stoatpb.User{Id: dave, Username: "dave", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING}},
		&stoatpb.UserRelationshipUpdateEvent{CurrentUserId: me, Status: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED,
			NewUser: &stoatpb.User{Id: bob, Username: "bob", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED}},
	}
}

// seen is what the handlers received: each event's type, and for an edit whether
// before_dispatch found the message cached.
type seen struct {
	events []string
	edits  map[string]bool // message id → Before filled
}

func runPredicates(t *testing.T, p Policy) (*rig, seen) {
	t.Helper()
	r := newWorld(t, p)
	s := seen{edits: map[string]bool{}}
	var mu sync.Mutex // handlers run on their owners' goroutines
	dispatchAll(r, func(ev stoatpb.Event) {
		mu.Lock()
		defer mu.Unlock()
		s.events = append(s.events, ev.EventType().String())
		if e, ok := ev.(*stoatpb.MessageUpdateEvent); ok {
			s.edits[e.MessageId] = e.Before != nil
		}
	})
	r.run(predicateStream()...)
	return r, s
}

// dispatchAll registers fn for every event type the stream has.
func dispatchAll(r *rig, fn func(stoatpb.Event)) {
	handle(r, func(e *stoatpb.MessageCreateEvent) { fn(e) })
	handle(r, func(e *stoatpb.MessageUpdateEvent) { fn(e) })
	handle(r, func(e *stoatpb.ServerCreateEvent) { fn(e) })
	handle(r, func(e *stoatpb.ServerMemberJoinEvent) { fn(e) })
	handle(r, func(e *stoatpb.UserRelationshipUpdateEvent) { fn(e) })
}

// TestContextPolicies runs the stream under policies that decide by the entry and by the
// write's context, and checks what each kept and skipped; the handlers receive the same events
// under every policy (the per-owner order is what handlers see, so they are compared sorted).
func TestContextPolicies(t *testing.T) {
	_, all := runPredicates(t, Policy{})
	servers := map[string]bool{srv: true, srv2: true}
	for _, tc := range []struct {
		name   string
		policy Policy
		check  func(t *testing.T, s *Store, h seen)
	}{
		{"messages only from general", Policy{Messages: func(_ CacheContext, m *stoatpb.Message) bool { return m.Channel == general }},
			func(t *testing.T, s *Store, h seen) {
				expectList(t, "general", messageIDs(s.Messages(general)), []string{msgID(1), msgID(3)})
				expect(t, "lounge", len(s.Messages(lounge)), 0)
				expect(t, "dm", len(s.Messages(dm)), 0)
				expect(t, "lounge's last_message_id still tracked", s.Channel(lounge).GetLastMessageId(), msgID(2))
				expect(t, "edit in general found its message", h.edits[msgID(1)], true)
				expect(t, "edit in the DM found none", h.edits[msgID(4)], false)
			}},
		{"members only of two servers", Policy{Members: func(_ CacheContext, m *stoatpb.Member) bool { return servers[m.Id.Server] }},
			func(t *testing.T, s *Store, _ seen) {
				expectList(t, "srv", memberIDs(s.Members(srv)), []string{alice, bob, carol, me})
				expectList(t, "srv2", memberIDs(s.Members(srv2)), []string{bob, me})
				expectList(t, "srv3 (your own only)", memberIDs(s.Members(srv3)), []string{me})
			}},
		{"members only with a message author", Policy{Members: From[*stoatpb.Member](CacheMessageCreateEvent)},
			func(t *testing.T, s *Store, _ seen) {
				expectList(t, "srv: carol came with her message, alice with the Ready, bob joined", memberIDs(s.Members(srv)), []string{carol, me})
				expectList(t, "srv2", memberIDs(s.Members(srv2)), []string{me})
			}},
		{"no users from UserRelationshipUpdate", Policy{Users: Not(From[*stoatpb.User](CacheUserRelationshipUpdateEvent))},
			func(t *testing.T, s *Store, _ seen) {
				expectList(t, "users: dave never cached, bob's cached version removed", s.UserIDs(), []string{alice, carol, me})
				expect(t, "your relations still follow the event", slices.ContainsFunc(s.Me().GetRelations(), func(r *stoatpb.Relationship) bool { return r.Id == dave }), true)
			}},
		{"composed: general's messages, not alice's", Policy{Messages: And(
			func(_ CacheContext, m *stoatpb.Message) bool { return m.Channel == general },
			Not(func(_ CacheContext, m *stoatpb.Message) bool { return m.Author == alice }))},
			func(t *testing.T, s *Store, h seen) {
				expectList(t, "general", messageIDs(s.Messages(general)), []string{msgID(3)})
				expect(t, "alice's edit found nothing", h.edits[msgID(1)], false)
			}},
		{"not carol's: a refused message still moves last_message_id", Policy{Messages: Not(func(_ CacheContext, m *stoatpb.Message) bool { return m.Author == carol })},
			func(t *testing.T, s *Store, h seen) {
				expectList(t, "general", messageIDs(s.Messages(general)), []string{msgID(1)})
				expect(t, "general's last_message_id", s.Channel(general).GetLastMessageId(), msgID(3))
				expect(t, "carol's edit found nothing", h.edits[msgID(3)], false)
			}},
		{"edits dropped: a refused new version removes the cached one", Policy{Messages: Not(From[*stoatpb.Message](CacheMessageUpdateEvent))},
			func(t *testing.T, s *Store, h seen) {
				expect(t, "messages", s.Counts()["messages"], 0)
				expect(t, "edits saw their message", h.edits[msgID(1)] && h.edits[msgID(4)], true)
			}},
		{"toggle overrides its predicate", Policy{NoMembers: true, Members: func(CacheContext, *stoatpb.Member) bool { return true }},
			func(t *testing.T, s *Store, _ seen) {
				expectList(t, "srv (your own only)", memberIDs(s.Members(srv)), []string{me})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, h := runPredicates(t, tc.policy)
			tc.check(t, r.store, h)
			expectList(t, "events the handlers received", sorted(h.events), sorted(all.events))
		})
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestPolicyContexts checks the context each write is decided in: the event for its primary
// owner's writes, the kind alone for a seed or patch applied elsewhere.
func TestPolicyContexts(t *testing.T) {
	type write struct {
		kind  CacheContextKind
		event bool
	}
	var mu sync.Mutex // the user partitions run in parallel
	var users, members []write
	record := func(to *[]write, ctx CacheContext) bool {
		mu.Lock()
		defer mu.Unlock()
		*to = append(*to, write{ctx.Kind, ctx.Event != nil})
		return true
	}
	r := newWorld(t, Policy{
		Users:   func(ctx CacheContext, _ *stoatpb.User) bool { return record(&users, ctx) },
		Members: func(ctx CacheContext, _ *stoatpb.Member) bool { return record(&members, ctx) },
	})
	r.run(predicateStream()[2], &stoatpb.ServerMemberJoinEvent{ServerId: srv, UserId: bob})
	// What REST responses taught (ermine.Bot.FetchUser, FetchMember).
	r.dir.Deliver(Learn{}.User(&stoatpb.User{Id: dave, Username: "dave"}))
	r.dir.Deliver(Learn{}.Member(&stoatpb.Member{Id: &stoatpb.MemberId{Server: srv, User: dave}}))
	r.drain()
	expectList(t, "users", users, []write{{CacheReadyEvent, false}, {CacheReadyEvent, false}, {CacheMessageCreateEvent, false}, {CacheUserRequest, false}})
	expectList(t, "members", members, []write{{CacheReadyEvent, false}, {CacheMessageCreateEvent, false}, {CacheServerMemberJoinEvent, true}, {CacheUserRequest, false}})
	expect(t, "dave learnt", r.store.User(dave).GetUsername(), "dave")
	expect(t, "dave's membership learnt", r.store.Member(srv, dave) != nil, true)
}

// TestWritesByContextKind: Stats counts the writes of each context kind.
func TestWritesByContextKind(t *testing.T) {
	r := newWorld(t, Policy{})
	before := r.store.Stats().Writes
	r.run(predicateStream()[2]) // carol's message, with her user and member
	after := r.store.Stats().Writes
	expect(t, "MessageCreateEvent writes (message, user, member)", after[CacheMessageCreateEvent]-before[CacheMessageCreateEvent], 3)
	expect(t, "ReadyEvent writes unchanged", after[CacheReadyEvent], before[CacheReadyEvent])
	expect(t, "the Ready wrote", before[CacheReadyEvent] > 0, true)
	r.run(&stoatpb.ServerCreateEvent{ServerId: srv2, Server: &stoatpb.Server{Id: srv2, Name: "two"},
		Channels: []*stoatpb.Channel{{Id: "01CH2", ChannelType: textType, Server: srv2}}})
	// The server and your member by its owner, the channel by the seed it sent.
	expect(t, "ServerCreateEvent writes", r.store.Stats().Writes[CacheServerCreateEvent], 3)
}

// TestReadSitePolicy: Policy.Reads decides the reads at read sites by their kind, and Stats
// counts them.
func TestReadSitePolicy(t *testing.T) {
	r := newWorld(t, Policy{Reads: func(ctx CacheContext) bool { return ctx.Kind != CacheMemberThroughMessageAuthor }})
	s := r.store
	expect(t, "a member read", s.Reading(CacheContext{Kind: CacheMemberThroughMessageAuthor}), false)
	expect(t, "a channel read", s.Reading(CacheContext{Kind: CacheChannelThroughMessageChannel}), true)
	s.Reading(CacheContext{Kind: CacheChannelThroughMessageChannel})
	reads := s.Stats().Reads
	expect(t, "member reads", reads[CacheMemberThroughMessageAuthor], 1)
	expect(t, "channel reads", reads[CacheChannelThroughMessageChannel], 2)
	expect(t, "kinds counted", len(reads), 2)
}

func TestCacheContextKindNames(t *testing.T) {
	expect(t, "undefined", CacheUndefined.String(), "UndefinedCacheContext")
	expect(t, "event", CacheMessageCreateEvent.String(), "MessageCreateEventCacheContext")
	expect(t, "event type", CacheMessageCreateEvent.EventType(), stoatpb.EventTypeMessageCreate)
	expect(t, "read site", CacheMemberThroughMessageAuthor.String(), "MemberThroughMessageAuthorCacheContext")
	expect(t, "read site's event type", CacheMemberThroughMessageAuthor.EventType(), stoatpb.EventTypeNone)
	expect(t, "out of range", NumCacheContextKinds.String(), "CacheContextKind("+strconv.Itoa(int(NumCacheContextKinds))+")")
	ev := &stoatpb.MessageAckEvent{}
	expect(t, "an event's context", EventCacheContext(ev), CacheContext{Kind: CacheMessageAckEvent, Event: ev})
}

func TestKeepCombinators(t *testing.T) {
	yes := func(CacheContext, int) bool { return true }
	no := func(CacheContext, int) bool { return false }
	ctx := CacheContext{Kind: CacheMessageCreateEvent}
	for _, tc := range []struct {
		name string
		keep Keep[int]
		want bool
	}{
		{"And()", And[int](), true},
		{"And(yes, no)", And[int](yes, no), false},
		{"And(yes, nil)", And[int](yes, nil), true},
		{"Or()", Or[int](), false},
		{"Or(no, yes)", Or[int](no, yes), true},
		{"Or(no, nil)", Or[int](no, nil), true},
		{"Not(yes)", Not[int](yes), false},
		{"Not(nil)", Not[int](nil), false},
		{"From(the kind)", From[int](CacheReadyEvent, CacheMessageCreateEvent), true},
		{"From(another)", From[int](CacheReadyEvent), false},
	} {
		expect(t, tc.name, tc.keep(ctx, 0), tc.want)
	}
}
