package commands_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/commands"
)

// testRouter has a command for each argument type, checks and cooldowns, subcommands and help.
func testRouter(opts ...commands.Option) *commands.Router {
	r := commands.New(append([]commands.Option{commands.WithPrefix("!", "??")}, opts...)...)
	user := commands.User("user", "who")
	member := commands.Member("member", "who here")
	channel := commands.Channel("channel", "where")
	role := commands.Role("role", "which role")
	n := commands.Int("n", "how many").Default(1)
	d := commands.Duration("after", "when")
	word := commands.String("word", "one word or a quoted phrase")
	text := commands.Rest("text", "the rest").Optional()
	key, value := commands.String("key", "the setting"), commands.Rest("value", "its value")
	settings := map[string]string{}
	r.Add(
		&commands.Command{Name: "ping", Aliases: []string{"p"}, Description: "Answers pong.\nAnd nothing else.",
			Run: func(ctx *commands.Context) error { _, err := ctx.Reply("pong"); return err }},
		&commands.Command{Name: "whois", Args: []commands.Arg{user}, Run: func(ctx *commands.Context) error {
			u := user.Get(ctx)
			_, err := ctx.Reply(u.GetUsername() + "#" + u.GetDiscriminator())
			return err
		}},
		&commands.Command{Name: "member", Args: []commands.Arg{member}, Run: func(ctx *commands.Context) error {
			_, err := ctx.Reply(fmt.Sprintf("%s nick=%q", member.Get(ctx).GetId().GetUser(), member.Get(ctx).GetNickname()))
			return err
		}},
		&commands.Command{Name: "where", Args: []commands.Arg{channel}, Run: func(ctx *commands.Context) error {
			_, err := ctx.Reply("#" + channel.Get(ctx).GetName())
			return err
		}},
		&commands.Command{Name: "role", Args: []commands.Arg{role}, Run: func(ctx *commands.Context) error {
			_, err := ctx.Reply(role.Get(ctx).GetName())
			return err
		}},
		&commands.Command{Name: "args", Args: []commands.Arg{d, word, n, text}, Run: func(ctx *commands.Context) error {
			_, err := ctx.Reply(fmt.Sprintf("after=%v word=%q n=%d text=%q given=%v", d.Get(ctx), word.Get(ctx), n.Get(ctx), text.Get(ctx), text.Given(ctx)))
			return err
		}},
		&commands.Command{Name: "config", Description: "Settings.", Checks: []commands.Check{commands.Users(world().UserByName("alice").GetId())}, Subcommands: []*commands.Command{
			{Name: "set", Args: []commands.Arg{key, value}, Run: func(ctx *commands.Context) error {
				settings[key.Get(ctx)] = value.Get(ctx)
				_, err := ctx.Reply("ok")
				return err
			}},
			{Name: "get", Args: []commands.Arg{key}, Run: func(ctx *commands.Context) error {
				_, err := ctx.Reply(key.Get(ctx) + "=" + settings[key.Get(ctx)])
				return err
			}},
		}},
		&commands.Command{Name: "guild", Checks: []commands.Check{commands.ServerOnly()}, Run: reply("in a server")},
		&commands.Command{Name: "owner", Checks: []commands.Check{commands.BotOwner()}, Run: reply("hello, owner")},
		&commands.Command{Name: "sowner", Checks: []commands.Check{commands.ServerOwner()}, Run: reply("hello, server owner")},
		&commands.Command{Name: "mod", Checks: []commands.Check{commands.RequireRole("moderator")}, Run: reply("hello, moderator")},
		&commands.Command{Name: "manage", Checks: []commands.Check{commands.RequirePermission("ManageMessages",
			func(ctx *commands.Context) (bool, error) {
				if ctx.Message().GetContent() == "!manage broken" {
					return false, errors.New("no permission data")
				}
				return ctx.Author().GetUsername() == "alice", nil
			})}, Args: []commands.Arg{text}, Run: reply("managed")},
		&commands.Command{Name: "slow", Cooldown: commands.PerUser(1, time.Hour), Run: reply("slow ok")},
		&commands.Command{Name: "room", Cooldown: commands.PerChannel(1, time.Hour), Run: reply("room ok")},
		&commands.Command{Name: "fail", Run: func(*commands.Context) error { return errors.New("disk on fire") }},
		&commands.Command{Name: "refuse", Run: func(*commands.Context) error { return commands.Deny("not today") }},
		commands.Help(),
	)
	return r
}

func reply(text string) func(*commands.Context) error {
	return func(ctx *commands.Context) error { _, err := ctx.Reply(text); return err }
}

// expect checks the bot's answer to each line alice types in #general.
func expect(t *testing.T, h *harness, cases [][2]string) {
	t.Helper()
	alice, general := h.user("alice"), h.channel("general")
	for _, c := range cases {
		if got := h.say(alice, general, c[0]); got != c[1] {
			t.Errorf("%s\n got: %q\nwant: %q", c[0], got, c[1])
		}
	}
}

