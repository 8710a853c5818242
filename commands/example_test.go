package commands_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/commands"
)

// A bot with a typed command, checks, a cooldown and help: "!kick @bob spamming".
func Example() {
	bot, err := ermine.New(ermine.Config{Token: os.Getenv("STOAT_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	who := commands.Member("member", "who to kick")
	reason := commands.Rest("reason", "why").Optional()

	router := commands.New(commands.WithPrefix("!"), commands.WithMentionPrefix())
	router.Add(
		&commands.Command{
			Name:        "kick",
			Description: "Kicks a member out of the server.",
			Args:        []commands.Arg{who, reason},
			Checks:      []commands.Check{commands.ServerOnly(), commands.RequireRole("Moderator")},
			Cooldown:    commands.PerUser(3, time.Minute),
			Run: func(ctx *commands.Context) error {
				m := who.Get(ctx)
				if err := ctx.Bot().REST().KickMember(ctx, m.GetId().GetServer(), m.GetId().GetUser()); err != nil {
					return err // logged; WithErrorReply would answer it
				}
				_, err := ctx.Reply(fmt.Sprintf("kicked: %s", reason.Get(ctx)))
				return err
			},
		},
		commands.Help(),
	)
	ermine.Handle(bot, router.Handle)
	if err := bot.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func ExampleParseDuration() {
	for _, s := range []string{"90s", "1h30m", "2d", "1w3d12h", "10"} {
		d, err := commands.ParseDuration(s)
		fmt.Println(d, err)
	}
	// Output:
	// 1m30s <nil>
	// 1h30m0s <nil>
	// 48h0m0s <nil>
	// 252h0m0s <nil>
	// 0s "10" has no unit: write e.g. 10s or 10m
}
