// Command pingbot is the smallest useful ermine bot: it answers "!ping" with "pong" and repeats
// what follows "!echo", replying through the REST client.
//
//	go run ./examples/pingbot --fake          # against an embedded fake Stoat, no account needed
//	STOAT_TOKEN=… go run ./examples/pingbot   # against Stoat
package main

import (
	"context"
	"strings"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/examples/internal/runner"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// register installs the bot's handlers.
func register(b *ermine.Bot) {
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		m := ev.GetMessage()
		if m.GetAuthor() == b.Cache().Me().GetId() {
			return nil // never answer ourselves
		}
		switch content := m.GetContent(); {
		case content == "!ping":
			_, err := ctx.Reply("pong")
			return err
		case strings.HasPrefix(content, "!echo "):
			_, err := ctx.Reply(strings.TrimPrefix(content, "!echo "))
			return err
		}
		return nil
	})
}

// script is the conversation played on the fake server (by --fake and by the test).
func script(ctx context.Context, s *runner.Script) error {
	return s.SayAndExpect(ctx, "!ping", "pong")
}

func main() {
	runner.Main(register, script)
}
