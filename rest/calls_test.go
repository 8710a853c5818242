package rest_test

// Every call of the client against a server of the test's own that checks the method, path,
// query, headers and body of the request and answers with a captured Stoat payload; the same
// table is checked against the OpenAPI schema.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// Ids used by the table (any string works; these look like Stoat's).
const (
	idS  = "01F7ZSBSFHQ8TA81725KQCSDDP" // server
	idC  = "01FHJD5D2PBRTEVPNFM1FRY85J" // channel
	idM  = "01J1W5QRYPK703Q3VNN6SC2F5F" // message
	idM2 = "01J1W5QRYPK703Q3VNN6SC2F5G"
	idU  = "01EX2NCWQ0CHS3QJF0FEQS1GR4" // user
	idR  = "01FBF9DNHSRPVTWFMNB3JNB8FK" // role
	idR2 = "01GDE9VX4AD3T3KBPYZE7932P9"
	idE  = "01GX773A8JPQ0VP64NWGEBMQ1E" // emoji
	idW  = "01HWEBHOOK0000000000000000" // webhook
)

// exchange is the request a call must make and the answer it gets.
type exchange struct {
	method, path string     // path as sent (escaped)
	query        url.Values // nil: no query string
	body         string     // expected JSON body ("": none)
	header       map[string]string
	noAuth       bool
	status       int    // default 200, or 204 when resp is empty
	resp         []byte // answer body
	openapi      string // the OpenAPI path template the call implements
}

