package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"time"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ServerField names a server field that EditServer removes.
type ServerField string

// Removable server fields.
const (
	ServerFieldDescription    ServerField = "Description"
	ServerFieldCategories     ServerField = "Categories"
	ServerFieldSystemMessages ServerField = "SystemMessages"
	ServerFieldIcon           ServerField = "Icon"
	ServerFieldBanner         ServerField = "Banner"
)

// EditServer is a change to a server (the API's DataEditServer); nil fields are left as they
// are.
type EditServer struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	// Icon and Banner are ids of files uploaded to Autumn.
	Icon   *string `json:"icon,omitempty"`
	Banner *string `json:"banner,omitempty"`
	// Categories replaces the categories: nil leaves them, an empty non-nil slice empties them.
	Categories     []Category      `json:"categories,omitzero"`
	SystemMessages *SystemMessages `json:"system_messages,omitempty"`
	Discoverable   *bool           `json:"discoverable,omitempty"`
	Analytics      *bool           `json:"analytics,omitempty"`
	Remove         []ServerField   `json:"remove,omitempty"`
}

// Category is a server's channel category.
type Category struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Channels []string `json:"channels"`
}

// MarshalJSON sends an empty channel list as [] (the API requires the list).
func (c Category) MarshalJSON() ([]byte, error) {
	type plain Category
	if c.Channels == nil {
		c.Channels = []string{}
	}
	return json.Marshal(plain(c))
}

// SystemMessages names the channels that receive system messages ("" for none).
type SystemMessages struct {
	UserJoined string `json:"user_joined,omitempty"`
	UserLeft   string `json:"user_left,omitempty"`
	UserKicked string `json:"user_kicked,omitempty"`
	UserBanned string `json:"user_banned,omitempty"`
}

// MemberField names a member field that EditMember removes.
type MemberField string

// Removable member fields.
const (
	MemberFieldNickname   MemberField = "Nickname"
	MemberFieldAvatar     MemberField = "Avatar"
	MemberFieldRoles      MemberField = "Roles"
	MemberFieldTimeout    MemberField = "Timeout"
	MemberFieldCanReceive MemberField = "CanReceive"
	MemberFieldCanPublish MemberField = "CanPublish"
	MemberFieldJoinedAt   MemberField = "JoinedAt"
)

// EditMember is a change to a member (the API's DataMemberEdit); nil fields are left as they
// are.
type EditMember struct {
	Nickname *string `json:"nickname,omitempty"`
	// Avatar is the id of a file uploaded to Autumn.
	Avatar *string `json:"avatar,omitempty"`
	// Roles replaces the member's roles (nil leaves them; remove them with MemberFieldRoles).
	Roles []string `json:"roles,omitzero"`
	// Timeout times the member out until then.
	Timeout *time.Time `json:"timeout,omitempty"`
	// CanPublish and CanReceive are the server-wide voice mute and deafen (false mutes).
	CanPublish *bool `json:"can_publish,omitempty"`
	CanReceive *bool `json:"can_receive,omitempty"`
	// VoiceChannel moves the member, if in a voice channel, to this one.
	VoiceChannel *string       `json:"voice_channel,omitempty"`
	Remove       []MemberField `json:"remove,omitempty"`
}

// RoleField names a role field that EditRole removes.
type RoleField string

// RoleFieldColour removes a role's colour.
const RoleFieldColour RoleField = "Colour"

// EditRole is a change to a role (the API's DataEditRole); nil fields are left as they are.
// Ranks are changed with SetRoleRanks.
type EditRole struct {
	Name   *string     `json:"name,omitempty"`
	Colour *string     `json:"colour,omitempty"` // a CSS colour
	Hoist  *bool       `json:"hoist,omitempty"`
	Remove []RoleField `json:"remove,omitempty"`
}

// Members is a server's member list: the members and their users.
type Members struct {
	Members []*stoatpb.Member
	Users   []*stoatpb.User
}

// Ban is a server ban (the API's ServerBan).
type Ban struct {
	Server, User string
	Reason       string
}

