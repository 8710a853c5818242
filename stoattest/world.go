package stoattest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// World is the state a Server serves: the bot user, what it can see, and the message history.
// The Server keeps its own deep copy, guarded by its lock: REST calls change it (and emit the
// matching events), Server.Update changes it silently, Server.Restart replaces it, and
// Server.World returns a copy.
//
// What the connected user can see follows the real server's rules: Ready lists the servers it
// is a member of (from Members), their channels, its SavedMessages, DMs and groups, the emojis of
// its servers, and the users it has a relationship with, shares a DM or group with, or meets in a
// voice channel. Members in Ready are only its own memberships (plus voice participants'). There
// are no permission checks: every channel of a joined server is visible and writable.
type World struct {
	// Token is the token the server accepts, as a bot token (X-Bot-Token) or a session token
	// (X-Session-Token, or the events URL / Authenticate frame).
	Token string
	// Self is the connected user (usually a bot: Bot is set). It is sent last in Ready's users
	// with relationship User and online true, whatever its fields say.
	Self *stoatpb.User
	// Users are the other users, each with its relationship to Self.
	Users []*stoatpb.User
	// Servers are every server of the world; Self sees those it has a Member in.
	Servers []*stoatpb.Server
	// Channels are every channel of the world, server channels and private ones.
	Channels []*stoatpb.Channel
	// Members are all memberships, of Self and of everyone else.
	Members []*stoatpb.Member
	// Emojis are the custom emojis of the servers.
	Emojis []*stoatpb.Emoji
	// VoiceStates are the current voice participants per channel.
	VoiceStates []*stoatpb.ChannelVoiceState
	// PolicyChanges are sent in Ready when Self is not a bot (the real server never sends them
	// to bots).
	PolicyChanges []*stoatpb.PolicyChange
	// Messages is the history per channel id, in ascending id (= time) order. Stored messages
	// carry no embedded user or member.
	Messages map[string][]*stoatpb.Message
}

// Clone returns a deep copy of w.
func (w *World) Clone() *World {
	if w == nil {
		return nil
	}
	c := &World{
		Token:         w.Token,
		Self:          cloneMsg(w.Self),
		Users:         cloneAll(w.Users),
		Servers:       cloneAll(w.Servers),
		Channels:      cloneAll(w.Channels),
		Members:       cloneAll(w.Members),
		Emojis:        cloneAll(w.Emojis),
		VoiceStates:   cloneAll(w.VoiceStates),
		PolicyChanges: cloneAll(w.PolicyChanges),
		Messages:      make(map[string][]*stoatpb.Message, len(w.Messages)),
	}
	for ch, msgs := range w.Messages {
		c.Messages[ch] = cloneAll(msgs)
	}
	return c
}

// User returns the user with id (Self included), or nil.
func (w *World) User(id string) *stoatpb.User {
	if w.Self != nil && w.Self.GetId() == id {
		return w.Self
	}
	return find(w.Users, func(u *stoatpb.User) bool { return u.GetId() == id })
}

// UserByName returns the user (Self included) with the username, or nil.
func (w *World) UserByName(username string) *stoatpb.User {
	if w.Self != nil && w.Self.GetUsername() == username {
		return w.Self
	}
	return find(w.Users, func(u *stoatpb.User) bool { return u.GetUsername() == username })
}

// Server returns the server with id, or nil.
func (w *World) Server(id string) *stoatpb.Server {
	return find(w.Servers, func(s *stoatpb.Server) bool { return s.GetId() == id })
}

// ServerByName returns the first server named name, or nil.
func (w *World) ServerByName(name string) *stoatpb.Server {
	return find(w.Servers, func(s *stoatpb.Server) bool { return s.GetName() == name })
}

// Channel returns the channel with id, or nil.
func (w *World) Channel(id string) *stoatpb.Channel {
	return find(w.Channels, func(c *stoatpb.Channel) bool { return c.GetId() == id })
}

// ChannelByName returns the first channel named name (server channels and groups), or nil.
func (w *World) ChannelByName(name string) *stoatpb.Channel {
	return find(w.Channels, func(c *stoatpb.Channel) bool { return c.GetName() == name })
}

