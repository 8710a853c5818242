package shardactor_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// A shard against the fake Stoat server: the events in order, a typing indicator sent through
// the shard (the server echoes it back), then a graceful stop.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := stoattest.Start(ctx, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	defer system.Shutdown()

	ready, typing := make(chan struct{}), make(chan struct{})
	sink := func(ctx context.Context, ev stoatpb.Event, _ int) error {
		if _, ok := ev.(*stoatpb.PongEvent); ok {
			return nil // the heartbeat's answers
		}
		fmt.Println(ev.GetShard(), ev.EventType())
		switch ev.(type) {
		case *stoatpb.ReadyEvent:
			close(ready)
		case *stoatpb.ChannelStartTypingEvent:
			close(typing)
		}
		return nil
	}
	shard, err := shardactor.Spawn(ctx, system, shardactor.Config{
		Name:  "shard-0",
		URL:   srv.EventsURL(),
		Token: srv.Token(),
	}, sink)
	if err != nil {
		panic(err)
	}

	<-ready
	general := srv.World().ChannelByName("general").GetId()
	if err := shard.Send(ctx, &stoatpb.BeginTypingFrame{Channel: general}); err != nil {
		panic(err)
	}
	<-typing
	shard.Stop()
	fmt.Println(shard.Wait())
	// Output:
	// shard-0 BeforeConnectEvent
	// shard-0 AfterConnectEvent
	// shard-0 AuthenticatedEvent
	// shard-0 ReadyEvent
	// shard-0 ChannelStartTypingEvent
	// shardactor: stopped
}