type callCase struct {
	name  string // the Client method
	call  func(ctx context.Context, c *rest.Client) (any, error)
	want  exchange
	check func(t *testing.T, got any)
}

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func callCases(t *testing.T) []callCase {
	ayana := fixture(t, "ayana.json")
	mecha := fixture(t, "mecha.json")
	member := fixture(t, "member.json")
	server := fixture(t, "server.json")
	channel := fixture(t, "rules_channel.json")
	role := []byte(`{"name":"Moderator","permissions":{"a":8388608,"d":0},"colour":"#c0ffee","hoist":true,"rank":2}`)
	emoji := []byte(`{"_id":"` + idE + `","parent":{"type":"Server","id":"` + idS + `"},"creator_id":"` + idU + `","name":"ermine","animated":false}`)
	webhook := []byte(`{"id":"` + idW + `","name":"hook","creator_id":"` + idU + `","channel_id":"` + idC + `","permissions":0,"token":"t0k3n"}`)
	isAyana := func(t *testing.T, got any) {
		m := got.(*stoatpb.Message)
		if m.GetId() != idM || m.GetEmbeds()[0].GetTitle() != "Help for Ayana" {
			t.Errorf("message = %v", m)
		}
	}
	isServer := func(t *testing.T, got any) {
		s := got.(*stoatpb.Server)
		if s.GetId() != "01F7ZSBSFHQ8TA81725KQCSDDP" || len(s.GetRoles()) != 15 || len(s.GetChannels()) != 40 {
			t.Errorf("server %q: %d roles, %d channels", s.GetId(), len(s.GetRoles()), len(s.GetChannels()))
		}
	}
	isChannel := func(t *testing.T, got any) {
		ch := got.(*stoatpb.Channel)
		if ch.GetId() == "" || ch.GetName() == "" || len(ch.GetRolePermissions()) == 0 {
			t.Errorf("channel = %v", ch)
		}
	}
	isMember := func(t *testing.T, got any) {
		m := got.(*stoatpb.Member)
		if m.GetId().GetUser() != idU || len(m.GetRoles()) != 2 || m.GetJoinedAt() == 0 {
			t.Errorf("member = %v", m)
		}
	}
	isRole := func(id string) func(t *testing.T, got any) {
		return func(t *testing.T, got any) {
			r := got.(*stoatpb.Role)
			if r.GetId() != id || r.GetName() != "Moderator" || r.GetPermissions().GetA() != 8388608 {
				t.Errorf("role = %v", r)
			}
		}
	}
	timeout := time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)

	return []callCase{
		// Messages.
		{"SendMessage", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SendMessage(ctx, idC, rest.SendMessage{
				Content:        "pong",
				Replies:        []rest.Reply{{ID: idM, Mention: true, FailIfNotExists: new(false)}},
				Masquerade:     &rest.Masquerade{Name: "Ermine", Avatar: "https://example.com/a.png"},
				Embeds:         []rest.SendableEmbed{{Title: "T", Description: "D", Colour: "#00ff00", Media: "file1"}},
				Attachments:    []string{"att1"},
				Interactions:   &rest.Interactions{Reactions: []string{"👍", idE}, RestrictReactions: true},
				Flags:          rest.FlagSuppressNotifications,
				IdempotencyKey: "key-1",
			})
		}, exchange{method: "POST", path: "/channels/" + idC + "/messages", openapi: "/channels/{target}/messages",
			body: `{"content":"pong","replies":[{"id":"` + idM + `","mention":true,"fail_if_not_exists":false}],
				"masquerade":{"name":"Ermine","avatar":"https://example.com/a.png"},
				"embeds":[{"title":"T","description":"D","colour":"#00ff00","media":"file1"}],"attachments":["att1"],
				"interactions":{"reactions":["👍","` + idE + `"],"restrict_reactions":true},"flags":2}`,
			header: map[string]string{"Idempotency-Key": "key-1"}, resp: ayana}, isAyana},
		{"SendText", func(ctx context.Context, c *rest.Client) (any, error) { return c.SendText(ctx, idC, "pong") },
			exchange{method: "POST", path: "/channels/" + idC + "/messages", openapi: "/channels/{target}/messages",
				body: `{"content":"pong"}`, resp: ayana}, isAyana},
		{"FetchMessage", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchMessage(ctx, idC, idM) },
			exchange{method: "GET", path: "/channels/" + idC + "/messages/" + idM, openapi: "/channels/{target}/messages/{msg}", resp: ayana}, isAyana},
		{"FetchMessages", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.FetchMessages(ctx, idC, rest.MessageQuery{Limit: 10, Before: idM2, After: idM, Sort: rest.SortOldest, IncludeUsers: true})
		}, exchange{method: "GET", path: "/channels/" + idC + "/messages", openapi: "/channels/{target}/messages",
			query: url.Values{"limit": {"10"}, "before": {idM2}, "after": {idM}, "sort": {"Oldest"}, "include_users": {"true"}},
			resp:  []byte(`{"messages":[` + string(ayana) + `],"users":[` + string(mecha) + `],"members":[` + string(member) + `]}`)},
			func(t *testing.T, got any) {
				p := got.(*rest.Messages)
				if len(p.Messages) != 1 || p.Messages[0].GetId() != idM || len(p.Users) != 1 || p.Users[0].GetUsername() != "Mecha" ||
					len(p.Members) != 1 || p.Members[0].GetId().GetUser() != idU {
					t.Errorf("page = %v", p)
				}
			}},
		{"FetchMessages", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.FetchMessages(ctx, idC, rest.MessageQuery{Nearby: idM, Limit: 4})
		}, exchange{method: "GET", path: "/channels/" + idC + "/messages", openapi: "/channels/{target}/messages",
			query: url.Values{"nearby": {idM}, "limit": {"4"}}, resp: []byte(`[` + string(ayana) + `]`)},
			func(t *testing.T, got any) {
				if p := got.(*rest.Messages); len(p.Messages) != 1 || p.Users != nil {
					t.Errorf("page = %v", p)
				}
			}},
		{"EditMessage", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditMessage(ctx, idC, idM, rest.EditMessage{Content: new("edited"), Embeds: []rest.SendableEmbed{}})
		}, exchange{method: "PATCH", path: "/channels/" + idC + "/messages/" + idM, openapi: "/channels/{target}/messages/{msg}",
			body: `{"content":"edited","embeds":[]}`, resp: ayana}, isAyana},
		{"DeleteMessage", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteMessage(ctx, idC, idM) },
			exchange{method: "DELETE", path: "/channels/" + idC + "/messages/" + idM, openapi: "/channels/{target}/messages/{msg}"}, nil},
		{"DeleteMessages", func(ctx context.Context, c *rest.Client) (any, error) {
			return nil, c.DeleteMessages(ctx, idC, []string{idM, idM2})
		}, exchange{method: "DELETE", path: "/channels/" + idC + "/messages/bulk", openapi: "/channels/{target}/messages/bulk",
			body: `{"ids":["` + idM + `","` + idM2 + `"]}`}, nil},
		{"React", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.React(ctx, idC, idM, "👍") },
			exchange{method: "PUT", path: "/channels/" + idC + "/messages/" + idM + "/reactions/%F0%9F%91%8D",
				openapi: "/channels/{target}/messages/{msg}/reactions/{emoji}"}, nil},
		{"Unreact", func(ctx context.Context, c *rest.Client) (any, error) {
			return nil, c.Unreact(ctx, idC, idM, idE, rest.UnreactOptions{UserID: idU, RemoveAll: true})
		}, exchange{method: "DELETE", path: "/channels/" + idC + "/messages/" + idM + "/reactions/" + idE,
			openapi: "/channels/{target}/messages/{msg}/reactions/{emoji}", query: url.Values{"user_id": {idU}, "remove_all": {"true"}}}, nil},
		{"ClearReactions", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.ClearReactions(ctx, idC, idM) },
			exchange{method: "DELETE", path: "/channels/" + idC + "/messages/" + idM + "/reactions",
				openapi: "/channels/{target}/messages/{msg}/reactions"}, nil},
		{"PinMessage", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.PinMessage(ctx, idC, idM) },
			exchange{method: "POST", path: "/channels/" + idC + "/messages/" + idM + "/pin", openapi: "/channels/{target}/messages/{msg}/pin"}, nil},
		{"UnpinMessage", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.UnpinMessage(ctx, idC, idM) },
			exchange{method: "DELETE", path: "/channels/" + idC + "/messages/" + idM + "/pin", openapi: "/channels/{target}/messages/{msg}/pin"}, nil},

		// Channels.
		{"FetchChannel", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchChannel(ctx, idC) },
			exchange{method: "GET", path: "/channels/" + idC, openapi: "/channels/{target}", resp: channel}, isChannel},
		{"EditChannel", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditChannel(ctx, idC, rest.EditChannel{Name: new("rules"), NSFW: new(false), Remove: []rest.ChannelField{rest.ChannelFieldDescription}})
		}, exchange{method: "PATCH", path: "/channels/" + idC, openapi: "/channels/{target}",
			body: `{"name":"rules","nsfw":false,"remove":["Description"]}`, resp: channel}, isChannel},
		{"DeleteChannel", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteChannel(ctx, idC) },
			exchange{method: "DELETE", path: "/channels/" + idC, openapi: "/channels/{target}"}, nil},
		{"LeaveGroup", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.LeaveGroup(ctx, idC, true) },
			exchange{method: "DELETE", path: "/channels/" + idC, openapi: "/channels/{target}", query: url.Values{"leave_silently": {"true"}}}, nil},
		{"CreateChannel", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.CreateChannel(ctx, idS, rest.CreateChannel{Type: "Voice", Name: "vc", Voice: &rest.VoiceInformation{MaxUsers: 4}})
		}, exchange{method: "POST", path: "/servers/" + idS + "/channels", openapi: "/servers/{server}/channels",
			body: `{"type":"Voice","name":"vc","voice":{"max_users":4}}`, resp: channel}, isChannel},
		{"SetChannelRolePermissions", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SetChannelRolePermissions(ctx, idC, idR, rest.Override{Allow: 1 << 20, Deny: 1 << 22})
		}, exchange{method: "PUT", path: "/channels/" + idC + "/permissions/" + idR, openapi: "/channels/{target}/permissions/{role_id}",
			body: `{"permissions":{"allow":1048576,"deny":4194304}}`, resp: channel}, isChannel},
		{"SetChannelDefaultPermissions", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SetChannelDefaultPermissions(ctx, idC, rest.Override{Deny: 1 << 22})
		}, exchange{method: "PUT", path: "/channels/" + idC + "/permissions/default", openapi: "/channels/{target}/permissions/default",
			body: `{"permissions":{"allow":0,"deny":4194304}}`, resp: channel}, isChannel},
		{"CreateInvite", func(ctx context.Context, c *rest.Client) (any, error) { return c.CreateInvite(ctx, idC) },
			exchange{method: "POST", path: "/channels/" + idC + "/invites", openapi: "/channels/{target}/invites",
				resp: []byte(`{"type":"Server","_id":"AbCdEf","server":"` + idS + `","creator":"` + idU + `","channel":"` + idC + `"}`)},
			func(t *testing.T, got any) {
				if inv := got.(*rest.Invite); *inv != (rest.Invite{Type: "Server", Code: "AbCdEf", Server: idS, Creator: idU, Channel: idC}) {
					t.Errorf("invite = %+v", inv)
				}
			}},

		// Servers, members, bans, roles.
		{"FetchServer", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchServer(ctx, idS) },
			exchange{method: "GET", path: "/servers/" + idS, openapi: "/servers/{target}", resp: server}, isServer},
		{"FetchServerWithChannels", func(ctx context.Context, c *rest.Client) (any, error) {
			s, chs, err := c.FetchServerWithChannels(ctx, idS)
			return []any{s, chs}, err
		}, exchange{method: "GET", path: "/servers/" + idS, openapi: "/servers/{target}", query: url.Values{"include_channels": {"true"}},
			resp: fixture(t, "server_with_channels.json")},
			func(t *testing.T, got any) {
				s, chs := got.([]any)[0].(*stoatpb.Server), got.([]any)[1].([]*stoatpb.Channel)
				if s.GetName() == "" || len(chs) != 26 || len(s.GetChannels()) != 26 || s.GetChannels()[3] != chs[3].GetId() || chs[0].GetName() == "" {
					t.Errorf("server %q with %d channel ids, %d channels", s.GetName(), len(s.GetChannels()), len(chs))
				}
			}},
		{"EditServer", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditServer(ctx, idS, rest.EditServer{Name: new("Lab"), Description: new(""),
				Categories:     []rest.Category{{ID: "cat", Title: "Text"}},
				SystemMessages: &rest.SystemMessages{UserJoined: idC}, Remove: []rest.ServerField{rest.ServerFieldIcon}})
		}, exchange{method: "PATCH", path: "/servers/" + idS, openapi: "/servers/{target}",
			body: `{"name":"Lab","description":"","categories":[{"id":"cat","title":"Text","channels":[]}],
				"system_messages":{"user_joined":"` + idC + `"},"remove":["Icon"]}`, resp: server}, isServer},
		{"LeaveServer", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.LeaveServer(ctx, idS, true) },
			exchange{method: "DELETE", path: "/servers/" + idS, openapi: "/servers/{target}", query: url.Values{"leave_silently": {"true"}}}, nil},
		{"FetchMembers", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchMembers(ctx, idS) },
			exchange{method: "GET", path: "/servers/" + idS + "/members", openapi: "/servers/{target}/members",
				resp: []byte(`{"members":[` + string(member) + `],"users":[` + string(mecha) + `]}`)},
			func(t *testing.T, got any) {
				if m := got.(*rest.Members); len(m.Members) != 1 || len(m.Users) != 1 || m.Users[0].GetBot().GetOwner() == "" {
					t.Errorf("members = %v", m)
				}
			}},
		{"FetchOnlineMembers", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchOnlineMembers(ctx, idS) },
			exchange{method: "GET", path: "/servers/" + idS + "/members", openapi: "/servers/{target}/members",
				query: url.Values{"exclude_offline": {"true"}}, resp: []byte(`{"members":[],"users":[]}`)},
			func(t *testing.T, got any) {
				if m := got.(*rest.Members); len(m.Members) != 0 {
					t.Errorf("members = %v", m)
				}
			}},
		{"FetchMember", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchMember(ctx, idS, idU) },
			exchange{method: "GET", path: "/servers/" + idS + "/members/" + idU, openapi: "/servers/{target}/members/{member}", resp: member}, isMember},
		{"FetchMemberWithRoles", func(ctx context.Context, c *rest.Client) (any, error) {
			m, roles, err := c.FetchMemberWithRoles(ctx, idS, idU)
			return []any{m, roles}, err
		}, exchange{method: "GET", path: "/servers/" + idS + "/members/" + idU, openapi: "/servers/{target}/members/{member}",
			query: url.Values{"roles": {"true"}},
			resp:  []byte(`{"member":` + string(member) + `,"roles":{"` + idR2 + `":` + string(role) + `,"` + idR + `":` + string(role) + `}}`)},
			func(t *testing.T, got any) {
				isMember(t, got.([]any)[0])
				roles := got.([]any)[1].([]*stoatpb.Role)
				if len(roles) != 2 {
					t.Fatalf("roles = %v", roles)
				}
				isRole(idR)(t, roles[0])
				isRole(idR2)(t, roles[1])
			}},
		{"EditMember", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditMember(ctx, idS, idU, rest.EditMember{Nickname: new("caz"), Roles: []string{idR}, Timeout: &timeout,
				CanPublish: new(false), Remove: []rest.MemberField{rest.MemberFieldAvatar}})
		}, exchange{method: "PATCH", path: "/servers/" + idS + "/members/" + idU, openapi: "/servers/{server}/members/{member}",
			body: `{"nickname":"caz","roles":["` + idR + `"],"timeout":"2026-01-11T00:00:00Z","can_publish":false,"remove":["Avatar"]}`,
			resp: member}, isMember},
		{"KickMember", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.KickMember(ctx, idS, idU) },
			exchange{method: "DELETE", path: "/servers/" + idS + "/members/" + idU, openapi: "/servers/{target}/members/{member}"}, nil},
		{"BanUser", func(ctx context.Context, c *rest.Client) (any, error) { return c.BanUser(ctx, idS, idU, "spam") },
			exchange{method: "PUT", path: "/servers/" + idS + "/bans/" + idU, openapi: "/servers/{server}/bans/{target}",
				body: `{"reason":"spam"}`, resp: []byte(`{"_id":{"server":"` + idS + `","user":"` + idU + `"},"reason":"spam"}`)},
			func(t *testing.T, got any) {
				if b := got.(*rest.Ban); *b != (rest.Ban{Server: idS, User: idU, Reason: "spam"}) {
					t.Errorf("ban = %+v", b)
				}
			}},
		{"UnbanUser", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.UnbanUser(ctx, idS, idU) },
			exchange{method: "DELETE", path: "/servers/" + idS + "/bans/" + idU, openapi: "/servers/{server}/bans/{target}"}, nil},
		{"FetchBans", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchBans(ctx, idS) },
			exchange{method: "GET", path: "/servers/" + idS + "/bans", openapi: "/servers/{target}/bans",
				resp: []byte(`{"users":[{"_id":"` + idU + `","username":"spammer","discriminator":"0666","avatar":null}],
					"bans":[{"_id":{"server":"` + idS + `","user":"` + idU + `"},"reason":null}]}`)},
			func(t *testing.T, got any) {
				b := got.(*rest.Bans)
				if len(b.Bans) != 1 || b.Bans[0] != (rest.Ban{Server: idS, User: idU}) || len(b.Users) != 1 || b.Users[0].GetUsername() != "spammer" {
					t.Errorf("bans = %+v", b)
				}
			}},
		{"CreateRole", func(ctx context.Context, c *rest.Client) (any, error) { return c.CreateRole(ctx, idS, "Moderator") },
			exchange{method: "POST", path: "/servers/" + idS + "/roles", openapi: "/servers/{target}/roles",
				body: `{"name":"Moderator"}`, resp: []byte(`{"id":"` + idR + `","role":` + string(role) + `}`)}, isRole(idR)},
		{"FetchRole", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchRole(ctx, idS, idR) },
			exchange{method: "GET", path: "/servers/" + idS + "/roles/" + idR, openapi: "/servers/{target}/roles/{role_id}", resp: role}, isRole(idR)},
		{"EditRole", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditRole(ctx, idS, idR, rest.EditRole{Name: new("Moderator"), Hoist: new(true), Remove: []rest.RoleField{rest.RoleFieldColour}})
		}, exchange{method: "PATCH", path: "/servers/" + idS + "/roles/" + idR, openapi: "/servers/{target}/roles/{role_id}",
			body: `{"name":"Moderator","hoist":true,"remove":["Colour"]}`, resp: role}, isRole(idR)},
		{"DeleteRole", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteRole(ctx, idS, idR) },
			exchange{method: "DELETE", path: "/servers/" + idS + "/roles/" + idR, openapi: "/servers/{target}/roles/{role_id}"}, nil},
		{"SetRoleRanks", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SetRoleRanks(ctx, idS, []string{idR2, idR})
		},
			exchange{method: "PATCH", path: "/servers/" + idS + "/roles/ranks", openapi: "/servers/{target}/roles/ranks",
				body: `{"ranks":["` + idR2 + `","` + idR + `"]}`, resp: server}, isServer},
		{"SetServerRolePermissions", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SetServerRolePermissions(ctx, idS, idR, rest.Override{Allow: 8388608})
		}, exchange{method: "PUT", path: "/servers/" + idS + "/permissions/" + idR, openapi: "/servers/{target}/permissions/{role_id}",
			body: `{"permissions":{"allow":8388608,"deny":0}}`, resp: server}, isServer},
		{"SetServerDefaultPermissions", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.SetServerDefaultPermissions(ctx, idS, 77014766592)
		}, exchange{method: "PUT", path: "/servers/" + idS + "/permissions/default", openapi: "/servers/{target}/permissions/default",
			body: `{"permissions":77014766592}`, resp: server}, isServer},
		{"FetchServerEmojis", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchServerEmojis(ctx, idS) },
			exchange{method: "GET", path: "/servers/" + idS + "/emojis", openapi: "/servers/{target}/emojis", resp: []byte(`[` + string(emoji) + `]`)},
			func(t *testing.T, got any) {
				if es := got.([]*stoatpb.Emoji); len(es) != 1 || es[0].GetName() != "ermine" || es[0].GetParent().GetId() != idS {
					t.Errorf("emojis = %v", es)
				}
			}},

		// Users.
		{"FetchUser", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchUser(ctx, idU) },
			exchange{method: "GET", path: "/users/" + idU, openapi: "/users/{target}", resp: mecha},
			func(t *testing.T, got any) {
				if u := got.(*stoatpb.User); u.GetUsername() != "Mecha" || u.GetBot().GetOwner() != "01FZB2QAPRVT8PVMF11480GRCD" || u.GetAvatar().GetSize() == 0 {
					t.Errorf("user = %v", u)
				}
			}},
		{"FetchSelf", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchSelf(ctx) },
			exchange{method: "GET", path: "/users/@me", openapi: "/users/@me", resp: fixture(t, "user.json")},
			func(t *testing.T, got any) {
				if u := got.(*stoatpb.User); u.GetId() == "" || u.GetUsername() == "" {
					t.Errorf("user = %v", u)
				}
			}},
		{"EditSelf", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.EditSelf(ctx, rest.EditUser{DisplayName: new("Ermine"),
				Status:  &rest.UserStatus{Text: new("serving"), Presence: rest.PresenceBusy},
				Profile: &rest.UserProfile{Content: new("a bot")}, Remove: []rest.UserField{rest.UserFieldAvatar}})
		}, exchange{method: "PATCH", path: "/users/@me", openapi: "/users/{target}",
			body: `{"display_name":"Ermine","status":{"text":"serving","presence":"Busy"},"profile":{"content":"a bot"},"remove":["Avatar"]}`,
			resp: fixture(t, "user.json")}, nil},
		{"OpenDM", func(ctx context.Context, c *rest.Client) (any, error) { return c.OpenDM(ctx, idU) },
			exchange{method: "GET", path: "/users/" + idU + "/dm", openapi: "/users/{target}/dm", resp: fixture(t, "dm.json")},
			func(t *testing.T, got any) {
				if ch := got.(*stoatpb.Channel); ch.GetChannelType() != stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE || len(ch.GetRecipients()) != 2 {
					t.Errorf("dm = %v", ch)
				}
			}},

		// Emojis, invites, webhooks.
		{"FetchEmoji", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchEmoji(ctx, idE) },
			exchange{method: "GET", path: "/custom/emoji/" + idE, openapi: "/custom/emoji/{emoji_id}", resp: emoji},
			func(t *testing.T, got any) {
				if e := got.(*stoatpb.Emoji); e.GetId() != idE || e.GetCreatorId() != idU {
					t.Errorf("emoji = %v", e)
				}
			}},
		{"CreateEmoji", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.CreateEmoji(ctx, idE, rest.CreateEmoji{Name: "ermine", Server: idS})
		}, exchange{method: "PUT", path: "/custom/emoji/" + idE, openapi: "/custom/emoji/{id}",
			body: `{"name":"ermine","parent":{"type":"Server","id":"` + idS + `"},"nsfw":false}`, resp: emoji}, nil},
		{"DeleteEmoji", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteEmoji(ctx, idE) },
			exchange{method: "DELETE", path: "/custom/emoji/" + idE, openapi: "/custom/emoji/{emoji_id}"}, nil},
		{"FetchInvite", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchInvite(ctx, "AbCdEf") },
			exchange{method: "GET", path: "/invites/AbCdEf", openapi: "/invites/{target}",
				resp: js(map[string]any{"type": "Server", "code": "AbCdEf", "server_id": idS, "server_name": "Revolt",
					"server_icon": json.RawMessage(`{"_id":"icon1","tag":"icons","filename":"i.png","metadata":{"type":"Image","width":64,"height":64},"content_type":"image/png","size":100}`),
					"channel_id":  idC, "channel_name": "rules", "user_name": "insert", "user_avatar": nil, "member_count": 12345})},
			func(t *testing.T, got any) {
				inv := got.(*rest.InviteInfo)
				if inv.Code != "AbCdEf" || inv.ServerID != idS || inv.MemberCount != 12345 || inv.ServerIcon.GetMetadata().GetWidth() != 64 || inv.UserAvatar != nil {
					t.Errorf("invite = %+v", inv)
				}
			}},
		{"DeleteInvite", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteInvite(ctx, "AbCdEf") },
			exchange{method: "DELETE", path: "/invites/AbCdEf", openapi: "/invites/{target}"}, nil},
		{"ExecuteWebhook", func(ctx context.Context, c *rest.Client) (any, error) {
			return c.ExecuteWebhook(ctx, idW, "web/hook+token", rest.SendMessage{Content: "from a hook", IdempotencyKey: "k2"})
		}, exchange{method: "POST", path: "/webhooks/" + idW + "/web%2Fhook+token", openapi: "/webhooks/{webhook_id}/{token}",
			noAuth: true, body: `{"content":"from a hook"}`, header: map[string]string{"Idempotency-Key": "k2"}, resp: ayana}, isAyana},
		{"CreateWebhook", func(ctx context.Context, c *rest.Client) (any, error) { return c.CreateWebhook(ctx, idC, "hook", "") },
			exchange{method: "POST", path: "/channels/" + idC + "/webhooks", openapi: "/channels/{target}/webhooks",
				body: `{"name":"hook"}`, resp: webhook},
			func(t *testing.T, got any) {
				if w := got.(*stoatpb.Webhook); w.GetId() != idW || w.GetToken() != "t0k3n" {
					t.Errorf("webhook = %v", w)
				}
			}},
		{"FetchWebhooks", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchWebhooks(ctx, idC) },
			exchange{method: "GET", path: "/channels/" + idC + "/webhooks", openapi: "/channels/{channel_id}/webhooks", resp: []byte(`[` + string(webhook) + `]`)},
			func(t *testing.T, got any) {
				if ws := got.([]*stoatpb.Webhook); len(ws) != 1 || ws[0].GetName() != "hook" {
					t.Errorf("webhooks = %v", ws)
				}
			}},
		{"FetchWebhook", func(ctx context.Context, c *rest.Client) (any, error) { return c.FetchWebhook(ctx, idW) },
			exchange{method: "GET", path: "/webhooks/" + idW, openapi: "/webhooks/{webhook_id}", resp: webhook}, nil},
		{"DeleteWebhook", func(ctx context.Context, c *rest.Client) (any, error) { return nil, c.DeleteWebhook(ctx, idW) },
			exchange{method: "DELETE", path: "/webhooks/" + idW, openapi: "/webhooks/{webhook_id}"}, nil},

		// The root.
		{"QueryNode", func(ctx context.Context, c *rest.Client) (any, error) { return c.QueryNode(ctx) },
			exchange{method: "GET", path: "/", openapi: "/", noAuth: true,
				resp: []byte(`{"revolt":"0.8.3","ws":"wss://events.stoat.chat","app":"https://stoat.chat","vapid":"BK"}`)},
			func(t *testing.T, got any) {
				if n := got.(*rest.Node); n.WS != "wss://events.stoat.chat" || n.Revolt != "0.8.3" || n.App == "" || n.Vapid == "" {
					t.Errorf("node = %+v", n)
				}
			}},
	}
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// recorder serves one expected exchange at a time and reports mismatches.
func recorder(t *testing.T, token string, want *exchange) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := *want
		body, _ := io.ReadAll(r.Body)
		if r.Method != ex.method || r.URL.EscapedPath() != ex.path {
			t.Errorf("request %s %s, want %s %s", r.Method, r.URL.EscapedPath(), ex.method, ex.path)
		}
		if got := r.URL.Query(); len(got) != len(ex.query) || len(ex.query) > 0 && !reflect.DeepEqual(got, ex.query) {
			t.Errorf("%s %s: query %v, want %v", ex.method, ex.path, got, ex.query)
		}
		switch {
		case ex.body == "" && len(body) != 0:
			t.Errorf("%s %s: unexpected body %s", ex.method, ex.path, body)
		case ex.body != "" && !jsonEqual(body, []byte(ex.body)):
			t.Errorf("%s %s: body\n%s\nwant\n%s", ex.method, ex.path, body, ex.body)
		case ex.body != "" && r.Header.Get("Content-Type") != "application/json":
			t.Errorf("%s %s: Content-Type %q", ex.method, ex.path, r.Header.Get("Content-Type"))
		}
		if ex.noAuth {
			if r.Header.Get("X-Bot-Token") != "" || r.Header.Get("X-Session-Token") != "" {
				t.Errorf("%s %s: a token header was sent", ex.method, ex.path)
			}
		} else if r.Header.Get("X-Bot-Token") != token {
			t.Errorf("%s %s: X-Bot-Token %q", ex.method, ex.path, r.Header.Get("X-Bot-Token"))
		}
		for k, v := range ex.header {
			if r.Header.Get(k) != v {
				t.Errorf("%s %s: header %s = %q, want %q", ex.method, ex.path, k, r.Header.Get(k), v)
			}
		}
		if _, ok := ex.header["Idempotency-Key"]; !ok && r.Header.Get("Idempotency-Key") != "" {
			t.Errorf("%s %s: unexpected Idempotency-Key", ex.method, ex.path)
		}
		if !strings.HasPrefix(r.Header.Get("User-Agent"), "ermine (https://github.com/ermine-rt/ermine, ") {
			t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
		}
		status := ex.status
		if status == 0 {
			status = 200
			if ex.resp == nil {
				status = 204
			}
		}
		if ex.resp != nil {
			w.Header().Set("Content-Type", "application/json")
		}
		// Generous limits, as the real server sends on every answer.
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "999")
		w.Header().Set("X-RateLimit-Reset-After", "10000")
		w.WriteHeader(status)
		_, _ = w.Write(ex.resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEveryCall(t *testing.T) {
	const token = "bot-token-for-the-table"
	var want exchange
	srv := recorder(t, token, &want)
	c := rest.New(token, rest.WithBaseURL(srv.URL+"/"), rest.WithHTTPClient(srv.Client()))
	ctx := testContext(t)
	for _, tc := range callCases(t) {
		want = tc.want
		got, err := tc.call(ctx, c)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.check != nil {
			t.Run(tc.name, func(t *testing.T) { tc.check(t, got) })
		}
	}
}

// TestEveryMethodIsCovered makes sure the table above grows with the client.
func TestEveryMethodIsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range callCases(t) {
		covered[tc.name] = true
	}
	notCalls := map[string]bool{"String": true, "GoString": true, "Format": true, "LogValue": true, "BaseURL": true, "Limiter": true,
		"CloseIdleConnections": true, "Stats": true}
	typ := reflect.TypeFor[*rest.Client]()
	for i := range typ.NumMethod() {
		if name := typ.Method(i).Name; !notCalls[name] && !covered[name] {
			t.Errorf("Client.%s is not in the table of calls", name)
		}
	}
}

