package commands

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Router finds the command a message invokes and runs it. Register its Handle method as an
// ordinary handler:
//
//	ermine.Handle(bot, router.Handle)
//
// so commands run on the owner of the message's channel, in the channel's message order, with
// the handler's guarantees (see package dispatch). Add every command before the bot runs: Add is
// not safe to call while Handle runs; Handle is safe for concurrent use.
type Router struct {
	prefixes   []string // longest first, so "!!" wins over "!"
	shown      string   // the first prefix configured, as help writes commands
	mention    bool
	fold       bool
	bots       bool
	errorReply string
	commands   []*Command
	byName     map[string]*Command
	help       *Command // the Help command, if added
}

// Option configures a Router.
type Option func(*Router)

// WithPrefix sets the prefixes that start a command ("!", "?"). Without any, only the bot's
// mention does (WithMentionPrefix).
func WithPrefix(prefixes ...string) Option {
	return func(r *Router) { r.prefixes = append(r.prefixes, prefixes...) }
}

// WithMentionPrefix makes a mention of the bot ("<@BOTID> ping") start a command too.
func WithMentionPrefix() Option { return func(r *Router) { r.mention = true } }

// CaseInsensitive matches prefixes and command names whatever their case ("!PING").
func CaseInsensitive() Option { return func(r *Router) { r.fold = true } }

// WithBots lets other bots (and webhooks) run commands; by default their messages are ignored.
// The bot's own messages are always ignored.
func WithBots() Option { return func(r *Router) { r.bots = true } }

// WithErrorReply answers text to the user when a command's Run (or a check) fails with an error
// that is not a Denied; the error itself is only logged. By default nothing is answered.
func WithErrorReply(text string) Option { return func(r *Router) { r.errorReply = text } }

// New returns a Router with the options.
func New(opts ...Option) *Router {
	r := &Router{byName: map[string]*Command{}}
	for _, o := range opts {
		o(r)
	}
	if len(r.prefixes) > 0 {
		r.shown = r.prefixes[0]
	}
	if r.fold {
		for i, p := range r.prefixes {
			r.prefixes[i] = strings.ToLower(p)
		}
	}
	slices.SortStableFunc(r.prefixes, func(a, b string) int { return len(b) - len(a) })
	return r
}

// Add adds commands. It panics if a definition is wrong (two commands or arguments with the same
// name, a required argument after an optional one, a Rest that is not last, a command with
// neither Run nor Subcommands): mistakes that show the first time the bot starts.
func (r *Router) Add(cmds ...*Command) {
	for _, c := range cmds {
		c.index(nil, r.fold)
		addNames(r.byName, c, r.fold, "")
		r.commands = append(r.commands, c)
		if c.help {
			r.help = c
		}
	}
}

// Commands returns the commands added, in the order they were.
func (r *Router) Commands() []*Command { return slices.Clone(r.commands) }

// Handle is the router's handler for MessageCreate events: it ignores messages that are not
// commands, and runs the one a message invokes (see Command). It returns an error only when an
// answer to the user could not be sent; the errors of commands are logged through ctx.Logger().
func (r *Router) Handle(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
	m := ev.GetMessage()
	if m.GetSystem() != nil || m.GetAuthor() == ctx.Me().GetId() {
		return nil
	}
	if !r.bots && (m.GetWebhook() != nil || ctx.Author().GetBot() != nil) {
		return nil
	}
	prefix, line, ok := r.strip(m.GetContent(), ctx.Me().GetId())
	if !ok {
		return nil
	}
	sc := &scanner{s: line}
	name, _, err := sc.next()
	cmd := r.byName[r.key(name)]
	if err != nil || cmd == nil {
		return nil // not one of ours: another bot may share the prefix
	}
	// Descend into subcommands while the next word names one.
	for len(cmd.subs) > 0 {
		save := sc.pos
		word, _, err := sc.next()
		sub := cmd.subs[r.key(word)]
		if err != nil || sub == nil {
			sc.pos = save
			break
		}
		cmd = sub
	}
	return r.run(&Context{Context: ctx, Router: r, Command: cmd, Prefix: prefix}, sc)
}

// strip cuts a prefix off content: the longest matching text prefix, or the bot's mention
// followed by optional space.
func (r *Router) strip(content, me string) (prefix, line string, ok bool) {
	for _, p := range r.prefixes {
		if len(content) >= len(p) && (content[:len(p)] == p || r.fold && strings.EqualFold(content[:len(p)], p)) {
			line = content[len(p):]
			if r, _ := utf8.DecodeRuneInString(line); line == "" || unicode.IsSpace(r) {
				continue // "!" alone or "! ping" is not a command
			}
			return content[:len(p)], line, true
		}
	}
	if r.mention && me != "" {
		if line, ok := strings.CutPrefix(content, "<@"+me+">"); ok {
			return "<@" + me + "> ", line, true
		}
	}
	return "", "", false
}

func (r *Router) key(name string) string {
	if r.fold {
		return strings.ToLower(name)
	}
	return name
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }
