package cacheactors

import (
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The apply functions return a new object: cached objects are immutable snapshots. They follow
// the server's own rule (BONFIRE.md §2.0): first reset every field in clear, then replace every
// field present in the partial wholesale.

type shallowCloner[T any] interface{ ShallowClone() T }

func clone[T shallowCloner[T]](m T) T { return m.ShallowClone() }

func applyMessage(m *stoatpb.Message, p *stoatpb.PartialMessage, clear []stoatpb.FieldsMessage) *stoatpb.Message {
	n := clone(m)
	for _, f := range clear {
		if f == stoatpb.FieldsMessage_FIELDS_MESSAGE_PINNED {
			n.Pinned = false
		}
	}
	if p == nil {
		return n
	}
	if p.Content != nil {
		n.Content = *p.Content
	}
	if p.Edited != nil {
		n.Edited = *p.Edited
	}
	if p.Embeds != nil {
		n.Embeds = p.Embeds.GetItems()
	}
	if p.Pinned != nil {
		n.Pinned = *p.Pinned
	}
	if p.Reactions != nil {
		n.Reactions = p.Reactions.GetItems()
	}
	if p.Mentions != nil {
		n.Mentions = p.Mentions.GetItems()
	}
	if p.RoleMentions != nil {
		n.RoleMentions = p.RoleMentions.GetItems()
	}
	if p.Replies != nil {
		n.Replies = p.Replies.GetItems()
	}
	if p.Attachments != nil {
		n.Attachments = p.Attachments.GetItems()
	}
	if p.Interactions != nil {
		n.Interactions = p.Interactions
	}
	if p.Masquerade != nil {
		n.Masquerade = p.Masquerade
	}
	if p.Flags != nil {
		n.Flags = *p.Flags
	}
	if p.System != nil {
		n.System = p.System
	}
	if p.Webhook != nil {
		n.Webhook = p.Webhook
	}
	if p.Nonce != nil {
		n.Nonce = *p.Nonce
	}
	return n
}

func applyChannel(c *stoatpb.Channel, p *stoatpb.PartialChannel, clear []stoatpb.FieldsChannel) *stoatpb.Channel {
	n := clone(c)
	for _, f := range clear {
		switch f {
		case stoatpb.FieldsChannel_FIELDS_CHANNEL_DESCRIPTION:
			n.Description = ""
		case stoatpb.FieldsChannel_FIELDS_CHANNEL_ICON:
			n.Icon = nil
		case stoatpb.FieldsChannel_FIELDS_CHANNEL_DEFAULT_PERMISSIONS:
			n.DefaultPermissions = nil
		case stoatpb.FieldsChannel_FIELDS_CHANNEL_VOICE:
			n.Voice = nil
		case stoatpb.FieldsChannel_FIELDS_CHANNEL_SLOWMODE:
			n.Slowmode = 0
		}
	}
	if p == nil {
		return n
	}
	if p.Name != nil {
		n.Name = *p.Name
	}
	if p.Owner != nil {
		n.Owner = *p.Owner
	}
	if p.Description != nil {
		n.Description = *p.Description
	}
	if p.Icon != nil {
		n.Icon = p.Icon
	}
	if p.Nsfw != nil {
		n.Nsfw = *p.Nsfw
	}
	if p.Active != nil {
		n.Active = *p.Active
	}
	if p.Permissions != nil {
		v := *p.Permissions
		n.Permissions = &v
	}
	if p.RolePermissions != nil {
		n.RolePermissions = p.RolePermissions.GetItems()
	}
	if p.DefaultPermissions != nil {
		n.DefaultPermissions = p.DefaultPermissions
	}
	if p.LastMessageId != nil {
		n.LastMessageId = *p.LastMessageId
	}
	if p.Voice != nil {
		n.Voice = p.Voice
	}
	if p.Slowmode != nil {
		n.Slowmode = *p.Slowmode
	}
	if p.Recipients != nil {
		n.Recipients = p.Recipients.GetItems()
	}
	return n
}

func applyServer(s *stoatpb.Server, p *stoatpb.PartialServer, clear []stoatpb.FieldsServer) *stoatpb.Server {
	n := clone(s)
	for _, f := range clear {
		switch f {
		case stoatpb.FieldsServer_FIELDS_SERVER_DESCRIPTION:
			n.Description = ""
		case stoatpb.FieldsServer_FIELDS_SERVER_CATEGORIES:
			n.Categories = nil
		case stoatpb.FieldsServer_FIELDS_SERVER_SYSTEM_MESSAGES:
			n.SystemMessages = nil
		case stoatpb.FieldsServer_FIELDS_SERVER_ICON:
			n.Icon = nil
		case stoatpb.FieldsServer_FIELDS_SERVER_BANNER:
			n.Banner = nil
		}
	}
	if p == nil {
		return n
	}
	if p.Owner != nil {
		n.Owner = *p.Owner
	}
	if p.Name != nil {
		n.Name = *p.Name
	}
	if p.Description != nil {
		n.Description = *p.Description
	}
	if p.Channels != nil {
		n.Channels = p.Channels.GetItems()
	}
	if p.Categories != nil {
		n.Categories = p.Categories.GetItems()
	}
	if p.SystemMessages != nil {
		n.SystemMessages = p.SystemMessages
	}
	if p.Roles != nil {
		n.Roles = p.Roles.GetItems()
	}
	if p.DefaultPermissions != nil {
		n.DefaultPermissions = *p.DefaultPermissions
	}
	if p.Icon != nil {
		n.Icon = p.Icon
	}
	if p.Banner != nil {
		n.Banner = p.Banner
	}
	if p.Flags != nil {
		n.Flags = *p.Flags
	}
	if p.Nsfw != nil {
		n.Nsfw = *p.Nsfw
	}
	if p.Analytics != nil {
		n.Analytics = *p.Analytics
	}
	if p.Discoverable != nil {
		n.Discoverable = *p.Discoverable
	}
	return n
}

func applyMember(m *stoatpb.Member, p *stoatpb.PartialMember, clear []stoatpb.FieldsMember) *stoatpb.Member {
	n := clone(m)
	for _, f := range clear {
		switch f {
		case stoatpb.FieldsMember_FIELDS_MEMBER_NICKNAME:
			n.Nickname = ""
		case stoatpb.FieldsMember_FIELDS_MEMBER_PRONOUNS:
			n.Pronouns = ""
		case stoatpb.FieldsMember_FIELDS_MEMBER_AVATAR:
			n.Avatar = nil
		case stoatpb.FieldsMember_FIELDS_MEMBER_ROLES:
			n.Roles = nil
		case stoatpb.FieldsMember_FIELDS_MEMBER_TIMEOUT:
			n.Timeout = 0
		case stoatpb.FieldsMember_FIELDS_MEMBER_CAN_RECEIVE:
			n.CanReceive = nil
		case stoatpb.FieldsMember_FIELDS_MEMBER_CAN_PUBLISH:
			n.CanPublish = nil
		}
	}
	if p == nil {
		return n
	}
	if p.Nickname != nil {
		n.Nickname = *p.Nickname
	}
	if p.Pronouns != nil {
		n.Pronouns = *p.Pronouns
	}
	if p.Avatar != nil {
		n.Avatar = p.Avatar
	}
	if p.Roles != nil {
		n.Roles = p.Roles.GetItems()
	}
	if p.Timeout != nil {
		n.Timeout = *p.Timeout
	}
	if p.CanPublish != nil {
		v := *p.CanPublish
		n.CanPublish = &v
	}
	if p.CanReceive != nil {
		v := *p.CanReceive
		n.CanReceive = &v
	}
	if p.JoinedAt != nil {
		n.JoinedAt = *p.JoinedAt
	}
	return n
}

func applyRole(r *stoatpb.Role, p *stoatpb.PartialRole, clear []stoatpb.FieldsRole) *stoatpb.Role {
	n := clone(r)
	for _, f := range clear {
		switch f {
		case stoatpb.FieldsRole_FIELDS_ROLE_COLOUR:
			n.Colour = ""
		case stoatpb.FieldsRole_FIELDS_ROLE_ICON:
			n.Icon = nil
		}
	}
	if p == nil {
		return n
	}
	if p.Name != nil {
		n.Name = *p.Name
	}
	if p.Permissions != nil {
		n.Permissions = p.Permissions
	}
	if p.Colour != nil {
		n.Colour = *p.Colour
	}
	if p.Hoist != nil {
		n.Hoist = *p.Hoist
	}
	if p.Rank != nil {
		n.Rank = *p.Rank
	}
	if p.Icon != nil {
		n.Icon = p.Icon
	}
	return n
}

func applyUser(u *stoatpb.User, p *stoatpb.PartialUser, clear []stoatpb.FieldsUser) *stoatpb.User {
	n := clone(u)
	for _, f := range clear {
		switch f {
		case stoatpb.FieldsUser_FIELDS_USER_AVATAR:
			n.Avatar = nil
		case stoatpb.FieldsUser_FIELDS_USER_STATUS_TEXT:
			if n.Status.GetText() != "" {
				n.Status = status(&stoatpb.UserStatus{Presence: n.Status.Presence})
			}
		case stoatpb.FieldsUser_FIELDS_USER_STATUS_PRESENCE:
			if n.Status.GetPresence() != stoatpb.Presence_PRESENCE_UNSPECIFIED {
				n.Status = status(&stoatpb.UserStatus{Text: n.Status.Text})
			}
		case stoatpb.FieldsUser_FIELDS_USER_PROFILE_CONTENT:
			if n.Profile.GetContent() != "" {
				n.Profile = profile(&stoatpb.UserProfile{Background: n.Profile.Background})
			}
		case stoatpb.FieldsUser_FIELDS_USER_PROFILE_BACKGROUND:
			if n.Profile.GetBackground() != nil {
				n.Profile = profile(&stoatpb.UserProfile{Content: n.Profile.Content})
			}
		case stoatpb.FieldsUser_FIELDS_USER_DISPLAY_NAME:
			n.DisplayName = ""
		case stoatpb.FieldsUser_FIELDS_USER_PRONOUNS:
			n.Pronouns = ""
		}
	}
	if p == nil {
		return n
	}
	if p.Username != nil {
		n.Username = *p.Username
	}
	if p.Discriminator != nil {
		n.Discriminator = *p.Discriminator
	}
	if p.DisplayName != nil {
		n.DisplayName = *p.DisplayName
	}
	if p.Pronouns != nil {
		n.Pronouns = *p.Pronouns
	}
	if p.Avatar != nil {
		n.Avatar = p.Avatar
	}
	if p.Relations != nil {
		n.Relations = p.Relations.GetItems()
	}
	if p.Badges != nil {
		n.Badges = *p.Badges
	}
	if p.Status != nil {
		n.Status = status(p.Status)
	}
	if p.Flags != nil {
		n.Flags = *p.Flags
	}
	if p.Privileged != nil {
		n.Privileged = *p.Privileged
	}
	if p.Bot != nil {
		n.Bot = p.Bot
	}
	if p.Relationship != nil {
		n.Relationship = *p.Relationship
	}
	if p.Online != nil {
		n.Online = *p.Online
	}
	return n
}

func applyVoiceState(s *stoatpb.UserVoiceState, p *stoatpb.PartialUserVoiceState) *stoatpb.UserVoiceState {
	n := clone(s)
	if p == nil {
		return n
	}
	if p.JoinedAt != nil {
		n.JoinedAt = *p.JoinedAt
	}
	if p.IsReceiving != nil {
		n.IsReceiving = *p.IsReceiving
	}
	if p.IsPublishing != nil {
		n.IsPublishing = *p.IsPublishing
	}
	if p.Screensharing != nil {
		n.Screensharing = *p.Screensharing
	}
	if p.Camera != nil {
		n.Camera = *p.Camera
	}
	return n
}

func applyWebhook(w *stoatpb.Webhook, p *stoatpb.PartialWebhook, remove []stoatpb.FieldsWebhook) *stoatpb.Webhook {
	n := clone(w)
	for _, f := range remove {
		if f == stoatpb.FieldsWebhook_FIELDS_WEBHOOK_AVATAR {
			n.Avatar = nil
		}
	}
	if p == nil {
		return n
	}
	if p.Name != nil {
		n.Name = *p.Name
	}
	if p.Avatar != nil {
		n.Avatar = p.Avatar
	}
	if p.Permissions != nil {
		n.Permissions = *p.Permissions
	}
	if p.ChannelId != nil {
		n.ChannelId = *p.ChannelId
	}
	return n
}

// status returns s, or nil when it holds nothing (a user with no status has none).
func status(s *stoatpb.UserStatus) *stoatpb.UserStatus {
	if s.GetText() == "" && s.GetPresence() == stoatpb.Presence_PRESENCE_UNSPECIFIED {
		return nil
	}
	return s
}

// profile returns p, or nil when it holds nothing.
func profile(p *stoatpb.UserProfile) *stoatpb.UserProfile {
	if p.GetContent() == "" && p.GetBackground() == nil {
		return nil
	}
	return p
}
