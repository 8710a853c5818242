// Command modbot shows wait_for: "!kick <username>" asks the moderator to confirm with "yes"
// within 30 seconds, then kicks the member. The handler registers the wait before it asks
// (ermine.Expect), then waits for the confirmation in its own channel without holding the channel
// back: Wait detaches the handler first.
//
//	go run ./examples/modbot --fake
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/examples/internal/runner"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

func register(b *ermine.Bot) {
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		m := ev.GetMessage()
		name, ok := strings.CutPrefix(m.GetContent(), "!kick ")
		if !ok {
			return nil
		}
		ch := b.Cache().Channel(m.GetChannel())
		target, err := findMember(ctx, b, ch.GetServer(), name)
		if err != nil {
			return err
		}
		if target == "" {
			_, err := ctx.Reply(fmt.Sprintf("no member named %q here", name))
			return err
		}
		// Register the wait before asking, so that a quick "yes" cannot arrive before it exists.
		confirm, err := ermine.Expect(ctx, b, func(r *stoatpb.MessageCreateEvent) bool {
			return r.GetMessage().GetChannel() == m.GetChannel() && r.GetMessage().GetAuthor() == m.GetAuthor() &&
				strings.EqualFold(r.GetMessage().GetContent(), "yes")
		}, dispatch.WithTimeout(30*time.Second))
		if err != nil {
			return err
		}
		if _, err := ctx.Reply(fmt.Sprintf("kick %s? answer yes within 30s", name)); err != nil {
			confirm.Cancel()
			return err
		}
		_, err = confirm.Wait()
		if errors.Is(err, dispatch.ErrWaitTimeout) {
			_, err = ctx.Reply("no confirmation: nobody was kicked")
			return err
		}
		if err != nil {
			return err
		}
		if err := b.REST().KickMember(ctx, ch.GetServer(), target); err != nil {
			return err
		}
		_, err = ctx.Reply(name + " was kicked")
		return err
	})
}

// findMember looks a member up by username. A bot's Ready lists only its own memberships, so the
// member list comes from REST.
func findMember(ctx context.Context, b *ermine.Bot, server, username string) (string, error) {
	list, err := b.REST().FetchMembers(ctx, server)
	if err != nil {
		return "", err
	}
	for _, u := range list.Users {
		if u.GetUsername() == username {
			return u.GetId(), nil
		}
	}
	return "", nil
}

// script is the conversation played on the fake server (by --fake and by the test).
func script(ctx context.Context, s *runner.Script) error {
	if err := s.SayAndExpect(ctx, "!kick carol", "kick carol? answer yes within 30s"); err != nil {
		return err
	}
	return s.SayAndExpect(ctx, "yes", "carol was kicked")
}

func main() {
	runner.Main(register, script)
}
