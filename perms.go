// The permission bits, re-exported from package permissions so that a bot needs one import;
// TestPermissionAliases keeps the list complete.

package ermine

import "github.com/ermine-rt/ermine/permissions"

// Permissions is a set of permission bits (see package permissions; Context.Permissions).
type Permissions = permissions.Set

// The permission bits and named sets, as package permissions names them.
const (
	PermManageChannel       = permissions.ManageChannel
	PermManageServer        = permissions.ManageServer
	PermManagePermissions   = permissions.ManagePermissions
	PermManageRole          = permissions.ManageRole
	PermManageCustomisation = permissions.ManageCustomisation
	PermKickMembers         = permissions.KickMembers
	PermBanMembers          = permissions.BanMembers
	PermTimeoutMembers      = permissions.TimeoutMembers
	PermAssignRoles         = permissions.AssignRoles
	PermChangeNickname      = permissions.ChangeNickname
	PermManageNicknames     = permissions.ManageNicknames
	PermChangeAvatar        = permissions.ChangeAvatar
	PermRemoveAvatars       = permissions.RemoveAvatars
	PermViewChannel         = permissions.ViewChannel
	PermReadMessageHistory  = permissions.ReadMessageHistory
	PermSendMessage         = permissions.SendMessage
	PermManageMessages      = permissions.ManageMessages
	PermManageWebhooks      = permissions.ManageWebhooks
	PermInviteOthers        = permissions.InviteOthers
	PermSendEmbeds          = permissions.SendEmbeds
	PermUploadFiles         = permissions.UploadFiles
	PermMasquerade          = permissions.Masquerade
	PermReact               = permissions.React
	PermConnect             = permissions.Connect
	PermSpeak               = permissions.Speak
	PermVideo               = permissions.Video
	PermMuteMembers         = permissions.MuteMembers
	PermDeafenMembers       = permissions.DeafenMembers
	PermMoveMembers         = permissions.MoveMembers
	PermListen              = permissions.Listen
	PermMentionEveryone     = permissions.MentionEveryone
	PermMentionRoles        = permissions.MentionRoles
	PermBypassSlowmode      = permissions.BypassSlowmode
	PermViewAuditLogs       = permissions.ViewAuditLogs
	PermGrantAllSafe        = permissions.GrantAllSafe
	PermGrantAll            = permissions.GrantAll
)