func find[T any](xs []T, ok func(T) bool) T {
	for _, x := range xs {
		if ok(x) {
			return x
		}
	}
	var zero T
	return zero
}

func cloneMsg[T proto.Message](m T) T {
	var zero T
	if any(m) == any(zero) {
		return zero
	}
	return proto.Clone(m).(T)
}

func cloneAll[T proto.Message](xs []T) []T {
	if xs == nil {
		return nil
	}
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = cloneMsg(x)
	}
	return out
}

// SmallWorld returns a small consistent world, the same for the same seed: the bot "ermine"
// (owned by alice), the users alice, bob and carol; the servers "Ermine Lab" (channels general,
// random and the voice-capable voice; roles Moderator and Bot; custom emoji "ermine") and
// "Second Server" (channel lobby); the bot is a member of both; a DM between the bot and alice;
// and a short history in general and random. IDs are ULIDs of January 2026.
func SmallWorld(seed uint64) *World {
	rnd := rand.New(rand.NewPCG(seed, 0x5707_7e57))
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := uint64(t0.UnixMilli())
	id := func() string {
		ms += 1 + rnd.Uint64N(60_000)
		return encodeULID(ms, uint16(rnd.Uint32()), rnd.Uint64())
	}
	const tokenAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
	var tok strings.Builder
	for range 64 {
		tok.WriteByte(tokenAlphabet[rnd.IntN(len(tokenAlphabet))])
	}

	alice := &stoatpb.User{Id: id(), Username: "alice", Discriminator: "1234", DisplayName: "Alice", Online: true,
		Status: &stoatpb.UserStatus{Text: "building bots", Presence: stoatpb.Presence_PRESENCE_ONLINE}}
	bob := &stoatpb.User{Id: id(), Username: "bob", Discriminator: "4821"}
	carol := &stoatpb.User{Id: id(), Username: "carol", Discriminator: "0042", Pronouns: "she/her"}
	bot := &stoatpb.User{Id: id(), Username: "ermine", Discriminator: "0001", DisplayName: "Ermine Bot",
		Bot: &stoatpb.BotInformation{Owner: alice.Id}, Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER, Online: true}

	lab := &stoatpb.Server{Id: id(), Owner: alice.Id, Name: "Ermine Lab", Description: "where ermine is tested",
		DefaultPermissions: 77014766592, ApproximateMemberCount: 4}
	general := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: id(), Server: lab.Id, Name: "general", Description: "say hello"}
	random := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: id(), Server: lab.Id, Name: "random"}
	voice := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: id(), Server: lab.Id, Name: "voice",
		Voice: &stoatpb.VoiceInformation{MaxUsers: proto.Uint64(8)}}
	modRole := &stoatpb.Role{Id: id(), Name: "Moderator", Permissions: &stoatpb.PermissionOverride{A: 8388608}, Colour: "#c0ffee", Hoist: true, Rank: 0}
	botRole := &stoatpb.Role{Id: id(), Name: "Bot", Permissions: &stoatpb.PermissionOverride{A: 268435456}, Rank: 1}
	lab.Channels = []string{general.Id, random.Id, voice.Id}
	lab.Categories = []*stoatpb.Category{
		{Id: "text", Title: "Text", Channels: []string{general.Id, random.Id}},
		{Id: "voice", Title: "Voice", Channels: []string{voice.Id}},
	}
	lab.SystemMessages = &stoatpb.SystemMessageChannels{UserJoined: general.Id, UserLeft: general.Id}
	lab.Roles = []*stoatpb.Role{modRole, botRole}

	second := &stoatpb.Server{Id: id(), Owner: bob.Id, Name: "Second Server", DefaultPermissions: 77014766592, ApproximateMemberCount: 3}
	lobby := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: id(), Server: second.Id, Name: "lobby"}
	second.Channels = []string{lobby.Id}

	dm := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, Id: id(), Active: true,
		Recipients: []string{bot.Id, alice.Id}}

	joined := func() int64 { ms += 1000; return int64(ms) }
	member := func(server, user string, roles ...string) *stoatpb.Member {
		return &stoatpb.Member{Id: &stoatpb.MemberId{Server: server, User: user}, JoinedAt: joined(), Roles: roles}
	}
	members := []*stoatpb.Member{
		member(lab.Id, alice.Id, modRole.Id),
		member(lab.Id, bob.Id),
		member(lab.Id, carol.Id),
		member(lab.Id, bot.Id, botRole.Id),
		member(second.Id, bob.Id),
		member(second.Id, carol.Id),
		member(second.Id, bot.Id),
	}
	members[2].Nickname = "caz"

	emoji := &stoatpb.Emoji{Id: id(), Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: lab.Id},
		CreatorId: alice.Id, Name: "ermine"}

	msg := func(ch *stoatpb.Channel, author *stoatpb.User, content string) *stoatpb.Message {
		return &stoatpb.Message{Id: id(), Channel: ch.Id, Author: author.Id, Content: content}
	}
	hist := map[string][]*stoatpb.Message{
		general.Id: {
			msg(general, alice, "hello everyone"),
			msg(general, bob, "hi alice"),
			msg(general, alice, "the bot joins today"),
		},
		random.Id: {msg(random, carol, "anyone up for a game?")},
		dm.Id:     {msg(dm, alice, "hi ermine, can you hear me?")},
	}
	hist[general.Id][1].Replies = []string{hist[general.Id][0].Id}
	hist[general.Id][1].Reactions = []*stoatpb.Reaction{{Emoji: "👍", Users: []string{alice.Id}}}
	for ch, msgs := range hist {
		c := find([]*stoatpb.Channel{general, random, dm}, func(c *stoatpb.Channel) bool { return c.Id == ch })
		c.LastMessageId = msgs[len(msgs)-1].Id
	}

	return &World{
		Token:    tok.String(),
		Self:     bot,
		Users:    []*stoatpb.User{alice, bob, carol},
		Servers:  []*stoatpb.Server{lab, second},
		Channels: []*stoatpb.Channel{general, random, voice, lobby, dm},
		Members:  members,
		Emojis:   []*stoatpb.Emoji{emoji},
		Messages: hist,
	}
}

