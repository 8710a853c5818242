package permissions

import (
	"math"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Backend files the rules come from (github.com/stoatchat/stoatchat @ 99b3ea14).
const (
	implRS   = "crates/core/permissions/src/impl.rs"
	modelsRS = "crates/core/permissions/src/models/channel.rs"
	queryRS  = "crates/core/database/src/util/permissions.rs"
	memberRS = "crates/core/database/src/models/server_members/model.rs"
	valueRS  = "crates/core/permissions/src/models/mod.rs"
)

var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

// minInt64 has only bit 63 set: how an override with bit 63 arrives in the i64 model.
const minInt64 = math.MinInt64

func role(id string, rank int64, allow, deny int64) *stoatpb.Role {
	return &stoatpb.Role{Id: id, Name: id, Rank: rank, Permissions: &stoatpb.PermissionOverride{A: allow, D: deny}}
}

// testServer: default ViewChannel|ReadMessageHistory|SendMessage = 0x70_0000. Roles are listed
// out of rank order on purpose; rank 0 is the best.
func testServer() *stoatpb.Server {
	return &stoatpb.Server{
		Id:                 "S",
		Owner:              "OWNER",
		DefaultPermissions: 0x70_0000,
		Roles: []*stoatpb.Role{
			role("HELPER", 7, 0xC0_0000, 0),    // allow SendMessage|ManageMessages
			role("ADMIN", 0, 0x40_0080, 0),     // allow SendMessage|BanMembers
			role("MUTED", 5, 0, 0x40_0000),     // deny SendMessage
			role("GAG", 1, 0, 0x40_0000),       // deny SendMessage
			role("MOD", 2, 0x80_0040, 0),       // allow ManageMessages|KickMembers
			role("DENYTOP", 3, 0, minInt64),    // deny bit 63
			role("HIGH", 4, minInt64|1<<60, 0), // allow bits 63 and 60
			role("BOTH", 6, 0x2040_0000, 0x40_0000),
			role("ALL", 9, -1, 0),   // allow all 64 bits
			role("TA", 8, 1<<29, 0), // allow React
			role("TB", 8, 0, 1<<29), // deny React, same rank as TA
		},
	}
}

func member(roles ...string) *stoatpb.Member {
	return &stoatpb.Member{Id: &stoatpb.MemberId{Server: "S", User: "U"}, Roles: roles}
}

func timedOut(m *stoatpb.Member, until time.Time) *stoatpb.Member {
	m.Timeout = until.UnixMilli()
	return m
}

func textChannel(def *stoatpb.PermissionOverride, overrides ...*stoatpb.RoleOverride) *stoatpb.Channel {
	return &stoatpb.Channel{
		ChannelType:        stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL,
		Id:                 "C",
		Server:             "S",
		Name:               "general",
		DefaultPermissions: def,
		RolePermissions:    overrides,
	}
}

func ov(a, d int64) *stoatpb.PermissionOverride { return &stoatpb.PermissionOverride{A: a, D: d} }

func rov(id string, a, d int64) *stoatpb.RoleOverride {
	return &stoatpb.RoleOverride{RoleId: id, A: a, D: d}
}

var (
	u          = Subject{ID: "U"}
	owner      = Subject{ID: "OWNER"}
	privileged = Subject{ID: "STAFF", Privileged: true}
)

func group(perms *int64) *stoatpb.Channel {
	return &stoatpb.Channel{
		ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_GROUP,
		Id:          "G",
		Name:        "group",
		Owner:       "GOWNER",
		Recipients:  []string{"U", "V"},
		Permissions: perms,
	}
}

func dm(recipients ...string) *stoatpb.Channel {
	return &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, Id: "D", Active: true, Recipients: recipients}
}

func peer(rel stoatpb.RelationshipStatus, mutual, bot bool) Peer {
	p := Peer{User: &stoatpb.User{Id: "V", Username: "v"}, Relationship: rel, Mutual: mutual}
	if bot {
		p.User.Bot = &stoatpb.BotInformation{Owner: "SOMEONE"}
	}
	return p
}

const (
	relNone     = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
	relFriend   = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND
	relBlocked  = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED
	relIncoming = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING
)

