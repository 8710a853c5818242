package bonfire_test

import "time"

// The types below mirror the Bonfire wire shapes as plain Go structs with json tags, the way a
// typical hand-written Go Stoat/Revolt library models them. BenchmarkDecode uses them as the
// encoding/json baseline for bonfire's decoder, so that both sides decode the same bytes into
// typed values of the same shape.
//
// encoding/json cannot decode a frame into the stoatpb structs themselves: protoc-gen-go gives
// them json tags with the proto field names ("id", "joined_at", "message_id"…) rather than the
// wire keys ("_id", "id"…), enums such as "relationship":"Friend" are strings on the wire but
// int32 in Go, timestamps are ISO-8601 strings on the wire but int64 milliseconds in stoatpb,
// maps like a server's "roles" become repeated fields, and the newtype frames (Message) put the
// entity's fields beside "type" rather than under a key. protojson would not help either (it
// expects the enum value names and camelCase/json_name keys, and rejects unknown fields by
// default).
//
// Like a typical library, enums are strings, timestamps are time.Time, optional fields are
// pointers or omitempty, and "absent" versus "set to empty" is not distinguished in lists.

// File is an uploaded file (Autumn).
type File struct {
	ID          string       `json:"_id"`
	Tag         string       `json:"tag"`
	Filename    string       `json:"filename"`
	Metadata    FileMetadata `json:"metadata"`
	ContentType string       `json:"content_type"`
	Size        int64        `json:"size"`
	Deleted     bool         `json:"deleted,omitempty"`
	Reported    bool         `json:"reported,omitempty"`
	MessageID   string       `json:"message_id,omitempty"`
	UserID      string       `json:"user_id,omitempty"`
	ServerID    string       `json:"server_id,omitempty"`
	ObjectID    string       `json:"object_id,omitempty"`
}

// FileMetadata is a file's metadata, tagged by "type" (File, Text, Image, Video, Audio).
type FileMetadata struct {
	Type   string `json:"type"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Thumbhash is a JSON array of byte values (not base64); encoding/json decodes an array into
	// a []byte element by element.
	Thumbhash []byte `json:"thumbhash"`
	Animated  *bool  `json:"animated"`
}

// UserStatus is a user's status text and presence.
type UserStatus struct {
	Text     string `json:"text,omitempty"`
	Presence string `json:"presence,omitempty"`
}

// Relationship is one entry of the own user's relations.
type Relationship struct {
	ID     string `json:"_id"`
	Status string `json:"status"`
}

// BotInformation marks a bot user.
type BotInformation struct {
	Owner string `json:"owner"`
}

// User is a Stoat user.
type User struct {
	ID            string          `json:"_id"`
	Username      string          `json:"username"`
	Discriminator string          `json:"discriminator"`
	DisplayName   string          `json:"display_name,omitempty"`
	Pronouns      string          `json:"pronouns,omitempty"`
	Avatar        *File           `json:"avatar,omitempty"`
	Relations     []Relationship  `json:"relations,omitempty"`
	Badges        uint32          `json:"badges,omitempty"`
	Status        *UserStatus     `json:"status,omitempty"`
	Flags         uint32          `json:"flags,omitempty"`
	Privileged    bool            `json:"privileged,omitempty"`
	Bot           *BotInformation `json:"bot,omitempty"`
	Relationship  string          `json:"relationship"`
	Online        bool            `json:"online"`
}

// MemberID is a member's compound key.
type MemberID struct {
	Server string `json:"server"`
	User   string `json:"user"`
}

// Member is a user's membership of a server.
type Member struct {
	ID         MemberID   `json:"_id"`
	JoinedAt   time.Time  `json:"joined_at"`
	Nickname   string     `json:"nickname,omitempty"`
	Pronouns   string     `json:"pronouns,omitempty"`
	Avatar     *File      `json:"avatar,omitempty"`
	Roles      []string   `json:"roles,omitempty"`
	Timeout    *time.Time `json:"timeout,omitempty"`
	CanPublish *bool      `json:"can_publish,omitempty"`
	CanReceive *bool      `json:"can_receive,omitempty"`
}

// EmbedImage is an image inside a website embed.
type EmbedImage struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   string `json:"size"`
}

// Embed is a message embed, kept minimal (flattened over its "type" variants).
type Embed struct {
	Type        string      `json:"type"`
	URL         string      `json:"url,omitempty"`
	OriginalURL string      `json:"original_url,omitempty"`
	Title       string      `json:"title,omitempty"`
	Description string      `json:"description,omitempty"`
	Image       *EmbedImage `json:"image,omitempty"`
	SiteName    string      `json:"site_name,omitempty"`
	IconURL     string      `json:"icon_url,omitempty"`
	Colour      string      `json:"colour,omitempty"`
	Width       int         `json:"width,omitempty"`
	Height      int         `json:"height,omitempty"`
	Media       *File       `json:"media,omitempty"`
}

// SystemMessage is the content of a system message, flattened over its "type" variants.
type SystemMessage struct {
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	ID      string `json:"id,omitempty"`
	By      string `json:"by,omitempty"`
	Name    string `json:"name,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
}

