package permissions

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Set is a set of channel/server permission bits: the backend's ChannelPermission values, held
// as in its PermissionValue (crates/core/permissions/src/models/channel.rs, models/mod.rs).
type Set uint64

// Permission bits, values exactly as ChannelPermission in
// crates/core/permissions/src/models/channel.rs. Bit 5 and bits 14–19 are reserved; 41–52 are
// free; 53–63 are marked "do not use" but still pass through the calculations unchanged.
const (
	// ManageChannel lets a member manage the channel, or the server's channels.
	ManageChannel Set = 1 << 0
	// ManageServer lets a member manage the server.
	ManageServer Set = 1 << 1
	// ManagePermissions lets a member manage permissions on servers or channels.
	ManagePermissions Set = 1 << 2
	// ManageRole lets a member manage the server's roles.
	ManageRole Set = 1 << 3
	// ManageCustomisation lets a member manage server customisation, emoji included.
	ManageCustomisation Set = 1 << 4

	// KickMembers lets a member kick members ranked below them.
	KickMembers Set = 1 << 6
	// BanMembers lets a member ban members ranked below them.
	BanMembers Set = 1 << 7
	// TimeoutMembers lets a member time out members ranked below them.
	TimeoutMembers Set = 1 << 8
	// AssignRoles lets a member assign roles ranked below their own.
	AssignRoles Set = 1 << 9
	// ChangeNickname lets a member change their own nickname.
	ChangeNickname Set = 1 << 10
	// ManageNicknames lets a member change or remove nicknames of members ranked below them.
	ManageNicknames Set = 1 << 11
	// ChangeAvatar lets a member change their own server avatar.
	ChangeAvatar Set = 1 << 12
	// RemoveAvatars lets a member remove avatars of members ranked below them.
	RemoveAvatars Set = 1 << 13

	// ViewChannel lets a user see a channel. Without it a server channel grants nothing.
	ViewChannel Set = 1 << 20
	// ReadMessageHistory lets a user read a channel's past messages.
	ReadMessageHistory Set = 1 << 21
	// SendMessage lets a user send messages in a channel.
	SendMessage Set = 1 << 22
	// ManageMessages lets a user delete others' messages in a channel.
	ManageMessages Set = 1 << 23
	// ManageWebhooks lets a user manage a channel's webhooks.
	ManageWebhooks Set = 1 << 24
	// InviteOthers lets a user create invites to a channel.
	InviteOthers Set = 1 << 25
	// SendEmbeds lets a user send embedded content.
	SendEmbeds Set = 1 << 26
	// UploadFiles lets a user send attachments and media.
	UploadFiles Set = 1 << 27
	// Masquerade lets a user send messages with a custom nickname and avatar.
	Masquerade Set = 1 << 28
	// React lets a user react to messages.
	React Set = 1 << 29
	// Connect lets a user join a voice channel.
	Connect Set = 1 << 30
	// Speak lets a user speak in a voice call.
	Speak Set = 1 << 31
	// Video lets a user share video in a voice call.
	Video Set = 1 << 32
	// MuteMembers lets a member mute lower-ranked members in a voice call.
	MuteMembers Set = 1 << 33
	// DeafenMembers lets a member deafen lower-ranked members in a voice call.
	DeafenMembers Set = 1 << 34
	// MoveMembers lets a member move members between voice channels.
	MoveMembers Set = 1 << 35
	// Listen lets a user hear others in a voice call.
	Listen Set = 1 << 36
	// MentionEveryone lets a user mention everyone and online members.
	MentionEveryone Set = 1 << 37
	// MentionRoles lets a user mention roles.
	MentionRoles Set = 1 << 38
	// BypassSlowmode exempts a user from a channel's slowmode.
	BypassSlowmode Set = 1 << 39
	// ViewAuditLogs lets a member read the server's audit log.
	ViewAuditLogs Set = 1 << 40
)

// Named sets, as the statics of crates/core/permissions/src/models/channel.rs.
const (
	// GrantAllSafe is bits 0–51 (0x000F_FFFF_FFFF_FFFF): what the server owner, a group's owner,
	// privileged users and saved messages get. It stays below 2^53 for JavaScript clients.
	GrantAllSafe Set = 0x000F_FFFF_FFFF_FFFF
	// GrantAll is every bit (u64::MAX). The calculations never return it as a channel value.
	GrantAll Set = math.MaxUint64

	// ViewOnly is DEFAULT_PERMISSION_VIEW_ONLY: ViewChannel and ReadMessageHistory.
	ViewOnly = ViewChannel | ReadMessageHistory
	// AllowInTimeout is ALLOW_IN_TIMEOUT: all that a timed-out member keeps.
	AllowInTimeout = ViewChannel | ReadMessageHistory
	// Default is DEFAULT_PERMISSION: ViewOnly plus sending, inviting, embeds, uploads and voice.
	Default = ViewOnly | SendMessage | InviteOthers | SendEmbeds | UploadFiles |
		Connect | Speak | Listen | Video
	// DefaultServer is DEFAULT_PERMISSION_SERVER: a new server's default_permissions.
	DefaultServer = Default | React | ChangeNickname | ChangeAvatar
	// DefaultDirectMessage is DEFAULT_PERMISSION_DIRECT_MESSAGE: what both sides of a DM get
	// when they may message each other, and what a group's members get when it sets none.
	DefaultDirectMessage = Default | ManageChannel | React | Masquerade
	// DefaultSavedMessages is DEFAULT_PERMISSION_SAVED_MESSAGES: the owner's saved messages.
	DefaultSavedMessages = GrantAllSafe
	// DefaultWebhook is DEFAULT_WEBHOOK_PERMISSIONS: a new webhook's permissions.
	DefaultWebhook = SendMessage | SendEmbeds | Masquerade | React
)