// TestCalculations: every expected value is worked out by hand from the bits in the comments;
// none comes from the code under test. rule names the rule and the backend file it is from.
func TestCalculations(t *testing.T) {
	srv := testServer()
	later := now.Add(time.Minute)
	earlier := now.Add(-time.Minute)
	cases := []struct {
		name string
		rule string
		got  func() Set
		want uint64
	}{
		// ----- server-wide (calculate_server_permissions)
		{"owner without member object", implRS + ": calculate_server_permissions, server owner → GrantAllSafe",
			func() Set { return InServer(srv, nil, owner, now) }, 4503599627370495},
		{"owner timed out keeps all", implRS + ": owner check precedes the timeout rule",
			func() Set { return InServer(srv, timedOut(member("GAG"), later), owner, now) }, 0x000F_FFFF_FFFF_FFFF},
		{"privileged non-member", implRS + ": are_we_privileged → GrantAllSafe",
			func() Set { return InServer(srv, nil, privileged, now) }, 0x000F_FFFF_FFFF_FFFF},
		{"not a member", implRS + ": !are_we_a_member → 0",
			func() Set { return InServer(srv, nil, u, now) }, 0},
		{"member of another server", queryRS + ": are_we_a_member is about this server",
			func() Set {
				m := member()
				m.Id.Server = "OTHER"
				return InServer(srv, m, u, now)
			}, 0},
		{"no roles: server default", implRS + ": start from default_permissions",
			func() Set { return InServer(srv, member(), u, now) }, 0x70_0000},
		{"role deny", valueRS + ": apply revokes deny bits",
			func() Set { return InServer(srv, member("MUTED"), u, now) }, 0x30_0000},
		{"deny over allow in one override", valueRS + ": apply allows, then revokes",
			// 0x70_0000 | React 0x2040_0000 = 0x2070_0000, then &^ SendMessage 0x40_0000
			func() Set { return InServer(srv, member("BOTH"), u, now) }, 0x2030_0000},
		{"rank 0 allow beats rank 5 deny", queryRS + ": roles sorted by rank descending, best last",
			// MUTED (5): 0x30_0000; ADMIN (0): | 0x40_0080
			func() Set { return InServer(srv, member("ADMIN", "MUTED"), u, now) }, 0x70_0080},
		{"rank 1 deny beats rank 7 allow", queryRS + ": roles sorted by rank descending, best last",
			// HELPER (7): 0xF0_0000; GAG (1): &^ 0x40_0000
			func() Set { return InServer(srv, member("HELPER", "GAG"), u, now) }, 0xB0_0000},
		{"equal ranks: fixed order", "doc.go Gaps: ties by role id descending (backend: hash-map order)",
			// TB applied before TA: React denied, then allowed
			func() Set { return InServer(srv, member("TA", "TB"), u, now) }, 0x2070_0000},
		{"bits 60 and 63 from a role", modelsRS + ": bits 53–63 are not masked",
			func() Set { return InServer(srv, member("HIGH"), u, now) }, 0x9000_0000_0070_0000},
		{"bit 63 denied by a better rank", queryRS + " role order + " + valueRS + " apply",
			// HIGH (4) adds bits 60 and 63; DENYTOP (3) removes 63
			func() Set { return InServer(srv, member("HIGH", "DENYTOP"), u, now) }, 0x1000_0000_0070_0000},
		{"allow -1 gives all 64 bits", modelsRS + ": i64 -1 read as u64::MAX",
			func() Set { return InServer(srv, member("ALL"), u, now) }, 0xFFFF_FFFF_FFFF_FFFF},
		{"bit 53 in server default", implRS + ": default_permissions taken as u64",
			func() Set {
				s := testServer()
				s.DefaultPermissions = 1<<53 | 1<<20
				return InServer(s, member(), u, now)
			}, 0x0020_0000_0010_0000},
		{"undefined role ignored", queryRS + ": only server.roles held by the member",
			func() Set { return InServer(srv, member("GHOST"), u, now) }, 0x70_0000},
		{"timed out: view and history only", implRS + " + " + memberRS + ": in_timeout → restrict ALLOW_IN_TIMEOUT",
			func() Set { return InServer(srv, timedOut(member("ALL"), later), u, now) }, 0x30_0000},
		{"timeout expired", memberRS + ": in_timeout is timeout > now",
			func() Set { return InServer(srv, timedOut(member(), earlier), u, now) }, 0x70_0000},
		{"timeout ending exactly now", memberRS + ": strict >, so not timed out",
			func() Set { return InServer(srv, timedOut(member(), now), u, now) }, 0x70_0000},
		{"server-muted", implRS + ": !can_publish revokes Speak and Video",
			func() Set {
				m := member("ALL")
				m.CanPublish = proto.Bool(false)
				return InServer(srv, m, u, now)
			}, 0xFFFF_FFFE_7FFF_FFFF},
		{"server-deafened", implRS + ": !can_receive revokes Listen",
			func() Set {
				m := member("ALL")
				m.CanReceive = proto.Bool(false)
				return InServer(srv, m, u, now)
			}, 0xFFFF_FFEF_FFFF_FFFF},
		{"can_publish true explicitly", queryRS + ": can_publish defaults to true",
			func() Set {
				m := member("ALL")
				m.CanPublish = proto.Bool(true)
				return InServer(srv, m, u, now)
			}, 0xFFFF_FFFF_FFFF_FFFF},

		// ----- server channels (calculate_channel_permissions, ServerChannel)
		{"owner in a locked channel", implRS + ": ServerChannel, server owner → GrantAllSafe",
			func() Set { return InServerChannel(textChannel(ov(0, -1)), srv, nil, owner, now) }, 0x000F_FFFF_FFFF_FFFF},
		{"channel hides itself", implRS + ": no ViewChannel → revoke_all",
			func() Set { return InServerChannel(textChannel(ov(0, 1<<20)), srv, member(), u, now) }, 0},
		{"channel default before server roles", implRS + ": default channel override, then server roles (9ab2ae92)",
			// 0x70_0000 &^ Send = 0x30_0000; HELPER | 0xC0_0000
			func() Set { return InServerChannel(textChannel(ov(0, 0x40_0000)), srv, member("HELPER"), u, now) }, 0xF0_0000},
		{"channel role override deny", implRS + ": channel role overrides after server roles",
			// MOD: 0x70_0000 | 0x80_0040 = 0xF0_0040; channel MOD &^ Send
			func() Set {
				return InServerChannel(textChannel(nil, rov("MOD", 0, 0x40_0000)), srv, member("MOD"), u, now)
			}, 0xB0_0040},
		{"channel role overrides by rank", queryRS + ": get_our_channel_role_overrides sorted by server rank descending",
			// server: HELPER 0xF0_0000, GAG 0xB0_0000; channel: HELPER deny Send 0xB0_0000, GAG allow Send 0xF0_0000
			func() Set {
				ch := textChannel(nil, rov("GAG", 0x40_0000, 0), rov("HELPER", 0, 0x40_0000))
				return InServerChannel(ch, srv, member("HELPER", "GAG"), u, now)
			}, 0xF0_0000},
		{"override of a role not held", queryRS + ": only the member's roles",
			func() Set {
				return InServerChannel(textChannel(nil, rov("ADMIN", 1<<23, 0)), srv, member(), u, now)
			}, 0x70_0000},
		{"override of a role the server lacks", queryRS + ": filter_map over server.roles.get",
			func() Set {
				return InServerChannel(textChannel(nil, rov("GHOST", 1<<23, 0)), srv, member("GHOST"), u, now)
			}, 0x70_0000},
		{"timed out in channel", implRS + ": timeout restricts before the ViewChannel rule",
			func() Set { return InServerChannel(textChannel(nil), srv, timedOut(member("MOD"), later), u, now) }, 0x30_0000},
		{"timed out in hidden channel", implRS + ": AllowInTimeout, then no ViewChannel → 0",
			func() Set {
				return InServerChannel(textChannel(ov(0, 1<<20)), srv, timedOut(member(), later), u, now)
			}, 0},
		{"channel default grants bit 62", modelsRS + ": bits 53–63 pass through overrides",
			func() Set {
				return InServerChannel(textChannel(ov(1<<62, 0)), srv, member(), u, now)
			}, 0x4000_0000_0070_0000},
		{"channel of another server", queryRS + ": set_server_from_channel uses channel.server",
			func() Set {
				ch := textChannel(nil)
				ch.Server = "OTHER"
				return InServerChannel(ch, srv, member(), u, now)
			}, 0},
		{"not a member of the channel's server", implRS + ": ServerChannel, !are_we_a_member → 0",
			func() Set { return InServerChannel(textChannel(nil), srv, nil, u, now) }, 0},
		{"legacy voice channel, muted", "BONFIRE.md §3.3 VoiceChannel as TextChannel; " + implRS + ": !can_publish",
			// 0x70_0000 | Connect 0x4000_0000 | Speak 0x8000_0000, then &^ Speak
			func() Set {
				ch := textChannel(ov(0xC000_0000, 0))
				ch.ChannelType = stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL
				m := member()
				m.CanPublish = proto.Bool(false)
				return InChannel(ch, u, Scope{Server: srv, Member: m, Now: now})
			}, 0x4070_0000},

		// ----- groups
		{"group owner", implRS + ": Group, do_we_own_the_channel → GrantAllSafe",
			func() Set { return InChannel(group(nil), Subject{ID: "GOWNER"}, Scope{}) }, 0x000F_FFFF_FFFF_FFFF},
		{"group member, no permissions set", queryRS + ": Group default is DEFAULT_PERMISSION_DIRECT_MESSAGE",
			func() Set { return InChannel(group(nil), u, Scope{}) }, 77283196929},
		{"group member, SendMessage only", implRS + ": Group, VIEW_ONLY | permissions",
			func() Set { return InChannel(group(proto.Int64(0x40_0000)), u, Scope{}) }, 0x70_0000},
		{"group member, permissions 0", implRS + ": Group, VIEW_ONLY is always kept",
			func() Set { return InChannel(group(proto.Int64(0)), u, Scope{}) }, 0x30_0000},
		{"not in the group", implRS + ": Group, not part of the channel → 0",
			func() Set { return InChannel(group(nil), Subject{ID: "X"}, Scope{}) }, 0},

		// ----- saved messages
		{"own saved messages", implRS + ": SavedMessages owner → DEFAULT_PERMISSION_SAVED_MESSAGES",
			func() Set {
				ch := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES, Id: "N", User: "U"}
				return InChannel(ch, u, Scope{})
			}, 0x000F_FFFF_FFFF_FFFF},
		{"someone else's saved messages", implRS + ": SavedMessages, not the owner → 0",
			func() Set {
				ch := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES, Id: "N", User: "V"}
				return InChannel(ch, u, Scope{})
			}, 0},

		// ----- direct messages
		{"DM with a friend", implRS + ": Friend → all user bits → DEFAULT_PERMISSION_DIRECT_MESSAGE",
			func() Set { return InChannel(dm("U", "V"), u, Scope{Peer: peer(relFriend, false, false)}) }, 77283196929},
		{"DM with a stranger", implRS + ": no SendMessage user bit → DEFAULT_PERMISSION_VIEW_ONLY",
			func() Set { return InChannel(dm("U", "V"), u, Scope{Peer: peer(relNone, false, false)}) }, 3145728},
		{"DM, blocked despite mutual", implRS + ": Blocked → Access only, before the mutual rule",
			func() Set { return InChannel(dm("U", "V"), u, Scope{Peer: peer(relBlocked, true, true)}) }, 0x30_0000},
		{"DM with a mutual bot", implRS + ": mutual + bot → SendMessage",
			func() Set { return InChannel(dm("U", "V"), u, Scope{Peer: peer(relNone, true, true)}) }, 77283196929},
		{"DM, mutual, no bots", implRS + ": mutual gives Access|ViewProfile only",
			func() Set { return InChannel(dm("U", "V"), u, Scope{Peer: peer(relNone, true, false)}) }, 0x30_0000},
		{"DM from a bot, mutual", implRS + ": are_we_a_bot + mutual → SendMessage",
			func() Set {
				return InChannel(dm("U", "V"), Subject{ID: "U", Bot: true}, Scope{Peer: peer(relNone, true, false)})
			}, 77283196929},
		{"DM not ours", implRS + ": DirectMessage, not part of the channel → 0",
			func() Set { return InChannel(dm("V", "W"), u, Scope{Peer: peer(relFriend, true, false)}) }, 0},
		{"DM with an unknown peer", queryRS + ": set_recipient_as_user fetch fails → no user",
			func() Set { return InChannel(dm("U", "V"), u, Scope{}) }, 0x30_0000},
		{"DM peer is not the recipient", queryRS + ": the peer is the other recipient",
			func() Set {
				p := peer(relFriend, false, false)
				p.User.Id = "W"
				return InChannel(dm("U", "V"), u, Scope{Peer: p})
			}, 0x30_0000},
		{"privileged in someone else's DM", implRS + ": are_we_privileged precedes the type",
			func() Set { return InChannel(dm("V", "W"), privileged, Scope{}) }, 0x000F_FFFF_FFFF_FFFF},
		{"privileged, unknown channel type", implRS + ": are_we_privileged is checked before the type",
			func() Set { return InChannel(&stoatpb.Channel{Id: "?"}, privileged, Scope{}) }, 0x000F_FFFF_FFFF_FFFF},
		{"privileged, no server object", implRS + ": calculate_server_permissions checks privileged first",
			func() Set { return InServer(nil, nil, privileged, now) }, 0x000F_FFFF_FFFF_FFFF},
		{"unknown channel type", implRS + ": ChannelType::Unknown → 0",
			func() Set { return InChannel(&stoatpb.Channel{Id: "?"}, u, Scope{Server: srv, Member: member()}) }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.got(); got != Set(c.want) {
				t.Errorf("got %#x (%v), want %#x (%v)\nrule: %s", uint64(got), got, c.want, Set(c.want), c.rule)
			}
		})
	}
}