func TestPrefixes(t *testing.T) {
	h := start(t, testRouter(commands.WithMentionPrefix()))
	me := h.w.Self.GetId()
	expect(t, h, [][2]string{
		{"!ping", "pong"},
		{"??ping", "pong"},
		{"!p", "pong"},
		{"<@" + me + "> ping", "pong"},
		{"<@" + me + ">ping", "pong"},
	})
	alice, general := h.user("alice"), h.channel("general")
	for _, line := range []string{"!PING", "! ping", "!", "ping", "!nosuch", "?ping", "<@" + h.user("bob") + "> ping"} {
		h.ignored(alice, general, line, "!ping")
	}
	h.ignored(h.w.Self.GetId(), general, "!ping", "!p")
	h.ignored(helperID, general, "!ping", "!p")
}

func TestCaseInsensitiveAndBots(t *testing.T) {
	h := start(t, testRouter(commands.CaseInsensitive(), commands.WithBots()))
	expect(t, h, [][2]string{{"!PING", "pong"}, {"!Config SET x 1", "ok"}, {"!config get x", "x=1"}})
	if got := h.say(helperID, h.channel("general"), "!ping"); got != "pong" {
		t.Errorf("another bot's !ping: %q", got)
	}
	h.ignored(h.w.Self.GetId(), h.channel("general"), "!ping", "!p")
}

func TestMentionOnly(t *testing.T) {
	r := commands.New(commands.WithMentionPrefix())
	r.Add(&commands.Command{Name: "ping", Description: "Pong.", Run: reply("pong")}, commands.Help())
	h := start(t, r)
	me := "<@" + h.w.Self.GetId() + ">"
	expect(t, h, [][2]string{
		{me + " ping", "pong"},
		{me + "   help", "Commands:\n`@bot ping` — Pong.\n`@bot help [command...]` — Lists the commands, or explains one.\nMore about one: `@bot help <command>`"},
	})
	h.ignored(h.user("alice"), h.channel("general"), "!ping", me+" ping")
}

func TestArguments(t *testing.T) {
	h := start(t, testRouter())
	alice, bob := h.user("alice"), h.user("bob")
	random := h.channel("random")
	lobby := h.channel("lobby")
	mod := h.w.ServerByName("Ermine Lab").GetRoles()[0]
	expect(t, h, [][2]string{
		{"!whois <@" + alice + ">", "alice#1234"},
		{"!whois " + strings.ToLower(alice), "alice#1234"},
		{"!whois alice", "alice#1234"},
		{"!whois ALICE#1234", "alice#1234"},
		{"!whois alice#9999", "user: nobody I know is named \"alice#9999\"\nusage: `!whois <user>` (more: `!help whois`)"},
		{"!whois 01KBN0B0DY0000000000000000", "user: there is no user 01KBN0B0DY0000000000000000\nusage: `!whois <user>` (more: `!help whois`)"},
		{"!whois", "<user> is missing\nusage: `!whois <user>` (more: `!help whois`)"},
		{"!member <@" + h.user("carol") + ">", h.user("carol") + ` nick="caz"`},
		{"!member " + alice, alice + ` nick=""`},
		{"!member Alice", alice + ` nick=""`}, // alice's messages brought her membership
		{"!member <@" + daveID + ">", "member: <@" + daveID + "> is not a member of this server\nusage: `!member <member>` (more: `!help member`)"},
		{"!where <#" + random + ">", "#random"},
		{"!where " + random, "#random"},
		{"!where #Random", "#random"},
		{"!where <#" + lobby + ">", "channel: <#" + lobby + "> is not a channel of this server\nusage: `!where <channel>` (more: `!help where`)"},
		{"!role <%" + mod.GetId() + ">", "Moderator"},
		{"!role " + mod.GetId(), "Moderator"},
		{"!role moderator", "Moderator"},
		{`!role "Bot"`, "Bot"},
		{"!role Admin", "role: this server has no role \"Admin\"\nusage: `!role <role>` (more: `!help role`)"},
		{"!args 1d12h word", `after=36h0m0s word="word" n=1 text="" given=false`},
		{`!args 90s "two words" 3 and the   rest`, `after=1m30s word="two words" n=3 text="and the   rest" given=true`},
		{"!args 5 x", "after: \"5\" has no unit: write e.g. 5s or 5m\nusage: `!args <after> <word> [n=1] [text...]` (more: `!help args`)"},
		{"!args 5m x many", "n: \"many\" is not a whole number\nusage: `!args <after> <word> [n=1] [text...]` (more: `!help args`)"},
		{`!args 5m "unclosed`, "the quote in \"unclosed is not closed\nusage: `!args <after> <word> [n=1] [text...]` (more: `!help args`)"},
		{"!ping now", "I did not expect \"now\"\nusage: `!ping` (more: `!help ping`)"},
	})
	// dave is in no cache: the bot fetched him. bob's membership is not in a bot's Ready: fetched.
	expect(t, h, [][2]string{{"!whois <@" + daveID + ">", "dave#7777"}, {"!member <@" + bob + ">", bob + ` nick=""`}})
	routes := h.srv.Stats().Routes
	if routes["GET /users/{target}"] == 0 || routes["GET /servers/{target}/members/{member}"] == 0 {
		t.Errorf("no REST fetch of an uncached user and member: %v", routes)
	}
}

