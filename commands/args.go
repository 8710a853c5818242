package commands

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Arg is an argument of a Command: one of the *Param values this package builds (Int, User,
// Rest…, or NewParam for a type of your own).
type Arg interface {
	spec() *argSpec
	parse(ctx *Context, word string) (any, error)
}

// argSpec is what every argument declares, whatever its type.
type argSpec struct {
	name, desc, kind string
	rest             bool // takes the rest of the line
	optional         bool
	def              string // the default, as help shows it ("" when none)
}

// Param is an argument whose value has type T. Declare it once, list it in Command.Args, and read
// it in Run with Get. Its setters (Optional, Default) return it so they chain; call them before
// the command is added to a Router.
type Param[T any] struct {
	s    argSpec
	conv func(ctx *Context, word string) (T, error)
	def  T
}

// NewParam returns an argument of a type of your own: kind names it in help ("colour"), conv
// turns one word (or quoted phrase) into a value, or returns an error that tells the user what
// was wrong with it ("\"x\" is not a colour"). Errors that are not about the input (a failed
// REST call) should be wrapped with Internal so they are logged instead of shown.
func NewParam[T any](name, description, kind string, conv func(ctx *Context, word string) (T, error)) *Param[T] {
	return &Param[T]{s: argSpec{name: name, desc: description, kind: kind}, conv: conv}
}

// Optional makes the argument optional: absent, Get returns T's zero value (see Given).
func (p *Param[T]) Optional() *Param[T] {
	p.s.optional = true
	return p
}

// Default makes the argument optional with a value when absent.
func (p *Param[T]) Default(v T) *Param[T] {
	p.s.optional = true
	p.s.def = fmt.Sprint(v)
	p.def = v
	return p
}

// Get returns the argument's value in the command being run.
func (p *Param[T]) Get(ctx *Context) T {
	if v, ok := ctx.values[p]; ok {
		return v.(T)
	}
	return p.def
}

// Given reports whether the user gave the argument.
func (p *Param[T]) Given(ctx *Context) bool {
	_, ok := ctx.values[p]
	return ok
}

func (p *Param[T]) spec() *argSpec { return &p.s }

func (p *Param[T]) parse(ctx *Context, word string) (any, error) { return p.conv(ctx, word) }

// Internal marks err as a failure of the bot rather than of the user's input: the router logs it
// and answers like a failed command, without showing it.
func Internal(err error) error { return internalError{err} }

type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

func isInternal(err error) bool { return errors.As(err, new(internalError)) }

// Int is a whole number argument.
func Int(name, description string) *Param[int] {
	return NewParam(name, description, "number", func(_ *Context, w string) (int, error) {
		n, err := strconv.Atoi(w)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", w)
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", w)
		}
		return n, nil
	})
}

// Duration is a duration argument: Go's syntax ("90s", "1h30m") with days and weeks ("2d",
// "1w"); see ParseDuration.
func Duration(name, description string) *Param[time.Duration] {
	return NewParam(name, description, "duration", func(_ *Context, w string) (time.Duration, error) {
		return ParseDuration(w)
	})
}

// String is a one-word argument, or a phrase in quotes ("two words").
func String(name, description string) *Param[string] {
	return NewParam(name, description, "text", func(_ *Context, w string) (string, error) { return w, nil })
}

// Rest is the rest of the line, as typed (quotes included). It must be a command's last
// argument.
func Rest(name, description string) *Param[string] {
	p := String(name, description)
	p.s.rest = true
	return p
}

// User is a user argument: a mention (<@ID>), an id, or a username ("alice" or "alice#1234").
// A mention or an id is looked up in the cache, then fetched over REST (bot.FetchUser, which
// detaches the handler) if the cache does not have it; a username is looked up among the cached
// users only (a scan of them all: mentions and ids are the cheap way).
func User(name, description string) *Param[*stoatpb.User] {
	return NewParam(name, description, "user", resolveUser)
}

// Member is a member of the server the command is used in: a mention, an id, a username or a
// nickname. A mention or an id is looked up in the cache, then fetched over REST
// (bot.FetchMember); a name among the cached members of the server.
func Member(name, description string) *Param[*stoatpb.Member] {
	return NewParam(name, description, "member", resolveMember)
}

// Channel is a channel argument: a channel mention (<#ID>), an id, or a name (with or without
// "#"). In a server, only the server's channels are accepted.
func Channel(name, description string) *Param[*stoatpb.Channel] {
	return NewParam(name, description, "channel", resolveChannel)
}

// Role is a role of the server the command is used in: a role mention (<%ID>), an id, or its name
// (case-insensitive).
func Role(name, description string) *Param[*stoatpb.Role] {
	return NewParam(name, description, "role", resolveRole)
}