func TestForUser(t *testing.T) {
	ownedBot := Peer{User: &stoatpb.User{Id: "V", Bot: &stoatpb.BotInformation{Owner: "U"}}, Relationship: relBlocked}
	cases := []struct {
		name string
		rule string
		who  Subject
		p    Peer
		want uint64
	}{
		{"privileged", implRS + ": calculate_user_permissions, privileged → u64::MAX", privileged, Peer{}, math.MaxUint64},
		{"oneself", implRS + ": are_the_users_same → u64::MAX", Subject{ID: "V"}, peer(relNone, false, false), math.MaxUint64},
		{"friend", implRS + ": Friend → u64::MAX", u, peer(relFriend, false, false), math.MaxUint64},
		{"pending request", implRS + ": Incoming → Access", u, peer(relIncoming, false, false), 1},
		{"pending request and mutual", implRS + ": mutual → Access+ViewProfile", u, peer(relIncoming, true, false), 3},
		{"mutual with a bot", implRS + ": mutual + bot → +SendMessage", u, peer(relNone, true, true), 7},
		{"blocked and mutual", implRS + ": Blocked → Access, returned early", u, peer(relBlocked, true, true), 1},
		{"bot we own, marked blocked", queryRS + ": user_relationship → User for our bot", u, ownedBot, 0},
		{"no peer", queryRS + ": no user → nothing", u, Peer{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ForUser(c.who, c.p); got != UserSet(c.want) {
				t.Errorf("got %#x (%v), want %#x\nrule: %s", uint64(got), got, c.want, c.rule)
			}
		})
	}
}

