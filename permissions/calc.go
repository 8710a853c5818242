package permissions

import (
	"cmp"
	"slices"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Subject is the user whose permissions are computed: the backend's "perspective" user
// (DatabasePermissionQuery::perspective in crates/core/database/src/util/permissions.rs).
type Subject struct {
	// ID is the user's id. An empty ID never matches an owner, a recipient or a member.
	ID string
	// Privileged is User.privileged (platform staff): GrantAllSafe everywhere, UserAll
	// towards every user (are_we_privileged, checked first by every calculation in
	// crates/core/permissions/src/impl.rs).
	Privileged bool
	// Bot is whether the user is a bot (User.bot present); it matters only for DMs
	// (are_we_a_bot in calculate_user_permissions).
	Bot bool
}

// SubjectOf returns the Subject for a user object; nil gives the zero Subject.
func SubjectOf(u *stoatpb.User) Subject {
	return Subject{ID: u.GetId(), Privileged: u.GetPrivileged(), Bot: u.GetBot() != nil}
}

// Peer is the other user of a user calculation, and of a DM.
type Peer struct {
	// User is the other user; nil when unknown, which the backend treats as a failed fetch: no
	// relationship, no bot, no mutual connection.
	User *stoatpb.User
	// Relationship is the subject's relationship with User, as the subject's own
	// User.relations list records it (see [RelationshipOf]). When the subject is the
	// connected user, the peer's cached User.relationship is that value, except for bot peers,
	// whose relationship is always sent as NONE (crates/core/database/src/util/bridge/v0.rs).
	Relationship stoatpb.RelationshipStatus
	// Mutual is whether the subject and User share a server or a group
	// (User::has_mutual_connection, crates/core/database/src/models/users/model.rs).
	Mutual bool
}

// RelationshipOf returns who's relationship with other from who.relations, as user_relationship
// in crates/core/database/src/util/permissions.rs: USER for oneself and for a bot that who
// owns, the relations entry for other otherwise, NONE when there is none or a user is nil.
func RelationshipOf(who, other *stoatpb.User) stoatpb.RelationshipStatus {
	if who == nil || other == nil {
		return stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
	}
	if sameID(who.GetId(), other.GetId()) || ownsBot(who.GetId(), other) {
		return stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	}
	for _, r := range who.GetRelations() {
		if r.GetId() == other.GetId() {
			return r.GetStatus()
		}
	}
	return stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE
}

// ForUser returns who's permissions towards another user (calculate_user_permissions,
// crates/core/permissions/src/impl.rs). In order, the first rule that applies decides:
//
//  1. a privileged subject, or the subject itself: UserAll;
//  2. Relationship FRIEND: UserAll; BLOCKED or BLOCKED_OTHER: UserAccess only;
//  3. a mutual connection (Peer.Mutual): UserAccess|UserViewProfile, plus UserSendMessage when
//     either side is a bot;
//  4. otherwise INCOMING or OUTGOING: UserAccess; anything else: 0.
//
// A bot owned by the subject counts as relationship USER whatever Peer.Relationship says
// (user_relationship in crates/core/database/src/util/permissions.rs), which grants nothing by
// itself: rule 3 or 4 then decides.
func ForUser(who Subject, p Peer) UserSet {
	if who.Privileged {
		return UserAll
	}
	if p.User == nil {
		// The backend's query has no user: not the same, relationship None, no mutual.
		return 0
	}
	if sameID(who.ID, p.User.GetId()) {
		return UserAll
	}
	rel := p.Relationship
	if ownsBot(who.ID, p.User) {
		rel = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
	}
	var perms UserSet
	switch rel {
	case stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_FRIEND:
		return UserAll
	case stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED,
		stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_BLOCKED_OTHER:
		return UserAccess
	case stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_INCOMING,
		stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_OUTGOING:
		perms = UserAccess
	}
	if p.Mutual {
		// Replaces (not adds to) the pending-request Access, which it includes anyway.
		perms = UserAccess | UserViewProfile
		if p.User.GetBot() != nil || who.Bot {
			perms |= UserSendMessage
		}
	}
	return perms
}

// InServer returns a member's server-wide permissions (calculate_server_permissions,
// crates/core/permissions/src/impl.rs); member may be nil for a user who is not a member.
// In order:
//
//  1. a privileged subject, or the server's owner (Server.owner): GrantAllSafe, even without
//     a member object and even if timed out;
//  2. not a member (member nil, or a member of another server or user): 0;
//  3. start from Server.default_permissions;
//  4. apply the overrides of the member's roles (allow, then deny), lowest-ranked first:
//     highest Role.rank number first, rank 0 last, so the best-ranked role wins a conflict;
//     member roles the server does not define are ignored;
//  5. Member.can_publish false (server-muted): remove Speak and Video;
//     Member.can_receive false (server-deafened): remove Listen;
//  6. timed out (Member.timeout after now): keep only AllowInTimeout.
//
// Roles of equal rank are applied in a fixed order; see "Gaps" in the package documentation.
func InServer(server *stoatpb.Server, member *stoatpb.Member, who Subject, now time.Time) Set {
	if who.Privileged || sameID(who.ID, server.GetOwner()) {
		return GrantAllSafe
	}
	if server == nil || !isMember(server, member, who) {
		return 0
	}
	perms := Set(server.GetDefaultPermissions())
	for _, r := range heldRoles(server, member) {
		perms = perms.apply(r.GetPermissions().GetA(), r.GetPermissions().GetD())
	}
	return memberLimits(perms, member, now)
}

// Scope is what a channel calculation reads besides the channel and the subject.
type Scope struct {
	// Server is the channel's server (server channels only).
	Server *stoatpb.Server
	// Member is the subject's membership of Server; nil when not a member.
	Member *stoatpb.Member
	// Now is the time against which Member.timeout is compared.
	Now time.Time
	// Peer is the other recipient of a DM.
	Peer Peer
}

// InChannel returns who's permissions in a channel of any type
// (calculate_channel_permissions, crates/core/permissions/src/impl.rs): a privileged subject
// gets GrantAllSafe in every channel, then the channel's type decides, see [InSavedMessages],
// [InDirectMessage], [InGroup] and [InServerChannel]. The legacy VoiceChannel type is a server
// channel (the backend migrated it into TextChannel, see [InServerChannel]); a nil channel or
// an unknown type gives 0.
func InChannel(ch *stoatpb.Channel, who Subject, sc Scope) Set {
	if who.Privileged {
		return GrantAllSafe
	}
	switch ch.GetChannelType() {
	case stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES:
		return InSavedMessages(ch, who)
	case stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE:
		return InDirectMessage(ch, who, sc.Peer)
	case stoatpb.ChannelType_CHANNEL_TYPE_GROUP:
		return InGroup(ch, who)
	case stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, stoatpb.ChannelType_CHANNEL_TYPE_VOICE_CHANNEL:
		return InServerChannel(ch, sc.Server, sc.Member, who, sc.Now)
	}
	return 0
}

// InSavedMessages returns who's permissions in a saved-messages channel: DefaultSavedMessages
// (GrantAllSafe) for its owner (Channel.user), 0 for anyone else (the SavedMessages arm of
// calculate_channel_permissions; do_we_own_the_channel in
// crates/core/database/src/util/permissions.rs).
func InSavedMessages(ch *stoatpb.Channel, who Subject) Set {
	if who.Privileged {
		return GrantAllSafe
	}
	if sameID(who.ID, ch.GetUser()) {
		return DefaultSavedMessages
	}
	return 0
}

// InDirectMessage returns who's permissions in a DM (the DirectMessage arm of
// calculate_channel_permissions): 0 unless who is one of Channel.recipients; then
// DefaultDirectMessage if [ForUser](who, peer) has UserSendMessage, ViewOnly otherwise.
//
// peer must describe the other recipient (set_recipient_as_user in
// crates/core/database/src/util/permissions.rs); a peer whose user is nil or is not the other
// recipient counts as unknown, as when the backend fails to fetch it, which gives ViewOnly.
func InDirectMessage(ch *stoatpb.Channel, who Subject, peer Peer) Set {
	if who.Privileged {
		return GrantAllSafe
	}
	if !slices.ContainsFunc(ch.GetRecipients(), func(id string) bool { return sameID(who.ID, id) }) {
		return 0
	}
	other := ""
	for _, id := range ch.GetRecipients() {
		if id != who.ID {
			other = id
			break
		}
	}
	if peer.User == nil || other == "" || peer.User.GetId() != other {
		peer = Peer{}
	}
	if ForUser(who, peer).Has(UserSendMessage) {
		return DefaultDirectMessage
	}
	return ViewOnly
}

// InGroup returns who's permissions in a group (the Group arm of
// calculate_channel_permissions): GrantAllSafe for its owner (Channel.owner, recipient or not);
// for another recipient ViewOnly together with Channel.permissions, or with
// DefaultDirectMessage when the group sets none (get_default_channel_permissions in
// crates/core/database/src/util/permissions.rs); 0 for anyone else. The group's bits are
// only added: a group cannot take ViewOnly away.
func InGroup(ch *stoatpb.Channel, who Subject) Set {
	if who.Privileged {
		return GrantAllSafe
	}
	if sameID(who.ID, ch.GetOwner()) {
		return GrantAllSafe
	}
	if !slices.ContainsFunc(ch.GetRecipients(), func(id string) bool { return sameID(who.ID, id) }) {
		return 0
	}
	allow := DefaultDirectMessage
	if ch.Permissions != nil {
		allow = Set(ch.GetPermissions())
	}
	return ViewOnly | allow
}

// InServerChannel returns a member's permissions in a server channel (the ServerChannel arm of
// calculate_channel_permissions, crates/core/permissions/src/impl.rs, in its order since
// stoatchat commit 9ab2ae92, 2026-08-09). server must be the channel's server (Channel.server);
// nil or another server gives 0, as does a member that is nil or not of this server and
// subject. In order:
//
//  1. a privileged subject, or the server's owner: GrantAllSafe;
//  2. not a member: 0;
//  3. start from Server.default_permissions;
//  4. apply the channel's default_permissions override (allow, then deny) — before the roles,
//     so a server role's allow undoes a channel default's deny;
//  5. apply the member's server role overrides, lowest-ranked first, as in [InServer];
//  6. apply the channel's role_permissions overrides for the member's roles, in the same
//     order (by the role's rank in the server; overrides of roles the server no longer
//     defines are ignored);
//  7. can_publish false: remove Speak and Video; can_receive false: remove Listen;
//  8. timed out: keep only AllowInTimeout;
//  9. without ViewChannel: 0 (a timed-out member thus keeps ViewOnly only where they could
//     see the channel).
//
// The legacy VoiceChannel type (BONFIRE.md §3.3: "Treat it as a `TextChannel`") is computed the
// same way; the backend's Channel has no VoiceChannel since commit d567155f (voice chats v2).
func InServerChannel(ch *stoatpb.Channel, server *stoatpb.Server, member *stoatpb.Member, who Subject, now time.Time) Set {
	if who.Privileged {
		return GrantAllSafe
	}
	if ch == nil || server == nil || (ch.GetServer() != "" && server.GetId() != "" && ch.GetServer() != server.GetId()) {
		// set_server_from_channel would load the channel's server; we were not given it.
		return 0
	}
	if sameID(who.ID, server.GetOwner()) {
		return GrantAllSafe
	}
	if !isMember(server, member, who) {
		return 0
	}
	perms := Set(server.GetDefaultPermissions())
	if d := ch.GetDefaultPermissions(); d != nil {
		perms = perms.apply(d.GetA(), d.GetD())
	}
	roles := heldRoles(server, member)
	for _, r := range roles {
		perms = perms.apply(r.GetPermissions().GetA(), r.GetPermissions().GetD())
	}
	// Channel overrides of held roles, in the held roles' order (rank, then id).
	for _, r := range roles {
		for _, o := range ch.GetRolePermissions() {
			if o.GetRoleId() == r.GetId() {
				perms = perms.apply(o.GetA(), o.GetD())
				break
			}
		}
	}
	perms = memberLimits(perms, member, now)
	if !perms.Has(ViewChannel) {
		return 0
	}
	return perms
}

// memberLimits applies the member-level limits shared by server and channel calculations:
// voice mute and deafen, then the timeout.
func memberLimits(perms Set, member *stoatpb.Member, now time.Time) Set {
	// Absent can_publish / can_receive mean true (do_we_have_publish_overwrites,
	// do_we_have_receive_overwrites in crates/core/database/src/util/permissions.rs).
	if member.CanPublish != nil && !member.GetCanPublish() {
		perms &^= Speak | Video
	}
	if member.CanReceive != nil && !member.GetCanReceive() {
		perms &^= Listen
	}
	if InTimeout(member, now) {
		perms &= AllowInTimeout
	}
	return perms
}

// InTimeout reports whether member is timed out at now: Member.timeout (milliseconds since the
// Unix epoch, 0 for none) is strictly after now (Member::in_timeout,
// crates/core/database/src/models/server_members/model.rs). A nil member is not timed out.
func InTimeout(member *stoatpb.Member, now time.Time) bool {
	t := member.GetTimeout()
	return t != 0 && time.UnixMilli(t).After(now)
}

// isMember reports whether member is who's membership of server. Ids are compared only when
// both sides carry one, so that objects built without ids still work.
func isMember(server *stoatpb.Server, member *stoatpb.Member, who Subject) bool {
	if member == nil {
		return false
	}
	id := member.GetId()
	if s := id.GetServer(); s != "" && server.GetId() != "" && s != server.GetId() {
		return false
	}
	if u := id.GetUser(); u != "" && who.ID != "" && u != who.ID {
		return false
	}
	return true
}

// heldRoles returns the server's roles that member holds, in the order their overrides apply:
// rank descending, so that rank 0 (the best) is applied last and wins
// (get_our_server_role_overrides sorts by b.rank.cmp(a.rank) in
// crates/core/database/src/util/permissions.rs). The backend breaks ties by hash-map order,
// which is unspecified; we break them by role id, descending, for a fixed answer.
func heldRoles(server *stoatpb.Server, member *stoatpb.Member) []*stoatpb.Role {
	held := member.GetRoles()
	var roles []*stoatpb.Role
	for _, r := range server.GetRoles() {
		if slices.Contains(held, r.GetId()) {
			roles = append(roles, r)
		}
	}
	slices.SortStableFunc(roles, func(a, b *stoatpb.Role) int {
		if c := cmp.Compare(b.GetRank(), a.GetRank()); c != 0 {
			return c
		}
		return cmp.Compare(b.GetId(), a.GetId())
	})
	return roles
}

// sameID compares ids, never matching an empty one: a zero Subject must not pass for the
// owner of an object whose owner field is unset.
func sameID(a, b string) bool { return a != "" && a == b }

// ownsBot reports whether other is a bot owned by the user with id owner.
func ownsBot(owner string, other *stoatpb.User) bool {
	return other.GetBot() != nil && sameID(owner, other.GetBot().GetOwner())
}
