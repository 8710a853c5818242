package ermine_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/ermine-rt/ermine"
)

// A bot that answers !ping, and a handler that asks for a confirmation in its own channel.
func Example() {
	bot, err := ermine.New(ermine.Config{Token: os.Getenv("STOAT_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	ermine.Handle(bot, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
		switch ev.GetMessage().GetContent() {
		case "!ping":
			_, err := ctx.Reply("pong") // REST, rate limits handled; detaches the handler first
			return err
		case "!reset":
			// Register the wait before asking, then wait without holding the channel back.
			yes, err := ermine.Expect(ctx, bot, func(r *ermine.MessageCreateEvent) bool {
				return r.GetMessage().GetAuthor() == ev.GetMessage().GetAuthor() && r.GetMessage().GetContent() == "yes"
			}, ermine.WithTimeout(30*time.Second))
			if err != nil {
				return err
			}
			if _, err := ctx.Reply("sure? answer yes"); err != nil {
				return err
			}
			if _, err := yes.Wait(); err != nil {
				return err
			}
			_, err = ctx.Reply("done")
			return err
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if os.Getenv("STOAT_TOKEN") != "" {
		if err := bot.Run(ctx); err != nil { // until ctx ends; then drains and stops (nil)
			log.Fatal(err) // the token was refused, or the connection ended for good
		}
	}
}