func TestRelationshipOf(t *testing.T) {
	me := &stoatpb.User{Id: "U", Relations: []*stoatpb.Relationship{{Id: "V", Status: relFriend}, {Id: "B", Status: relBlocked}}}
	cases := []struct {
		other *stoatpb.User
		want  stoatpb.RelationshipStatus
	}{
		{&stoatpb.User{Id: "U"}, stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER},
		{&stoatpb.User{Id: "V"}, relFriend},
		{&stoatpb.User{Id: "B", Bot: &stoatpb.BotInformation{Owner: "U"}}, stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER},
		{&stoatpb.User{Id: "W"}, relNone},
		{nil, relNone},
	}
	for _, c := range cases { // rule: user_relationship in crates/core/database/src/util/permissions.rs
		if got := RelationshipOf(me, c.other); got != c.want {
			t.Errorf("RelationshipOf(me, %v) = %v, want %v", c.other.GetId(), got, c.want)
		}
	}
}

// TestBits checks every constant against the backend's values, written out by hand
// (crates/core/permissions/src/models/channel.rs and models/user.rs; BONFIRE.md §3.11).
func TestBits(t *testing.T) {
	cases := []struct {
		got  Set
		want uint64
	}{
		{ManageChannel, 1}, {ManageServer, 2}, {ManagePermissions, 4}, {ManageRole, 8},
		{ManageCustomisation, 16}, {KickMembers, 64}, {BanMembers, 128}, {TimeoutMembers, 256},
		{AssignRoles, 512}, {ChangeNickname, 1024}, {ManageNicknames, 2048}, {ChangeAvatar, 4096},
		{RemoveAvatars, 8192}, {ViewChannel, 1048576}, {ReadMessageHistory, 2097152},
		{SendMessage, 4194304}, {ManageMessages, 8388608}, {ManageWebhooks, 16777216},
		{InviteOthers, 33554432}, {SendEmbeds, 67108864}, {UploadFiles, 134217728},
		{Masquerade, 268435456}, {React, 536870912}, {Connect, 1073741824}, {Speak, 2147483648},
		{Video, 4294967296}, {MuteMembers, 8589934592}, {DeafenMembers, 17179869184},
		{MoveMembers, 34359738368}, {Listen, 68719476736}, {MentionEveryone, 137438953472},
		{MentionRoles, 274877906944}, {BypassSlowmode, 549755813888}, {ViewAuditLogs, 1099511627776},
		{GrantAllSafe, 4503599627370495}, {GrantAll, 18446744073709551615},
		{ViewOnly, 3145728}, {AllowInTimeout, 3145728}, {Default, 76477890560},
		{DefaultServer, 77014766592}, {DefaultDirectMessage, 77283196929},
		{DefaultSavedMessages, 4503599627370495}, {DefaultWebhook, 876609536},
	}
	for _, c := range cases {
		if uint64(c.got) != c.want {
			t.Errorf("%v = %d, want %d", c.got, uint64(c.got), c.want)
		}
	}
	users := []struct {
		got  UserSet
		want uint64
	}{{UserAccess, 1}, {UserViewProfile, 2}, {UserSendMessage, 4}, {UserInvite, 8}, {UserAll, math.MaxUint64}}
	for _, c := range users {
		if uint64(c.got) != c.want {
			t.Errorf("%v = %d, want %d", c.got, uint64(c.got), c.want)
		}
	}
}