// UnmarshalJSON reads {"_id": {"server", "user"}, "reason"}.
func (b *Ban) UnmarshalJSON(data []byte) error {
	var w struct {
		ID struct {
			Server string `json:"server"`
			User   string `json:"user"`
		} `json:"_id"`
		Reason *string `json:"reason"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*b = Ban{Server: w.ID.Server, User: w.ID.User}
	if w.Reason != nil {
		b.Reason = *w.Reason
	}
	return nil
}

// Bans is a server's ban list: the bans and the banned users (id, username, discriminator and
// avatar only).
type Bans struct {
	Bans  []Ban
	Users []*stoatpb.User
}

// FetchServer fetches a server (GET /servers/{server}); its Channels are ids.
func (c *Client) FetchServer(ctx context.Context, server string) (*stoatpb.Server, error) {
	s := new(stoatpb.Server)
	return s, c.do(ctx, get("/servers/{server}", server), model(s))
}

// FetchServerWithChannels fetches a server with its channels (GET
// /servers/{server}?include_channels=true).
func (c *Client) FetchServerWithChannels(ctx context.Context, server string) (*stoatpb.Server, []*stoatpb.Channel, error) {
	s := new(stoatpb.Server)
	var channels []*stoatpb.Channel
	k := get("/servers/{server}", server).withQuery(url.Values{"include_channels": {"true"}})
	err := c.do(ctx, k, func(data []byte) error {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return err
		}
		if raw, ok := fields["channels"]; ok && firstByte(raw) == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return err
			}
			if len(items) > 0 && firstByte(items[0]) == '{' { // objects, not ids
				var err error
				if channels, err = modelList[stoatpb.Channel](raw); err != nil {
					return err
				}
				delete(fields, "channels")
			}
		}
		rest, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		if err := bonfire.UnmarshalModel(bonfire.JSON, rest, s); err != nil {
			return err
		}
		if channels != nil {
			s.Channels = s.Channels[:0]
			for _, ch := range channels {
				s.Channels = append(s.Channels, ch.GetId())
			}
		}
		return nil
	})
	return s, channels, err
}

// EditServer edits a server (PATCH /servers/{server}) and returns it as edited.
func (c *Client) EditServer(ctx context.Context, server string, e EditServer) (*stoatpb.Server, error) {
	s := new(stoatpb.Server)
	return s, c.do(ctx, patch("/servers/{server}", server).withBody(e), model(s))
}

// LeaveServer leaves a server, without the "user left" system message if silently (DELETE
// /servers/{server}). If the bot owns the server, this deletes it.
func (c *Client) LeaveServer(ctx context.Context, server string, silently bool) error {
	q := url.Values{}
	if silently {
		q.Set("leave_silently", "true")
	}
	return c.do(ctx, del("/servers/{server}", server).withQuery(q), nil)
}

func (c *Client) fetchMembers(ctx context.Context, server string, q url.Values) (*Members, error) {
	out := new(Members)
	return out, c.do(ctx, get("/servers/{server}/members", server).withQuery(q), func(data []byte) error {
		var w struct{ Members, Users json.RawMessage }
		if err := json.Unmarshal(data, &w); err != nil {
			return err
		}
		var err1, err2 error
		out.Members, err1 = modelList[stoatpb.Member](w.Members)
		out.Users, err2 = modelList[stoatpb.User](w.Users)
		return errors.Join(err1, err2)
	})
}

// FetchMembers fetches every member of a server and their users (GET /servers/{server}/members).
func (c *Client) FetchMembers(ctx context.Context, server string) (*Members, error) {
	return c.fetchMembers(ctx, server, nil)
}

// FetchOnlineMembers fetches the members of a server that are online, and their users (GET
// /servers/{server}/members?exclude_offline=true).
func (c *Client) FetchOnlineMembers(ctx context.Context, server string) (*Members, error) {
	return c.fetchMembers(ctx, server, url.Values{"exclude_offline": {"true"}})
}

// FetchMember fetches a member of a server (GET /servers/{server}/members/{member}).
func (c *Client) FetchMember(ctx context.Context, server, user string) (*stoatpb.Member, error) {
	m := new(stoatpb.Member)
	return m, c.do(ctx, get("/servers/{server}/members/{member}", server, user), model(m))
}

// FetchMemberWithRoles fetches a member and its roles, ordered by id (GET
// /servers/{server}/members/{member}?roles=true).
func (c *Client) FetchMemberWithRoles(ctx context.Context, server, user string) (*stoatpb.Member, []*stoatpb.Role, error) {
	m := new(stoatpb.Member)
	var roles []*stoatpb.Role
	k := get("/servers/{server}/members/{member}", server, user).withQuery(url.Values{"roles": {"true"}})
	err := c.do(ctx, k, func(data []byte) error {
		var w struct {
			Member json.RawMessage            `json:"member"`
			Roles  map[string]json.RawMessage `json:"roles"`
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return err
		}
		if w.Member == nil { // a plain member
			return bonfire.UnmarshalModel(bonfire.JSON, data, m)
		}
		if err := bonfire.UnmarshalModel(bonfire.JSON, w.Member, m); err != nil {
			return err
		}
		for id, raw := range w.Roles {
			r := new(stoatpb.Role)
			if err := bonfire.UnmarshalModel(bonfire.JSON, raw, r); err != nil {
				return err
			}
			if r.Id == "" {
				r.Id = id
			}
			roles = append(roles, r)
		}
		sort.Slice(roles, func(i, j int) bool { return roles[i].Id < roles[j].Id })
		return nil
	})
	return m, roles, err
}

// EditMember edits a member (PATCH /servers/{server}/members/{member}) and returns it as
// edited.
func (c *Client) EditMember(ctx context.Context, server, user string, e EditMember) (*stoatpb.Member, error) {
	m := new(stoatpb.Member)
	return m, c.do(ctx, patch("/servers/{server}/members/{member}", server, user).withBody(e), model(m))
}

// KickMember removes a member from a server (DELETE /servers/{server}/members/{member}).
func (c *Client) KickMember(ctx context.Context, server, user string) error {
	return c.do(ctx, del("/servers/{server}/members/{member}", server, user), nil)
}

// BanUser bans a user from a server, with an optional reason (PUT /servers/{server}/bans/{user}).
func (c *Client) BanUser(ctx context.Context, server, user, reason string) (*Ban, error) {
	var body struct {
		Reason string `json:"reason,omitempty"`
	}
	body.Reason = reason
	b := new(Ban)
	k := put("/servers/{server}/bans/{user}", server, user).withBody(body)
	return b, c.do(ctx, k, func(data []byte) error { return json.Unmarshal(data, b) })
}

// UnbanUser lifts a user's ban (DELETE /servers/{server}/bans/{user}).
func (c *Client) UnbanUser(ctx context.Context, server, user string) error {
	return c.do(ctx, del("/servers/{server}/bans/{user}", server, user), nil)
}

// FetchBans fetches a server's bans (GET /servers/{server}/bans).
func (c *Client) FetchBans(ctx context.Context, server string) (*Bans, error) {
	out := new(Bans)
	return out, c.do(ctx, get("/servers/{server}/bans", server), func(data []byte) error {
		var w struct {
			Bans  []Ban           `json:"bans"`
			Users json.RawMessage `json:"users"`
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return err
		}
		out.Bans = w.Bans
		var err error
		out.Users, err = modelList[stoatpb.User](w.Users)
		return err
	})
}

// CreateRole creates a role (POST /servers/{server}/roles) and returns it with its Id set.
// It starts with the lowest rank; see SetRoleRanks.
func (c *Client) CreateRole(ctx context.Context, server, name string) (*stoatpb.Role, error) {
	r := new(stoatpb.Role)
	k := post("/servers/{server}/roles", server).withBody(map[string]string{"name": name})
	return r, c.do(ctx, k, func(data []byte) error {
		var w struct {
			ID   string          `json:"id"`
			Role json.RawMessage `json:"role"`
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return err
		}
		if err := bonfire.UnmarshalModel(bonfire.JSON, w.Role, r); err != nil {
			return err
		}
		if r.Id == "" {
			r.Id = w.ID
		}
		return nil
	})
}

// FetchRole fetches a role (GET /servers/{server}/roles/{role}).
func (c *Client) FetchRole(ctx context.Context, server, role string) (*stoatpb.Role, error) {
	r := new(stoatpb.Role)
	err := c.do(ctx, get("/servers/{server}/roles/{role}", server, role), model(r))
	if err == nil && r.Id == "" {
		r.Id = role
	}
	return r, err
}

// EditRole edits a role (PATCH /servers/{server}/roles/{role}) and returns it as edited.
func (c *Client) EditRole(ctx context.Context, server, role string, e EditRole) (*stoatpb.Role, error) {
	r := new(stoatpb.Role)
	err := c.do(ctx, patch("/servers/{server}/roles/{role}", server, role).withBody(e), model(r))
	if err == nil && r.Id == "" {
		r.Id = role
	}
	return r, err
}

// DeleteRole deletes a role (DELETE /servers/{server}/roles/{role}).
func (c *Client) DeleteRole(ctx context.Context, server, role string) error {
	return c.do(ctx, del("/servers/{server}/roles/{role}", server, role), nil)
}

// SetRoleRanks orders a server's roles, every role id from the highest rank to the lowest
// (PATCH /servers/{server}/roles/ranks), and returns the server.
func (c *Client) SetRoleRanks(ctx context.Context, server string, ranks []string) (*stoatpb.Server, error) {
	s := new(stoatpb.Server)
	if ranks == nil {
		ranks = []string{}
	}
	k := patch("/servers/{server}/roles/ranks", server).withBody(map[string][]string{"ranks": ranks})
	return s, c.do(ctx, k, model(s))
}

// SetServerRolePermissions sets a role's server-wide permissions (PUT
// /servers/{server}/permissions/{role}) and returns the server.
func (c *Client) SetServerRolePermissions(ctx context.Context, server, role string, o Override) (*stoatpb.Server, error) {
	s := new(stoatpb.Server)
	k := put("/servers/{server}/permissions/{role}", server, role).withBody(map[string]Override{"permissions": o})
	return s, c.do(ctx, k, model(s))
}

// SetServerDefaultPermissions sets the permissions of @everyone in a server (PUT
// /servers/{server}/permissions/default) and returns the server.
func (c *Client) SetServerDefaultPermissions(ctx context.Context, server string, permissions uint64) (*stoatpb.Server, error) {
	s := new(stoatpb.Server)
	k := put("/servers/{server}/permissions/default", server).withBody(map[string]uint64{"permissions": permissions})
	return s, c.do(ctx, k, model(s))
}

// FetchServerEmojis fetches a server's custom emojis (GET /servers/{server}/emojis).
func (c *Client) FetchServerEmojis(ctx context.Context, server string) ([]*stoatpb.Emoji, error) {
	var out []*stoatpb.Emoji
	err := c.do(ctx, get("/servers/{server}/emojis", server), func(data []byte) error {
		var err error
		out, err = modelList[stoatpb.Emoji](data)
		return err
	})
	return out, err
}