// memberKey is the compound key of a member.
type memberKey struct{ server, user string }

// index is the lookup tables over a World. Its pointers alias the World's objects.
type index struct {
	users    map[string]*stoatpb.User // Self included
	servers  map[string]*stoatpb.Server
	channels map[string]*stoatpb.Channel
	members  map[memberKey]*stoatpb.Member
	emojis   map[string]*stoatpb.Emoji
	messages map[string]*stoatpb.Message
}

// prepare validates w, sorts its message history and returns its index.
func prepare(w *World) (*index, error) {
	if w.Self == nil || w.Self.GetId() == "" {
		return nil, fmt.Errorf("stoattest: the world has no Self user")
	}
	if w.Messages == nil {
		w.Messages = map[string][]*stoatpb.Message{}
	}
	ix := &index{
		users:    make(map[string]*stoatpb.User, len(w.Users)+1),
		servers:  make(map[string]*stoatpb.Server, len(w.Servers)),
		channels: make(map[string]*stoatpb.Channel, len(w.Channels)),
		members:  make(map[memberKey]*stoatpb.Member, len(w.Members)),
		emojis:   make(map[string]*stoatpb.Emoji, len(w.Emojis)),
		messages: map[string]*stoatpb.Message{},
	}
	for _, u := range w.Users {
		ix.users[u.GetId()] = u
	}
	ix.users[w.Self.GetId()] = w.Self
	for _, s := range w.Servers {
		ix.servers[s.GetId()] = s
	}
	for _, c := range w.Channels {
		ix.channels[c.GetId()] = c
	}
	for _, m := range w.Members {
		if m.GetId() == nil {
			return nil, fmt.Errorf("stoattest: a member has no _id")
		}
		ix.members[memberKey{m.Id.Server, m.Id.User}] = m
	}
	for _, e := range w.Emojis {
		ix.emojis[e.GetId()] = e
	}
	for ch, msgs := range w.Messages {
		slices.SortFunc(msgs, func(a, b *stoatpb.Message) int { return strings.Compare(a.GetId(), b.GetId()) })
		for _, m := range msgs {
			if m.GetChannel() == "" {
				m.Channel = ch
			}
			ix.messages[m.GetId()] = m
		}
	}
	return ix, nil
}

