// Package permissions computes Stoat permissions from model objects, as the Stoat backend does.
//
// The backend is the reference: github.com/stoatchat/stoatchat at commit 99b3ea14 (2026-08-15),
// the same snapshot that the project's protocol notes (BONFIRE.md §3.11) describe. Each
// function's documentation lists its rules in the backend's order and names the file each
// comes from; the files are:
//
//   - crates/core/permissions/src/models/channel.rs: the bits ([Set] constants) and the named
//     sets ([ViewOnly], [Default], [DefaultDirectMessage], [AllowInTimeout], ...).
//   - crates/core/permissions/src/models/user.rs: the user bits ([UserSet] constants).
//   - crates/core/permissions/src/models/mod.rs: how an override applies (allow, then deny),
//     and what Has means (every bit present).
//   - crates/core/permissions/src/impl.rs: the calculations (calculate_server_permissions,
//     calculate_channel_permissions, calculate_user_permissions): [InServer], [InChannel],
//     [ForUser].
//   - crates/core/database/src/util/permissions.rs: what each input of those calculations is
//     made of (role order, timeouts, voice mute/deafen, group and channel defaults, DM peers).
//   - crates/core/database/src/models/server_members/model.rs: Member::in_timeout.
//
// The functions are pure: they read only what is passed in and never touch a cache or the
// network. Everything the backend would fetch from its database (the channel's server, the
// member, the DM peer, whether two users share a server or group) is an argument; where an
// argument is missing the result is what the backend returns when its fetch fails.
//
// Values are the backend's u64 bits unchanged, including bits 53–63: the model stores them as
// int64 and the backend reinterprets them as u64 without masking, so a role whose allow were
// the int64 -1 would grant all 64 bits to its members while the server owner gets
// [GrantAllSafe] (bits 0–51) only. Such values are not expected in practice — the REST routes
// that set overrides (crates/delta/src/routes/*/permissions_set*.rs) only let a user grant
// bits they hold — but a calculation over cached objects must not lose them.
//
// # Gaps
//
// Where the model or the backend leaves the answer open, this package decides as follows:
//
//   - Roles of equal rank: the backend applies them in hash-map order, which is unspecified,
//     so two equal-ranked roles that allow and deny the same bit give either answer. Here they
//     apply in descending role-id order (the smallest id last, so it wins).
//   - Mutual connections (sharing a server or a group) and the DM peer are database queries in
//     the backend; here they are the caller's [Peer].
//   - The backend's bulk path for channel visibility (calculate_members_permissions in
//     crates/core/database/src/util/bulk_permissions.rs) skips the voice mute/deafen rule and
//     the final ViewChannel rule. Neither changes whether ViewChannel is held, so the visible
//     channels are the same; this package follows calculate_channel_permissions throughout.
package permissions