// Has reports whether s holds every bit of p (PermissionValue::has: (s & p) == p), so Has(0)
// is true and Has(ViewChannel|SendMessage) needs both.
func (s Set) Has(p Set) bool { return s&p == p }

// Missing returns the bits of p that s lacks; 0 when s.Has(p).
func (s Set) Missing(p Set) Set { return p &^ s }

// apply applies an override as PermissionValue::apply does: allow first, then deny, so a bit
// both allowed and denied by the same override ends up denied.
func (s Set) apply(allow, deny int64) Set {
	// The model stores overrides as i64; the backend reinterprets them as u64 (as i64 → u64),
	// which is what a Go conversion does too, so bit 63 survives as a negative int64.
	return (s | Set(allow)) &^ Set(deny)
}

var setNames = [...]string{
	0: "ManageChannel", 1: "ManageServer", 2: "ManagePermissions", 3: "ManageRole",
	4: "ManageCustomisation", 6: "KickMembers", 7: "BanMembers", 8: "TimeoutMembers",
	9: "AssignRoles", 10: "ChangeNickname", 11: "ManageNicknames", 12: "ChangeAvatar",
	13: "RemoveAvatars", 20: "ViewChannel", 21: "ReadMessageHistory", 22: "SendMessage",
	23: "ManageMessages", 24: "ManageWebhooks", 25: "InviteOthers", 26: "SendEmbeds",
	27: "UploadFiles", 28: "Masquerade", 29: "React", 30: "Connect", 31: "Speak", 32: "Video",
	33: "MuteMembers", 34: "DeafenMembers", 35: "MoveMembers", 36: "Listen",
	37: "MentionEveryone", 38: "MentionRoles", 39: "BypassSlowmode", 40: "ViewAuditLogs",
}

// String lists the bits by name, lowest first, joined with "|"; bits without a name print as
// "1<<N". It prints "0" for the empty set and "GrantAllSafe" / "GrantAll" for those two sets.
func (s Set) String() string {
	switch s {
	case 0:
		return "0"
	case GrantAllSafe:
		return "GrantAllSafe"
	case GrantAll:
		return "GrantAll"
	}
	return bitString(uint64(s), setNames[:])
}

// UserSet is a set of user permission bits: the backend's UserPermission values, widened to
// u64 as calculate_user_permissions returns them (crates/core/permissions/src/models/user.rs).
type UserSet uint64

// User permission bits, values exactly as UserPermission in
// crates/core/permissions/src/models/user.rs.
const (
	// UserAccess lets a user see that another user exists.
	UserAccess UserSet = 1 << 0
	// UserViewProfile lets a user view another's profile.
	UserViewProfile UserSet = 1 << 1
	// UserSendMessage lets a user message another; it decides a DM's permissions.
	UserSendMessage UserSet = 1 << 2
	// UserInvite lets a user invite another to a server or group.
	UserInvite UserSet = 1 << 3
)

// UserAll is every bit (u64::MAX): what privileged users, the user themself and friends get.
const UserAll UserSet = math.MaxUint64

// Has reports whether u holds every bit of p.
func (u UserSet) Has(p UserSet) bool { return u&p == p }

var userNames = [...]string{"Access", "ViewProfile", "SendMessage", "Invite"}

// String lists the bits by name ("Access|ViewProfile"), "1<<N" for bits without one, "0" for
// the empty set and "UserAll" for every bit.
func (u UserSet) String() string {
	switch u {
	case 0:
		return "0"
	case UserAll:
		return "UserAll"
	}
	return bitString(uint64(u), userNames[:])
}

func bitString(v uint64, names []string) string {
	var b strings.Builder
	for v != 0 {
		i := bits.TrailingZeros64(v)
		v &^= 1 << i
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		if i < len(names) && names[i] != "" {
			b.WriteString(names[i])
		} else {
			b.WriteString("1<<")
			b.WriteString(strconv.Itoa(i))
		}
	}
	return b.String()
}