// selfView returns Self as it appears to itself: relationship User, online.
func selfView(u *stoatpb.User) *stoatpb.User {
	c := proto.Clone(u).(*stoatpb.User)
	c.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	c.Online = true
	return c
}

// userView returns the user with id as Self sees it (Self with relationship User), or nil.
func (s *Server) userViewLocked(id string) *stoatpb.User {
	u := s.ix.users[id]
	if u == nil {
		return nil
	}
	if id == s.world.Self.GetId() {
		return selfView(u)
	}
	return u
}

// canSeeLocked reports whether Self can see the channel.
func (s *Server) canSeeLocked(ch *stoatpb.Channel) bool {
	self := s.world.Self.GetId()
	switch ch.GetChannelType() {
	case stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES:
		return ch.GetUser() == self
	case stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, stoatpb.ChannelType_CHANNEL_TYPE_GROUP:
		return slices.Contains(ch.GetRecipients(), self)
	default:
		_, ok := s.ix.members[memberKey{ch.GetServer(), self}]
		return ok
	}
}

// readyFields is the selection of Ready fields made by the events URL's ready= parameters.
type readyFields struct {
	users, servers, channels, members, emojis, voiceStates, channelUnreads, policyChanges bool
}

func defaultReadyFields() readyFields {
	return readyFields{users: true, servers: true, channels: true, members: true, emojis: true, voiceStates: true, policyChanges: true}
}

// parseReadyFields mirrors Bonfire: any ready= parameter switches every field off, then turns
// on the ones listed. user_settings[…] is accepted and, like the real server's, has no effect.
func parseReadyFields(values []string) readyFields {
	if len(values) == 0 {
		return defaultReadyFields()
	}
	var f readyFields
	for _, v := range values {
		switch v {
		case "users":
			f.users = true
		case "servers":
			f.servers = true
		case "channels":
			f.channels = true
		case "members":
			f.members = true
		case "emojis":
			f.emojis = true
		case "voice_states":
			f.voiceStates = true
		case "channel_unreads":
			f.channelUnreads = true
		case "policy_changes":
			f.policyChanges = true
		}
	}
	return f
}

// readyLocked builds the Ready payload from the world, as the real server does.
func (s *Server) readyLocked() *stoatpb.ReadyEvent {
	w := s.world
	self := w.Self.GetId()
	ev := &stoatpb.ReadyEvent{}

	userIDs := map[string]bool{}
	for _, r := range w.Self.GetRelations() {
		userIDs[r.GetId()] = true
	}
	joined := map[string]bool{}
	for _, m := range w.Members {
		if m.GetId().GetUser() == self {
			joined[m.Id.Server] = true
			ev.Members = append(ev.Members, m)
		}
	}
	for _, sv := range w.Servers {
		if joined[sv.GetId()] {
			ev.Servers = append(ev.Servers, sv)
		}
	}
	for _, ch := range w.Channels {
		if !s.canSeeLocked(ch) {
			continue
		}
		ev.Channels = append(ev.Channels, ch)
		switch ch.GetChannelType() {
		case stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, stoatpb.ChannelType_CHANNEL_TYPE_GROUP:
			for _, r := range ch.GetRecipients() {
				userIDs[r] = true
			}
		}
	}
	for _, vs := range w.VoiceStates {
		ch := s.ix.channels[vs.GetId()]
		if ch == nil || !s.canSeeLocked(ch) {
			continue
		}
		ev.VoiceStates = append(ev.VoiceStates, vs)
		for _, p := range vs.GetParticipants() {
			userIDs[p.GetId()] = true
			if sv := ch.GetServer(); sv != "" && p.GetId() != self {
				if m := s.ix.members[memberKey{sv, p.GetId()}]; m != nil {
					ev.Members = append(ev.Members, m)
				}
			}
		}
	}
	for _, u := range w.Users {
		if userIDs[u.GetId()] && u.GetId() != self {
			ev.Users = append(ev.Users, u)
		}
	}
	ev.Users = append(ev.Users, selfView(w.Self))
	for _, e := range w.Emojis {
		if e.GetParent().GetType() == stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER && joined[e.GetParent().GetId()] {
			ev.Emojis = append(ev.Emojis, e)
		}
	}
	if w.Self.GetBot() == nil {
		ev.PolicyChanges = w.PolicyChanges
	}
	return ev
}
