package rest

import (
	"context"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Presence is a user's presence option.
type Presence string

// Presences.
const (
	PresenceOnline    Presence = "Online"
	PresenceIdle      Presence = "Idle"
	PresenceFocus     Presence = "Focus"
	PresenceBusy      Presence = "Busy"
	PresenceInvisible Presence = "Invisible"
)

// UserField names a user field that EditSelf removes.
type UserField string

// Removable user fields.
const (
	UserFieldAvatar            UserField = "Avatar"
	UserFieldStatusText        UserField = "StatusText"
	UserFieldStatusPresence    UserField = "StatusPresence"
	UserFieldProfileContent    UserField = "ProfileContent"
	UserFieldProfileBackground UserField = "ProfileBackground"
	UserFieldDisplayName       UserField = "DisplayName"
)

// EditUser is a change to the bot's own user (the API's DataEditUser); nil fields are left as
// they are.
type EditUser struct {
	DisplayName *string `json:"display_name,omitempty"`
	// Avatar is the id of a file uploaded to Autumn.
	Avatar  *string      `json:"avatar,omitempty"`
	Status  *UserStatus  `json:"status,omitempty"`
	Profile *UserProfile `json:"profile,omitempty"`
	Remove  []UserField  `json:"remove,omitempty"`
}

// UserStatus is a user's status text and presence.
type UserStatus struct {
	Text     *string  `json:"text,omitempty"`
	Presence Presence `json:"presence,omitempty"`
}

// UserProfile is a user's profile, applied as a partial.
type UserProfile struct {
	Content *string `json:"content,omitempty"`
	// Background is the id of a file uploaded to Autumn.
	Background *string `json:"background,omitempty"`
}

// FetchUser fetches a user (GET /users/{user}).
func (c *Client) FetchUser(ctx context.Context, user string) (*stoatpb.User, error) {
	u := new(stoatpb.User)
	return u, c.do(ctx, get("/users/{user}", user), model(u))
}

// FetchSelf fetches the bot's own user (GET /users/@me).
func (c *Client) FetchSelf(ctx context.Context) (*stoatpb.User, error) {
	u := new(stoatpb.User)
	return u, c.do(ctx, get("/users/@me"), model(u))
}

// EditSelf edits the bot's own user (PATCH /users/@me) and returns it as edited.
func (c *Client) EditSelf(ctx context.Context, e EditUser) (*stoatpb.User, error) {
	u := new(stoatpb.User)
	return u, c.do(ctx, patch("/users/@me").withBody(e), model(u))
}

// OpenDM opens (or fetches) the direct message channel with a user (GET /users/{user}/dm).
func (c *Client) OpenDM(ctx context.Context, user string) (*stoatpb.Channel, error) {
	ch := new(stoatpb.Channel)
	return ch, c.do(ctx, get("/users/{user}/dm", user), model(ch))
}
