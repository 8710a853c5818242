package rest_test

import (
	"context"
	"fmt"

	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/stoattest"
)

func Example() {
	ctx := context.Background()
	srv, err := stoattest.Start(ctx, "127.0.0.1:0") // a fake Stoat server
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	general := srv.World().ChannelByName("general")

	lim := rest.NewLimiter() // one per runtime, shared by every client
	c := rest.New(srv.Token(), rest.WithBaseURL(srv.URL), rest.WithLimiter(lim))

	msg, err := c.SendMessage(ctx, general.Id, rest.SendMessage{
		Content: "pong",
		Replies: []rest.Reply{{ID: general.LastMessageId, Mention: false}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.GetContent(), msg.GetReplies()[0] == general.LastMessageId)

	_, err = c.FetchMessage(ctx, general.Id, "01AAAAAAAAAAAAAAAAAAAAAAAA")
	if rest.IsNotFound(err) {
		e, _ := rest.AsError(err)
		fmt.Println(e.Status, e.Type, e.Route)
	}
	// Output:
	// pong true
	// 404 NotFound /channels/{channel}/messages/{message}
}