func TestChecks(t *testing.T) {
	h := start(t, testRouter(commands.WithErrorReply("something went wrong")))
	alice, bob, general := h.user("alice"), h.user("bob"), h.channel("general")
	expect(t, h, [][2]string{
		{"!guild", "in a server"},
		{"!owner", "hello, owner"},
		{"!sowner", "hello, server owner"},
		{"!mod", "hello, moderator"},
		{"!manage", "managed"},
		{"!manage broken", "something went wrong"},
		{"!refuse", "not today"},
		{"!fail", "something went wrong"},
	})
	for line, want := range map[string]string{
		"!owner":  "only the bot's owner can use this command",
		"!sowner": "only the server's owner can use this command",
		"!mod":    "you need the moderator role",
		"!manage": "you need the ManageMessages permission",
	} {
		if got := h.say(bob, general, line); got != want {
			t.Errorf("bob: %s: %q, want %q", line, got, want)
		}
	}
	if got := h.say(bob, general, "!config set x 1"); got != "you are not allowed to use this command" {
		t.Errorf("bob: !config set (alice only): %q", got)
	}
	if got := h.say(alice, h.dm(), "!guild"); got != "this command works only in a server" {
		t.Errorf("!guild in a DM: %q", got)
	}
	logs := h.logs.String()
	for _, want := range []string{"command=fail err=\"disk on fire\"", "command=manage err=\"checking ManageMessages: no permission data\""} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s:\n%s", want, logs)
		}
	}
}

func TestErrorsWithoutReply(t *testing.T) {
	h := start(t, testRouter())
	h.ignored(h.user("alice"), h.channel("general"), "!fail", "!ping")
	if !strings.Contains(h.logs.String(), "command failed") {
		t.Errorf("the failure was not logged:\n%s", h.logs.String())
	}
}

func TestCooldowns(t *testing.T) {
	h := start(t, testRouter())
	alice, bob := h.user("alice"), h.user("bob")
	general, random := h.channel("general"), h.channel("random")
	for _, c := range []struct{ user, channel, line, want string }{
		{alice, general, "!slow", "slow ok"},
		{alice, general, "!slow", "slow down: try again in 1h0m0s"},
		{alice, random, "!slow", "slow down: try again in 1h0m0s"}, // per user, wherever
		{bob, general, "!slow", "slow ok"},
		{alice, general, "!room", "room ok"},
		{bob, general, "!room", "slow down: try again in 1h0m0s"}, // per channel, whoever
		{bob, random, "!room", "room ok"},
	} {
		if got := h.say(c.user, c.channel, c.line); got != c.want {
			t.Errorf("%s in %s: %q, want %q", c.line, c.channel, got, c.want)
		}
	}
}

func TestSubcommandsAndHelp(t *testing.T) {
	h := start(t, testRouter())
	expect(t, h, [][2]string{
		{"!config set colour dark blue", "ok"},
		{"!config get colour", "colour=dark blue"},
		{"!config", "which one?\nusage: `!config <set|get>` (more: `!help config`)"},
		{"!config drop colour", "there is no \"drop\" here\nusage: `!config <set|get>` (more: `!help config`)"},
		{"!config set colour", "<value...> is missing\nusage: `!config set <key> <value...>` (more: `!help config set`)"},
		{"!help ping", "`!ping`\nAnswers pong.\nAnd nothing else.\naliases: p"},
		{"!help !config", "`!config <set|get>`\nSettings.\n`!config set <key> <value...>` — \n`!config get <key>` — "},
		{"!help config set", "`!config set <key> <value...>`\n• key (text): the setting\n• value (text): its value"},
		{"!help args", "`!args <after> <word> [n=1] [text...]`\n• after (duration): when\n• word (text): one word or a quoted phrase\n• n (number, default 1): how many\n• text (text, optional): the rest"},
		{"!help slow", "`!slow`\ncooldown: 1 per 1h0m0s per user"},
		{"!help nosuch", "there is no command \"nosuch\": `!help` lists them"},
	})
	list := h.say(h.user("alice"), h.channel("general"), "!help")
	for _, want := range []string{"Commands:\n`!ping` — Answers pong.\n`!whois <user>` — \n", "\n`!help [command...]` — Lists the commands, or explains one.\nMore about one: `!help <command>`"} {
		if !strings.Contains(list, want) {
			t.Errorf("!help lacks %q:\n%s", want, list)
		}
	}
}
