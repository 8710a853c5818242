package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// mentionID returns the id of a mention "<" + sigil + id + ">" (sigil "@" for users, "#" for
// channels, "%" for roles, as Stoat writes them), or of a bare id.
func mentionID(word, sigil string) (string, bool) {
	if inner, ok := strings.CutPrefix(word, "<"+sigil); ok {
		if id, ok := strings.CutSuffix(inner, ">"); ok && isID(id) {
			return id, true
		}
		return "", false
	}
	return word, isID(word)
}

// isID reports whether s is a ULID, as every Stoat id is: 26 characters of Crockford's base32.
func isID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U') {
			return false
		}
	}
	return true
}

// matchesUser reports whether name is u's username, or username#discriminator.
func matchesUser(u *stoatpb.User, name string) bool {
	if u == nil {
		return false
	}
	if user, disc, ok := strings.Cut(name, "#"); ok {
		return strings.EqualFold(u.GetUsername(), user) && u.GetDiscriminator() == disc
	}
	return strings.EqualFold(u.GetUsername(), name)
}

func resolveUser(ctx *Context, w string) (*stoatpb.User, error) {
	b := ctx.Bot()
	if id, ok := mentionID(w, "@"); ok {
		if u := b.Cache().User(strings.ToUpper(id)); u != nil {
			return u, nil
		}
		u, err := b.FetchUser(ctx, strings.ToUpper(id))
		if errors.Is(err, rest.ErrNotFound) {
			return nil, fmt.Errorf("there is no user %s", w)
		}
		if err != nil {
			return nil, Internal(err)
		}
		return u, nil
	}
	for _, id := range b.Cache().UserIDs() {
		if u := b.Cache().User(id); matchesUser(u, w) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("nobody I know is named %q", w)
}

func resolveMember(ctx *Context, w string) (*stoatpb.Member, error) {
	b := ctx.Bot()
	server := serverOf(ctx)
	if server == "" {
		return nil, errors.New("members can be named only in a server")
	}
	if id, ok := mentionID(w, "@"); ok {
		id = strings.ToUpper(id)
		if m := b.Cache().Member(server, id); m != nil {
			return m, nil
		}
		m, err := b.FetchMember(ctx, server, id)
		if errors.Is(err, rest.ErrNotFound) {
			return nil, fmt.Errorf("%s is not a member of this server", w)
		}
		if err != nil {
			return nil, Internal(err)
		}
		return m, nil
	}
	for _, m := range b.Cache().Members(server) {
		if strings.EqualFold(m.GetNickname(), w) || matchesUser(b.Cache().User(m.GetId().GetUser()), w) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no member here is named %q", w)
}

func resolveChannel(ctx *Context, w string) (*stoatpb.Channel, error) {
	store := ctx.Bot().Cache()
	server := serverOf(ctx)
	if id, ok := mentionID(w, "#"); ok {
		ch := store.Channel(strings.ToUpper(id))
		if ch == nil || server != "" && ch.GetServer() != server {
			return nil, fmt.Errorf("%s is not a channel of this server", w)
		}
		return ch, nil
	}
	name := strings.TrimPrefix(w, "#")
	for _, id := range store.Server(server).GetChannels() {
		if ch := store.Channel(id); ch != nil && strings.EqualFold(ch.GetName(), name) {
			return ch, nil
		}
	}
	return nil, fmt.Errorf("there is no channel named %q here", name)
}

func resolveRole(ctx *Context, w string) (*stoatpb.Role, error) {
	srv := ctx.Server()
	if srv == nil {
		return nil, errors.New("roles can be named only in a server")
	}
	id, byID := mentionID(w, "%")
	for _, r := range srv.GetRoles() {
		if byID && strings.EqualFold(r.GetId(), id) || strings.EqualFold(r.GetName(), w) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("this server has no role %q", w)
}

// serverOf returns the id of the server the command is used in ("" outside servers).
func serverOf(ctx *Context) string { return ctx.Channel().GetServer() }