// MessageWebhook identifies the webhook that sent a message.
type MessageWebhook struct {
	Name   string  `json:"name"`
	Avatar *string `json:"avatar"`
}

// Interactions are the reactions a message offers.
type Interactions struct {
	Reactions         []string `json:"reactions,omitempty"`
	RestrictReactions bool     `json:"restrict_reactions,omitempty"`
}

// Masquerade overrides a message's displayed author.
type Masquerade struct {
	Name   string `json:"name,omitempty"`
	Avatar string `json:"avatar,omitempty"`
	Colour string `json:"colour,omitempty"`
}

// Message is a chat message.
type Message struct {
	ID           string              `json:"_id"`
	Nonce        string              `json:"nonce,omitempty"`
	Channel      string              `json:"channel"`
	Author       string              `json:"author"`
	User         *User               `json:"user,omitempty"`
	Member       *Member             `json:"member,omitempty"`
	Webhook      *MessageWebhook     `json:"webhook,omitempty"`
	Content      string              `json:"content,omitempty"`
	System       *SystemMessage      `json:"system,omitempty"`
	Attachments  []File              `json:"attachments,omitempty"`
	Edited       *time.Time          `json:"edited,omitempty"`
	Embeds       []Embed             `json:"embeds,omitempty"`
	Mentions     []string            `json:"mentions,omitempty"`
	RoleMentions []string            `json:"role_mentions,omitempty"`
	Replies      []string            `json:"replies,omitempty"`
	Reactions    map[string][]string `json:"reactions,omitempty"`
	Interactions *Interactions       `json:"interactions,omitempty"`
	Masquerade   *Masquerade         `json:"masquerade,omitempty"`
	Pinned       bool                `json:"pinned,omitempty"`
	Flags        uint32              `json:"flags,omitempty"`
}

// PartialMessage holds the message fields a MessageUpdate sets.
type PartialMessage struct {
	Content      *string             `json:"content,omitempty"`
	Edited       *time.Time          `json:"edited,omitempty"`
	Embeds       []Embed             `json:"embeds,omitempty"`
	Attachments  []File              `json:"attachments,omitempty"`
	Mentions     []string            `json:"mentions,omitempty"`
	RoleMentions []string            `json:"role_mentions,omitempty"`
	Reactions    map[string][]string `json:"reactions,omitempty"`
	Pinned       *bool               `json:"pinned,omitempty"`
	Flags        *uint32             `json:"flags,omitempty"`
}

// PartialMember holds the member fields a ServerMemberUpdate sets.
type PartialMember struct {
	JoinedAt   *time.Time `json:"joined_at,omitempty"`
	Nickname   *string    `json:"nickname,omitempty"`
	Pronouns   *string    `json:"pronouns,omitempty"`
	Avatar     *File      `json:"avatar,omitempty"`
	Roles      []string   `json:"roles,omitempty"`
	Timeout    *time.Time `json:"timeout,omitempty"`
	CanPublish *bool      `json:"can_publish,omitempty"`
	CanReceive *bool      `json:"can_receive,omitempty"`
}

// PermissionOverride is an allow/deny pair of permission bits.
type PermissionOverride struct {
	Allow int64 `json:"a"`
	Deny  int64 `json:"d"`
}

// Role is a server role.
type Role struct {
	ID          string             `json:"_id,omitempty"`
	Name        string             `json:"name"`
	Permissions PermissionOverride `json:"permissions"`
	Colour      string             `json:"colour,omitempty"`
	Hoist       bool               `json:"hoist,omitempty"`
	Rank        int64              `json:"rank"`
	Icon        *File              `json:"icon,omitempty"`
}

