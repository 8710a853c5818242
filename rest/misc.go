package rest

import (
	"context"
	"encoding/json"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// CreateEmoji is a new custom emoji of a server.
type CreateEmoji struct {
	// Name is 1 to 32 of a-z, 0-9 and _.
	Name string
	// Server is the server the emoji belongs to.
	Server string
	NSFW   bool
}

// InviteInfo is what anyone can see of an invite (the API's InviteResponse).
type InviteInfo struct {
	// Type is "Server" or "Group"; the Server* fields and MemberCount are set for servers.
	Type         string
	Code         string
	ServerID     string
	ServerName   string
	ServerIcon   *stoatpb.File
	ServerBanner *stoatpb.File
	ServerFlags  uint32
	ChannelID    string
	ChannelName  string
	// ChannelDescription is the channel's description, if any.
	ChannelDescription string
	// UserName and UserAvatar are the invite creator's.
	UserName    string
	UserAvatar  *stoatpb.File
	MemberCount int64
}

// UnmarshalJSON reads the API's InviteResponse.
func (i *InviteInfo) UnmarshalJSON(data []byte) error {
	var w struct {
		Type               string          `json:"type"`
		Code               string          `json:"code"`
		ServerID           string          `json:"server_id"`
		ServerName         string          `json:"server_name"`
		ServerIcon         json.RawMessage `json:"server_icon"`
		ServerBanner       json.RawMessage `json:"server_banner"`
		ServerFlags        uint32          `json:"server_flags"`
		ChannelID          string          `json:"channel_id"`
		ChannelName        string          `json:"channel_name"`
		ChannelDescription string          `json:"channel_description"`
		UserName           string          `json:"user_name"`
		UserAvatar         json.RawMessage `json:"user_avatar"`
		MemberCount        int64           `json:"member_count"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*i = InviteInfo{Type: w.Type, Code: w.Code, ServerID: w.ServerID, ServerName: w.ServerName,
		ServerFlags: w.ServerFlags, ChannelID: w.ChannelID, ChannelName: w.ChannelName,
		ChannelDescription: w.ChannelDescription, UserName: w.UserName, MemberCount: w.MemberCount}
	var err error
	if i.ServerIcon, err = modelValue[stoatpb.File](w.ServerIcon); err != nil {
		return err
	}
	if i.ServerBanner, err = modelValue[stoatpb.File](w.ServerBanner); err != nil {
		return err
	}
	i.UserAvatar, err = modelValue[stoatpb.File](w.UserAvatar)
	return err
}

// FetchEmoji fetches a custom emoji (GET /custom/emoji/{emoji}).
func (c *Client) FetchEmoji(ctx context.Context, emoji string) (*stoatpb.Emoji, error) {
	e := new(stoatpb.Emoji)
	return e, c.do(ctx, get("/custom/emoji/{emoji}", emoji), model(e))
}

// CreateEmoji makes a custom emoji of a server from an image uploaded to Autumn (its file id
// becomes the emoji's id) (PUT /custom/emoji/{file}).
func (c *Client) CreateEmoji(ctx context.Context, file string, e CreateEmoji) (*stoatpb.Emoji, error) {
	type parent struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	body := struct {
		Name   string `json:"name"`
		Parent parent `json:"parent"`
		NSFW   bool   `json:"nsfw"`
	}{e.Name, parent{"Server", e.Server}, e.NSFW}
	out := new(stoatpb.Emoji)
	return out, c.do(ctx, put("/custom/emoji/{file}", file).withBody(body), model(out))
}

// DeleteEmoji deletes a custom emoji (DELETE /custom/emoji/{emoji}).
func (c *Client) DeleteEmoji(ctx context.Context, emoji string) error {
	return c.do(ctx, del("/custom/emoji/{emoji}", emoji), nil)
}

// FetchInvite fetches what an invite leads to (GET /invites/{code}).
func (c *Client) FetchInvite(ctx context.Context, code string) (*InviteInfo, error) {
	inv := new(InviteInfo)
	return inv, c.do(ctx, get("/invites/{code}", code), func(b []byte) error { return json.Unmarshal(b, inv) })
}

// DeleteInvite deletes an invite (DELETE /invites/{code}).
func (c *Client) DeleteInvite(ctx context.Context, code string) error {
	return c.do(ctx, del("/invites/{code}", code), nil)
}

// ExecuteWebhook sends a message as a webhook, authenticated by the webhook's token rather
// than the client's (POST /webhooks/{webhook}/{token}). The token never appears in errors or
// logs. The send is retried like SendMessage.
func (c *Client) ExecuteWebhook(ctx context.Context, webhook, token string, m SendMessage) (*stoatpb.Message, error) {
	k := c.sendCall("/webhooks/{webhook}/{token}", m, webhook, token)
	k.secret, k.noAuth = "token", true
	msg := new(stoatpb.Message)
	return msg, c.do(ctx, k, model(msg))
}

// CreateWebhook creates a webhook in a channel (POST /channels/{channel}/webhooks); avatar is
// an optional Autumn file id. The answer carries the webhook's token.
func (c *Client) CreateWebhook(ctx context.Context, channel, name, avatar string) (*stoatpb.Webhook, error) {
	body := struct {
		Name   string `json:"name"`
		Avatar string `json:"avatar,omitempty"`
	}{name, avatar}
	w := new(stoatpb.Webhook)
	return w, c.do(ctx, post("/channels/{channel}/webhooks", channel).withBody(body), model(w))
}

// FetchWebhooks fetches a channel's webhooks (GET /channels/{channel}/webhooks).
func (c *Client) FetchWebhooks(ctx context.Context, channel string) ([]*stoatpb.Webhook, error) {
	var out []*stoatpb.Webhook
	err := c.do(ctx, get("/channels/{channel}/webhooks", channel), func(data []byte) error {
		var err error
		out, err = modelList[stoatpb.Webhook](data)
		return err
	})
	return out, err
}

// FetchWebhook fetches a webhook (GET /webhooks/{webhook}).
func (c *Client) FetchWebhook(ctx context.Context, webhook string) (*stoatpb.Webhook, error) {
	w := new(stoatpb.Webhook)
	return w, c.do(ctx, get("/webhooks/{webhook}", webhook), model(w))
}

// DeleteWebhook deletes a webhook (DELETE /webhooks/{webhook}).
func (c *Client) DeleteWebhook(ctx context.Context, webhook string) error {
	return c.do(ctx, del("/webhooks/{webhook}", webhook), nil)
}
