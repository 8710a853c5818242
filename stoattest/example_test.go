package stoattest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// A client connects to the events URL with the server's token, receives Authenticated and
// Ready, then the events the server pushes. In a test, stoattest.NewServer(t) replaces Start and
// Close.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := stoattest.Start(ctx, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ws, _, err := websocket.Dial(ctx, srv.EventsURL()+"?version=1&format=json&token="+srv.Token(), nil)
	if err != nil {
		panic(err)
	}
	defer ws.CloseNow()
	dec := bonfire.NewDecoder(bonfire.JSON)
	next := func() stoatpb.Event {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			panic(err)
		}
		evs, err := dec.Decode(frame, nil)
		if err != nil {
			panic(err)
		}
		return evs[0]
	}

	fmt.Println(next().EventType())
	ready := next().(*stoatpb.ReadyEvent)
	fmt.Printf("%s: %d servers, %d channels\n", ready.Me.GetUsername(), len(ready.Servers), len(ready.Channels))

	general := srv.World().ChannelByName("general")
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: general.Id, Content: "hello"}); err != nil {
		panic(err)
	}
	msg := next().(*stoatpb.MessageCreateEvent).GetMessage()
	fmt.Printf("%s in #%s: %s\n", msg.GetUser().GetUsername(), general.GetName(), msg.GetContent())
	// Output:
	// AuthenticatedEvent
	// ermine: 2 servers, 5 channels
	// ermine in #general: hello
}
