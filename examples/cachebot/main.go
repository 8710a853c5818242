// Command cachebot answers questions from the cache, without a REST call: "!members" (how many
// members this server has cached), "!server" (its name and channels), "!whois <username>".
//
//	go run ./examples/cachebot --fake
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/examples/internal/runner"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

func register(b *ermine.Bot) {
	ermine.Handle(b, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		m := ev.GetMessage()
		cache := b.Cache()
		server := cache.Channel(m.GetChannel()).GetServer()
		var answer string
		switch content := m.GetContent(); {
		case content == "!members":
			answer = fmt.Sprintf("%d members cached", len(cache.Members(server)))
		case content == "!server":
			s := cache.Server(server)
			var names []string
			for _, id := range s.GetChannels() {
				names = append(names, "#"+cache.Channel(id).GetName())
			}
			answer = fmt.Sprintf("%s: %s", s.GetName(), strings.Join(names, " "))
		case strings.HasPrefix(content, "!whois "):
			name := strings.TrimPrefix(content, "!whois ")
			answer = "nobody by that name"
			for _, id := range cache.UserIDs() {
				if u := cache.User(id); u.GetUsername() == name {
					answer = fmt.Sprintf("%s (%s), online: %v", u.GetUsername(), u.GetId(), u.GetOnline())
				}
			}
		default:
			return nil
		}
		_, err := ctx.Reply(answer)
		return err
	})
}

// script is the conversation played on the fake server (by --fake and by the test).
func script(ctx context.Context, s *runner.Script) error {
	return s.SayAndExpect(ctx, "!server", "Ermine Lab: #general #random #voice")
}

func main() {
	runner.Main(register, script)
}
