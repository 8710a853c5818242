// Command commandbot shows the commands package: typed arguments, a permission check, a
// cooldown and generated help.
//
//	!whois <user>                 a user by mention, id or username
//	!warn <member> <reason...>    counts a warning; needs ManageMessages
//	!remind <in> <text...>        replies again after a while (2 an hour per user)
//	!help [command...]
//
//	go run ./examples/commandbot --fake
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/commands"
	"github.com/ermine-rt/ermine/examples/internal/runner"
)

// warnings counts the warnings of each member. Commands of different channels run in parallel,
// hence the lock.
type warnings struct {
	mu    sync.Mutex
	count map[string]int // server/user → warnings
}

func (w *warnings) add(server, user string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.count[server+"/"+user]++
	return w.count[server+"/"+user]
}

// maxReminder bounds reminders: they wait in the bot's memory, and a graceful stop waits for them
// (up to Config.ShutdownTimeout).
const maxReminder = time.Minute

func register(b *ermine.Bot) {
	who := commands.User("user", "a mention, an id or a username")
	member := commands.Member("member", "who is warned")
	reason := commands.Rest("reason", "why")
	after := commands.Duration("in", "how long to wait: 30s, 1m…")
	text := commands.Rest("text", "what to remind you of")
	warned := &warnings{count: map[string]int{}}

	router := commands.New(commands.WithPrefix("!"), commands.WithMentionPrefix(),
		commands.WithErrorReply("sorry, that failed"))
	router.Add(
		&commands.Command{
			Name:        "whois",
			Description: "Tells who a user is.",
			Args:        []commands.Arg{who},
			Run: func(ctx *commands.Context) error {
				u := who.Get(ctx)
				answer := fmt.Sprintf("%s#%s", u.GetUsername(), u.GetDiscriminator())
				if name := u.GetDisplayName(); name != "" {
					answer += " (" + name + ")"
				}
				if u.GetBot() != nil {
					answer += ", a bot"
				}
				_, err := ctx.Reply(answer)
				return err
			},
		},
		&commands.Command{
			Name:        "warn",
			Description: "Warns a member, and counts their warnings.",
			Args:        []commands.Arg{member, reason},
			Checks:      []commands.Check{commands.ServerOnly(), commands.RequirePermissions(ermine.PermManageMessages)},
			Run: func(ctx *commands.Context) error {
				id := member.Get(ctx).GetId()
				n := warned.add(id.GetServer(), id.GetUser())
				name := "<@" + id.GetUser() + ">"
				if u := b.Cache().User(id.GetUser()); u != nil {
					name = u.GetUsername()
				}
				_, err := ctx.Reply(fmt.Sprintf("%s has %d warning(s) now: %s", name, n, reason.Get(ctx)))
				return err
			},
		},
		&commands.Command{
			Name:        "remind",
			Aliases:     []string{"r"},
			Description: "Replies to you again after a while (a minute at most).",
			Args:        []commands.Arg{after, text},
			Cooldown:    commands.PerUser(2, time.Hour),
			Run: func(ctx *commands.Context) error {
				d := after.Get(ctx)
				if d > maxReminder {
					return commands.Deny("I remind at most %v ahead", maxReminder)
				}
				if _, err := ctx.Reply(fmt.Sprintf("I'll remind you in %v: %s", d, text.Get(ctx))); err != nil {
					return err
				}
				// The Reply detached the handler: waiting holds nothing back.
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil // the bot stops
				}
				_, err := ctx.Reply("⏰ " + text.Get(ctx))
				return err
			},
		},
		commands.Help(),
	)
	ermine.Handle(b, router.Handle)
}

// script is the conversation played on the fake server (by --fake and by the test).
func script(ctx context.Context, s *runner.Script) error {
	for _, step := range [][2]string{
		{"!help", "Commands:\n" +
			"`!whois <user>` — Tells who a user is.\n" +
			"`!warn <member> <reason...>` — Warns a member, and counts their warnings.\n" +
			"`!remind <in> <text...>` — Replies to you again after a while (a minute at most).\n" +
			"`!help [command...]` — Lists the commands, or explains one.\n" +
			"More about one: `!help <command>`"},
		{"!help remind", "`!remind <in> <text...>`\nReplies to you again after a while (a minute at most).\naliases: r\n" +
			"• in (duration): how long to wait: 30s, 1m…\n• text (text): what to remind you of\ncooldown: 2 per 1h0m0s per user"},
		{"!whois alice", "alice#1234 (Alice)"},
		{"!whois", "<user> is missing\nusage: `!whois <user>` (more: `!help whois`)"},
		{"!warn alice testing the warnings", "alice has 1 warning(s) now: testing the warnings"},
		{"!remind soon stretch", "in: \"soon\" is not a duration (e.g. 90s, 10m, 1h30m, 2d)\nusage: `!remind <in> <text...>` (more: `!help remind`)"},
		{"!remind 1s stretch", "I'll remind you in 1s: stretch"},
		{"!r 2s drink water", "I'll remind you in 2s: drink water"},
		{"!remind 1s again", "slow down: try again in 1h0m0s"},
	} {
		if err := s.SayAndExpect(ctx, step[0], step[1]); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	runner.Main(register, script)
}
