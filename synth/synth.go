// Package synth generates synthetic Stoat worlds and event streams, deterministic for a seed, for
// tests, the demo and benchmarks. Entities are derived from their index (id, name, membership),
// never stored, so a world of 100k servers and 1M members streams in constant memory.
package synth

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// World describes the size of a synthetic world.
type World struct {
	Seed              uint64
	Servers           int
	ChannelsPerServer int
	Users             int // users who may be members and authors (the bot is extra)
	MembersPerServer  int
	RolesPerServer    int
	EmojisPerServer   int
}

// Small is a world for the demo and quick tests.
func Small(seed uint64) World {
	return World{Seed: seed, Servers: 3, ChannelsPerServer: 4, Users: 40, MembersPerServer: 20, RolesPerServer: 3, EmojisPerServer: 2}
}

// epoch is the creation time of the world's first id; ids are ULIDs and sort by creation.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Generator derives a world's entities and streams its events.
type Generator struct {
	w     World
	rng   *rand.Rand
	clock time.Time
	seq   uint64
	// recent remembers the latest messages (bounded) so edits, deletes and reactions refer to
	// messages that exist.
	recent []recentMessage
	next   int
}

type recentMessage struct{ id, channel string }

// New returns a generator of w.
func New(w World) *Generator {
	if w.Users < 1 {
		w.Users = 1
	}
	if w.MembersPerServer > w.Users {
		w.MembersPerServer = w.Users
	}
	return &Generator{w: w, rng: rand.New(rand.NewPCG(w.Seed, w.Seed^0x9e3779b97f4a7c15)), clock: epoch.Add(24 * time.Hour)}
}

// World returns the generator's world.
func (g *Generator) World() World { return g.w }

// --- ids ---------------------------------------------------------------------------------------

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulid returns the ULID of (ms, random 80 bits).
func ulid(ms uint64, hi uint16, lo uint64) string {
	var b [26]byte
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	// 80 random bits: 16 from hi, 64 from lo.
	for i := 25; i >= 10; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | uint64(hi)<<59
		hi >>= 5
	}
	return string(b[:])
}

// entityID derives the stable id of entity kind/index: the same for every call and every seed
// order, so entities need not be stored.
func (g *Generator) entityID(kind string, index int) string {
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], g.w.Seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(index))
	h.Write([]byte(kind))
	h.Write(buf[:])
	r := h.Sum64()
	ms := uint64(epoch.UnixMilli()) + uint64(index)*7 + uint64(len(kind))
	return ulid(ms, uint16(r>>48), r)
}

// newID returns a fresh, increasing id for a message or another new entity.
func (g *Generator) newID() string {
	g.clock = g.clock.Add(time.Duration(1+g.rng.IntN(40)) * time.Millisecond)
	g.seq++
	return ulid(uint64(g.clock.UnixMilli()), uint16(g.seq), g.rng.Uint64())
}

// BotID is the id of the bot user (the connected user).
func (g *Generator) BotID() string { return g.entityID("bot", 0) }

// UserID is the id of user i.
func (g *Generator) UserID(i int) string { return g.entityID("user", i) }

// ServerID is the id of server i.
func (g *Generator) ServerID(i int) string { return g.entityID("server", i) }

// ChannelID is the id of channel c of server s.
func (g *Generator) ChannelID(s, c int) string {
	return g.entityID("channel", s*g.w.ChannelsPerServer+c)
}

// RoleID is the id of role r of server s.
func (g *Generator) RoleID(s, r int) string { return g.entityID("role", s*g.w.RolesPerServer+r) }

// EmojiID is the id of emoji e of server s.
func (g *Generator) EmojiID(s, e int) string { return g.entityID("emoji", s*g.w.EmojisPerServer+e) }

// MemberUser is the user index of member m of server s (a deterministic spread over the users).
func (g *Generator) MemberUser(s, m int) int {
	return (s*7919 + m*104729) % g.w.Users
}

// --- entities ----------------------------------------------------------------------------------

// Bot returns the connected bot user.
func (g *Generator) Bot() *stoatpb.User {
	return &stoatpb.User{Id: g.BotID(), Username: "ermine-bot", Discriminator: "0001", DisplayName: "Ermine",
		Bot: &stoatpb.BotInformation{Owner: g.UserID(0)}, Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER, Online: true}
}

// User returns user i.
func (g *Generator) User(i int) *stoatpb.User {
	return &stoatpb.User{Id: g.UserID(i), Username: fmt.Sprintf("user%d", i), Discriminator: fmt.Sprintf("%04d", i%10000),
		DisplayName: fmt.Sprintf("User %d", i), Online: i%3 == 0}
}

// Server returns server s.
func (g *Generator) Server(s int) *stoatpb.Server {
	srv := &stoatpb.Server{Id: g.ServerID(s), Owner: g.UserID(g.MemberUser(s, 0)), Name: fmt.Sprintf("Server %d", s),
		DefaultPermissions: 77014766592, ApproximateMemberCount: uint64(g.w.MembersPerServer + 1)}
	for c := 0; c < g.w.ChannelsPerServer; c++ {
		srv.Channels = append(srv.Channels, g.ChannelID(s, c))
	}
	for r := 0; r < g.w.RolesPerServer; r++ {
		srv.Roles = append(srv.Roles, &stoatpb.Role{Id: g.RoleID(s, r), Name: fmt.Sprintf("role-%d", r),
			Permissions: &stoatpb.PermissionOverride{A: 1 << (20 + r%10)}, Rank: int64(r)})
	}
	if g.w.ChannelsPerServer > 0 {
		srv.SystemMessages = &stoatpb.SystemMessageChannels{UserJoined: g.ChannelID(s, 0)}
	}
	return srv
}

// Channel returns channel c of server s.
func (g *Generator) Channel(s, c int) *stoatpb.Channel {
	ch := &stoatpb.Channel{Id: g.ChannelID(s, c), ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL,
		Server: g.ServerID(s), Name: fmt.Sprintf("channel-%d", c)}
	if c%4 == 3 {
		ch.Voice = &stoatpb.VoiceInformation{}
	}
	return ch
}

// Member returns member m of server s.
func (g *Generator) Member(s, m int) *stoatpb.Member {
	mem := &stoatpb.Member{Id: &stoatpb.MemberId{Server: g.ServerID(s), User: g.UserID(g.MemberUser(s, m))},
		JoinedAt: epoch.UnixMilli() + int64(m)*60000}
	if g.w.RolesPerServer > 0 && m%5 == 0 {
		mem.Roles = []string{g.RoleID(s, m%g.w.RolesPerServer)}
	}
	return mem
}

// Emoji returns emoji e of server s.
func (g *Generator) Emoji(s, e int) *stoatpb.Emoji {
	return &stoatpb.Emoji{Id: g.EmojiID(s, e), Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: g.ServerID(s)},
		CreatorId: g.UserID(g.MemberUser(s, 0)), Name: fmt.Sprintf("emoji_%d", e)}
}

// BotMember returns the bot's membership of server s.
func (g *Generator) BotMember(s int) *stoatpb.Member {
	return &stoatpb.Member{Id: &stoatpb.MemberId{Server: g.ServerID(s), User: g.BotID()}, JoinedAt: epoch.UnixMilli()}
}

// Ready returns the Ready a bot of this world receives: every server, channel and emoji, the bot's
// own memberships and the bot user (last, as the server sends it). Members other than the bot's
// are not in a Ready (BONFIRE.md §2.1); see Members.
func (g *Generator) Ready() *stoatpb.ReadyEvent {
	r := &stoatpb.ReadyEvent{}
	for s := 0; s < g.w.Servers; s++ {
		r.Servers = append(r.Servers, g.Server(s))
		for c := 0; c < g.w.ChannelsPerServer; c++ {
			r.Channels = append(r.Channels, g.Channel(s, c))
		}
		for e := 0; e < g.w.EmojisPerServer; e++ {
			r.Emojis = append(r.Emojis, g.Emoji(s, e))
		}
		r.Members = append(r.Members, g.BotMember(s))
	}
	r.Users = append(r.Users, g.Bot())
	return r
}

// Members calls f with every member of every server, in order, without holding them.
func (g *Generator) Members(f func(*stoatpb.Member) error) error {
	for s := 0; s < g.w.Servers; s++ {
		for m := 0; m < g.w.MembersPerServer; m++ {
			if err := f(g.Member(s, m)); err != nil {
				return err
			}
		}
	}
	return nil
}