// openAPIPath finds shared/protocol/OpenAPI.json: $ERMINE_OPENAPI, or beside a parent folder
// of the checkout.
func openAPIPath() string {
	if p := os.Getenv("ERMINE_OPENAPI"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for range 6 {
		p := filepath.Join(dir, "shared", "protocol", "OpenAPI.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

// TestCallsMatchOpenAPI checks each call of the table against Stoat's OpenAPI schema: the path
// and method exist, the request path fits the template, and the query parameters, headers and
// top-level body keys are ones the operation declares.
func TestCallsMatchOpenAPI(t *testing.T) {
	p := openAPIPath()
	if p == "" {
		t.Skip("OpenAPI.json not found (set ERMINE_OPENAPI)")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Ref        string                     `json:"$ref"`
		Properties map[string]json.RawMessage `json:"properties"`
		AllOf      []schema                   `json:"allOf"`
		AnyOf      []schema                   `json:"anyOf"`
		OneOf      []schema                   `json:"oneOf"`
	}
	var spec struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				In   string `json:"in"`
				Name string `json:"name"`
			} `json:"parameters"`
			RequestBody *struct {
				Content map[string]struct {
					Schema schema `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	// properties collects the property names of a schema, through $ref and combinators.
	var properties func(s schema, into map[string]bool)
	properties = func(s schema, into map[string]bool) {
		if s.Ref != "" {
			properties(spec.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")], into)
		}
		for k := range s.Properties {
			into[k] = true
		}
		for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
			properties(sub, into)
		}
	}

	for _, tc := range callCases(t) {
		ex := tc.want
		op, ok := spec.Paths[ex.openapi][strings.ToLower(ex.method)]
		if !ok {
			t.Errorf("%s: %s %s is not in the OpenAPI schema", tc.name, ex.method, ex.openapi)
			continue
		}
		tmpl := strings.Split(ex.openapi, "/")
		got := strings.Split(ex.path, "/")
		if len(tmpl) != len(got) {
			t.Errorf("%s: path %s does not fit %s", tc.name, ex.path, ex.openapi)
		} else {
			for i := range tmpl {
				if !strings.HasPrefix(tmpl[i], "{") && tmpl[i] != got[i] {
					t.Errorf("%s: path %s does not fit %s", tc.name, ex.path, ex.openapi)
				}
			}
		}
		params := map[string]bool{}
		for _, prm := range op.Parameters {
			params[prm.In+":"+prm.Name] = true
		}
		for k := range ex.query {
			if !params["query:"+k] {
				t.Errorf("%s: query parameter %q is not declared by %s %s", tc.name, k, ex.method, ex.openapi)
			}
		}
		for k := range ex.header {
			if !params["header:"+k] {
				t.Errorf("%s: header %q is not declared by %s %s", tc.name, k, ex.method, ex.openapi)
			}
		}
		if ex.body == "" {
			if op.RequestBody != nil {
				t.Errorf("%s: %s %s takes a body that the call does not send", tc.name, ex.method, ex.openapi)
			}
			continue
		}
		if op.RequestBody == nil {
			t.Errorf("%s: %s %s takes no body", tc.name, ex.method, ex.openapi)
			continue
		}
		allowed := map[string]bool{}
		properties(op.RequestBody.Content["application/json"].Schema, allowed)
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ex.body), &body); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for k := range body {
			if !allowed[k] {
				t.Errorf("%s: body key %q is not in the schema of %s %s (%v)", tc.name, k, ex.method, ex.openapi, slices.Sorted(maps(allowed)))
			}
		}
	}
}

func maps(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
