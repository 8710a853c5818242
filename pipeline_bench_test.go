package ermine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// BenchmarkPipeline measures the in-process pipeline: decoded MessageCreate events → router →
// channel owners → one no-op handler → cache update, with 1, 100 and 10k active channels. The
// events are all built before the clock starts, so the figures are the runtime's own cost.
//
//	go test -run '^$' -bench Pipeline -benchmem .
func BenchmarkPipeline(b *testing.B) {
	for _, channels := range []int{1, 100, 10_000} {
		for _, handlers := range []string{"handler", "no-handler"} {
			b.Run(fmt.Sprintf("channels=%d/%s", channels, handlers), func(b *testing.B) {
				benchPipeline(b, channels, handlers == "handler")
			})
		}
	}
}

func benchPipeline(b *testing.B, channels int, withHandler bool) {
	bot, err := ermine.New(ermine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer bot.Close(context.Background())
	if withHandler {
		ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error { return nil })
	}
	ids := make([]string, channels)
	rd := &stoatpb.ReadyEvent{Users: []*stoatpb.User{{Id: me, Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER}}}
	for i := range ids {
		ids[i] = fmt.Sprintf("01CH%022d", i)
		rd.Channels = append(rd.Channels, &stoatpb.Channel{Id: ids[i], ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Server: server, Name: "c"})
	}
	ctx := context.Background()
	f, err := feed.Start(ctx, bot)
	if err != nil {
		b.Fatal(err)
	}
	src := f.Source("bench")
	if err := src.Ingest(ctx, rd); err != nil {
		b.Fatal(err)
	}
	if err := f.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	// Every event is built before the clock starts, and nothing pauses it: the owners process
	// in the background, so allocations made while a paused benchmark built its next batch
	// would not be counted.
	evs := make([]stoatpb.Event, b.N)
	for i := range evs {
		evs[i] = &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
			Id: fmt.Sprintf("01M%023d", i), Channel: ids[i%channels], Author: alice, Content: "hello",
		}}
	}
	b.ReportAllocs()
	created := goroutinesCreated()
	b.ResetTimer()
	start := time.Now()
	for _, ev := range evs {
		if err := src.Ingest(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(goroutinesCreated()-created)/float64(b.N), "goroutines/event")
}
