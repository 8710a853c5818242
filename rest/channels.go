package rest

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ChannelField names a channel field that EditChannel removes.
type ChannelField string

// Removable channel fields.
const (
	ChannelFieldDescription        ChannelField = "Description"
	ChannelFieldIcon               ChannelField = "Icon"
	ChannelFieldDefaultPermissions ChannelField = "DefaultPermissions"
	ChannelFieldVoice              ChannelField = "Voice"
)

// EditChannel is a change to a channel (the API's DataEditChannel); nil fields are left as
// they are.
type EditChannel struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	// Owner gives a group to another of its members.
	Owner *string `json:"owner,omitempty"`
	// Icon is the id of a file uploaded to Autumn.
	Icon     *string           `json:"icon,omitempty"`
	NSFW     *bool             `json:"nsfw,omitempty"`
	Archived *bool             `json:"archived,omitempty"`
	Voice    *VoiceInformation `json:"voice,omitempty"`
	Remove   []ChannelField    `json:"remove,omitempty"`
}

// VoiceInformation makes a channel voice-capable.
type VoiceInformation struct {
	// MaxUsers bounds the participants (0: no bound).
	MaxUsers int `json:"max_users,omitempty"`
}

// CreateChannel is a new server channel (the API's DataCreateServerChannel).
type CreateChannel struct {
	// Type is "Text" (the default) or "Voice".
	Type        string            `json:"type,omitempty"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	NSFW        bool              `json:"nsfw,omitempty"`
	Voice       *VoiceInformation `json:"voice,omitempty"`
}

// Override is a permission override: bits allowed and bits denied.
type Override struct {
	Allow uint64 `json:"allow"`
	Deny  uint64 `json:"deny"`
}

// Invite is an invite as created (the API's Invite).
type Invite struct {
	// Type is "Server" or "Group".
	Type string `json:"type"`
	// Code is the invite code (the object's _id).
	Code    string `json:"_id"`
	Server  string `json:"server,omitempty"`
	Creator string `json:"creator"`
	Channel string `json:"channel"`
}

// FetchChannel fetches a channel (GET /channels/{channel}).
func (c *Client) FetchChannel(ctx context.Context, channel string) (*stoatpb.Channel, error) {
	ch := new(stoatpb.Channel)
	return ch, c.do(ctx, get("/channels/{channel}", channel), model(ch))
}

// EditChannel edits a channel (PATCH /channels/{channel}) and returns it as edited.
func (c *Client) EditChannel(ctx context.Context, channel string, e EditChannel) (*stoatpb.Channel, error) {
	ch := new(stoatpb.Channel)
	return ch, c.do(ctx, patch("/channels/{channel}", channel).withBody(e), model(ch))
}

// DeleteChannel deletes a server channel, closes a DM, or leaves a group (DELETE
// /channels/{channel}).
func (c *Client) DeleteChannel(ctx context.Context, channel string) error {
	return c.do(ctx, del("/channels/{channel}", channel), nil)
}

// LeaveGroup leaves a group channel, without the "user left" system message if silently
// (DELETE /channels/{channel}?leave_silently=…).
func (c *Client) LeaveGroup(ctx context.Context, channel string, silently bool) error {
	q := url.Values{}
	if silently {
		q.Set("leave_silently", "true")
	}
	return c.do(ctx, del("/channels/{channel}", channel).withQuery(q), nil)
}

// CreateChannel creates a channel in a server (POST /servers/{server}/channels).
func (c *Client) CreateChannel(ctx context.Context, server string, ch CreateChannel) (*stoatpb.Channel, error) {
	out := new(stoatpb.Channel)
	return out, c.do(ctx, post("/servers/{server}/channels", server).withBody(ch), model(out))
}

// SetChannelRolePermissions sets a role's permission override in a server channel (PUT
// /channels/{channel}/permissions/{role}) and returns the channel.
func (c *Client) SetChannelRolePermissions(ctx context.Context, channel, role string, o Override) (*stoatpb.Channel, error) {
	ch := new(stoatpb.Channel)
	k := put("/channels/{channel}/permissions/{role}", channel, role).withBody(map[string]Override{"permissions": o})
	return ch, c.do(ctx, k, model(ch))
}

// SetChannelDefaultPermissions sets the override of @everyone in a server channel (PUT
// /channels/{channel}/permissions/default) and returns the channel.
func (c *Client) SetChannelDefaultPermissions(ctx context.Context, channel string, o Override) (*stoatpb.Channel, error) {
	ch := new(stoatpb.Channel)
	k := put("/channels/{channel}/permissions/default", channel).withBody(map[string]Override{"permissions": o})
	return ch, c.do(ctx, k, model(ch))
}

// CreateInvite creates an invite to a channel (POST /channels/{channel}/invites).
func (c *Client) CreateInvite(ctx context.Context, channel string) (*Invite, error) {
	inv := new(Invite)
	return inv, c.do(ctx, post("/channels/{channel}/invites", channel), func(b []byte) error {
		return json.Unmarshal(b, inv)
	})
}