func TestSetMethods(t *testing.T) {
	s := Set(0x9000_0000_0030_0000) // ViewChannel|ReadMessageHistory|bit 60|bit 63
	if !s.Has(0x30_0000) || !s.Has(1<<63) || !s.Has(0) {
		t.Errorf("Has: %v should hold ViewOnly, bit 63 and the empty set", s)
	}
	if s.Has(0x70_0000) { // rule: PermissionValue::has needs every bit (models/mod.rs)
		t.Errorf("Has(ViewOnly|SendMessage) on %v: want false", s)
	}
	if got := s.Missing(0x70_0000); got != 0x40_0000 {
		t.Errorf("Missing = %#x, want SendMessage", uint64(got))
	}
	strs := []struct {
		s    interface{ String() string }
		want string
	}{
		{s, "ViewChannel|ReadMessageHistory|1<<60|1<<63"},
		{Set(0), "0"},
		{Set(0x000F_FFFF_FFFF_FFFF), "GrantAllSafe"},
		{Set(math.MaxUint64), "GrantAll"},
		{Set(1<<5 | 1), "ManageChannel|1<<5"},
		{UserSet(5), "Access|SendMessage"},
		{UserSet(math.MaxUint64), "UserAll"},
	}
	for _, c := range strs {
		if got := c.s.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}
