package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ermine-rt/ermine"
)

// Check decides whether a command may run. It returns nil to allow it, a Denied error to refuse
// it with a reason the user is told, or another error when it could not decide (logged, and
// answered as a failed command).
type Check func(ctx *Context) error

// Denied is a refusal: its reason is answered to the user.
type Denied struct{ Reason string }

// Error implements error.
func (d *Denied) Error() string { return d.Reason }

// Deny returns a Denied error with a formatted reason.
func Deny(format string, args ...any) error { return &Denied{Reason: fmt.Sprintf(format, args...)} }

// ServerOnly allows the command only in a server's channels.
func ServerOnly() Check {
	return func(ctx *Context) error {
		if serverOf(ctx) == "" {
			return Deny("this command works only in a server")
		}
		return nil
	}
}

// Users allows the command only to the users with these ids (the bot's owners, say).
func Users(ids ...string) Check {
	return func(ctx *Context) error {
		if !slices.Contains(ids, ctx.Message().GetAuthor()) {
			return Deny("you are not allowed to use this command")
		}
		return nil
	}
}

// BotOwner allows the command only to the user who owns the bot account (from the cache).
func BotOwner() Check {
	return func(ctx *Context) error {
		if owner := ctx.Me().GetBot().GetOwner(); owner == "" || owner != ctx.Message().GetAuthor() {
			return Deny("only the bot's owner can use this command")
		}
		return nil
	}
}

// ServerOwner allows the command only to the owner of the server it is used in.
func ServerOwner() Check {
	return func(ctx *Context) error {
		if s := ctx.Server(); s == nil || s.GetOwner() != ctx.Message().GetAuthor() {
			return Deny("only the server's owner can use this command")
		}
		return nil
	}
}

// RequirePermissions allows the command only to an author who holds every permission of want
// in the channel, as the backend computes them from the cache (ermine.Context.Permissions); the
// denial names the missing ones.
func RequirePermissions(want ermine.Permissions) Check {
	return func(ctx *Context) error {
		if missing := ctx.Permissions().Missing(want); missing != 0 {
			return Deny("you need the %s permission", missing)
		}
		return nil
	}
}

// RequirePermission allows the command only when has reports that the author holds permission
// (a name the denial shows: "you need the ManageMessages permission"): a check of your own,
// where RequirePermissions' calculation from the cache does not fit. An error from has means it
// could not tell.
func RequirePermission(permission string, has func(ctx *Context) (bool, error)) Check {
	return func(ctx *Context) error {
		ok, err := has(ctx)
		if err != nil {
			return fmt.Errorf("checking %s: %w", permission, err)
		}
		if !ok {
			return Deny("you need the %s permission", permission)
		}
		return nil
	}
}

// RequireRole allows the command only to members with a role named name (case-insensitive) in
// the server it is used in, from the member the message came with or the cache.
func RequireRole(name string) Check {
	return func(ctx *Context) error {
		if srv, member := ctx.Server(), ctx.Member(); srv != nil && member != nil {
			for _, r := range srv.GetRoles() {
				if strings.EqualFold(r.GetName(), name) && slices.Contains(member.GetRoles(), r.GetId()) {
					return nil
				}
			}
		}
		return Deny("you need the %s role", name)
	}
}

func isDenied(err error) (*Denied, bool) {
	var d *Denied
	ok := errors.As(err, &d)
	return d, ok
}
