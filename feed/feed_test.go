package feed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestStartFeedsAndStopsWithTheBot: a started feed's events reach handlers and the cache
// without a token or a connection, and its Run ends when the bot is closed.
func TestStartFeedsAndStopsWithTheBot(t *testing.T) {
	bot, err := ermine.New(ermine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 1)
	ermine.Handle(bot, func(_ *ermine.Context, ev *ermine.MessageCreateEvent) error {
		handled <- ev.GetMessage().GetContent()
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := feed.Start(ctx, bot)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Registry().HasSubscribers(stoatpb.EventTypeMessageCreate) {
		t.Error("the registry does not know the handler")
	}
	const ch = "01CHANNEL00000000000000000"
	src := f.Source("s0")
	if err := src.Ingest(ctx, &stoatpb.ReadyEvent{Channels: []*stoatpb.Channel{{Id: ch, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL}}}); err != nil {
		t.Fatal(err)
	}
	if err := src.IngestSized(ctx, &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: "01MSG", Channel: ch, Content: "hi"}}, 100); err != nil {
		t.Fatal(err)
	}
	if err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-handled; got != "hi" || len(bot.Cache().Messages(ch)) != 1 {
		t.Fatalf("handled %q, cached %d messages", got, len(bot.Cache().Messages(ch)))
	}
	if err := bot.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Done():
		if err := f.Err(); err != nil {
			t.Errorf("Run after Close = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after Close")
	}
	if err := src.Ingest(ctx, &stoatpb.MessageCreateEvent{}); !errors.Is(err, ermine.ErrClosed) {
		t.Errorf("Ingest after Close = %v, want ErrClosed", err)
	}
	if _, err := feed.Start(ctx, bot); !errors.Is(err, ermine.ErrClosed) {
		t.Errorf("Start on a closed bot = %v, want ErrClosed", err)
	}
}

// TestStartStopsTheBotWhenCtxEnds: like Run, a feed's bot stops when Start's context ends.
func TestStartStopsTheBotWhenCtxEnds(t *testing.T) {
	bot, err := ermine.New(ermine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f, err := feed.Start(ctx, bot)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-f.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if err := f.Source("s0").Ingest(context.Background(), &stoatpb.MessageCreateEvent{}); !errors.Is(err, ermine.ErrClosed) {
		t.Errorf("Ingest after the stop = %v, want ErrClosed", err)
	}
}