// Category groups a server's channels.
type Category struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Channels []string `json:"channels"`
}

// SystemMessageChannels names the channels that receive system messages.
type SystemMessageChannels struct {
	UserJoined string `json:"user_joined,omitempty"`
	UserLeft   string `json:"user_left,omitempty"`
	UserKicked string `json:"user_kicked,omitempty"`
	UserBanned string `json:"user_banned,omitempty"`
}

// Server is a Stoat server.
type Server struct {
	ID                     string                 `json:"_id"`
	Owner                  string                 `json:"owner"`
	Name                   string                 `json:"name"`
	Description            string                 `json:"description,omitempty"`
	Channels               []string               `json:"channels"`
	Categories             []Category             `json:"categories,omitempty"`
	SystemMessages         *SystemMessageChannels `json:"system_messages,omitempty"`
	Roles                  map[string]Role        `json:"roles,omitempty"`
	DefaultPermissions     int64                  `json:"default_permissions"`
	Icon                   *File                  `json:"icon,omitempty"`
	Banner                 *File                  `json:"banner,omitempty"`
	Flags                  uint32                 `json:"flags,omitempty"`
	NSFW                   bool                   `json:"nsfw,omitempty"`
	Analytics              bool                   `json:"analytics,omitempty"`
	Discoverable           bool                   `json:"discoverable,omitempty"`
	ApproximateMemberCount uint64                 `json:"approximate_member_count,omitempty"`
}

// VoiceInformation marks a channel as voice-capable.
type VoiceInformation struct {
	MaxUsers *uint64 `json:"max_users,omitempty"`
}

// Channel is any channel, flattened over its "channel_type" variants.
type Channel struct {
	ChannelType        string                        `json:"channel_type"`
	ID                 string                        `json:"_id"`
	User               string                        `json:"user,omitempty"`
	Active             bool                          `json:"active,omitempty"`
	Recipients         []string                      `json:"recipients,omitempty"`
	LastMessageID      string                        `json:"last_message_id,omitempty"`
	Name               string                        `json:"name,omitempty"`
	Owner              string                        `json:"owner,omitempty"`
	Description        string                        `json:"description,omitempty"`
	Icon               *File                         `json:"icon,omitempty"`
	Permissions        *int64                        `json:"permissions,omitempty"`
	NSFW               bool                          `json:"nsfw,omitempty"`
	Server             string                        `json:"server,omitempty"`
	DefaultPermissions *PermissionOverride           `json:"default_permissions,omitempty"`
	RolePermissions    map[string]PermissionOverride `json:"role_permissions,omitempty"`
	Voice              *VoiceInformation             `json:"voice,omitempty"`
	Slowmode           uint64                        `json:"slowmode,omitempty"`
}

// EmojiParent is what an emoji belongs to.
type EmojiParent struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Emoji is a custom emoji.
type Emoji struct {
	ID        string      `json:"_id"`
	Parent    EmojiParent `json:"parent"`
	CreatorID string      `json:"creator_id"`
	Name      string      `json:"name"`
	Animated  bool        `json:"animated,omitempty"`
	NSFW      bool        `json:"nsfw,omitempty"`
}

// MessageFrame is a "Message" frame: the message's fields beside "type".
type MessageFrame struct {
	Type string `json:"type"`
	Message
}

// MessageUpdateFrame is a "MessageUpdate" frame.
type MessageUpdateFrame struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Channel string         `json:"channel"`
	Data    PartialMessage `json:"data"`
	Clear   []string       `json:"clear"`
}

// ServerMemberUpdateFrame is a "ServerMemberUpdate" frame.
type ServerMemberUpdateFrame struct {
	Type  string        `json:"type"`
	ID    MemberID      `json:"id"`
	Data  PartialMember `json:"data"`
	Clear []string      `json:"clear"`
}

// ReadyFrame is a "Ready" frame (the parts a bot receives by default).
type ReadyFrame struct {
	Type     string    `json:"type"`
	Users    []User    `json:"users,omitempty"`
	Servers  []Server  `json:"servers,omitempty"`
	Channels []Channel `json:"channels,omitempty"`
	Members  []Member  `json:"members,omitempty"`
	Emojis   []Emoji   `json:"emojis,omitempty"`
}
