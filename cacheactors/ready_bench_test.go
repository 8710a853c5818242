package cacheactors

import (
	"fmt"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// BenchmarkReadyIngestion measures a Ready of 100 servers × 1,000 channels (100k channel seeds,
// 100 server seeds, the user partitions): from Route to the Ready's handler having run, i.e.
// every seed applied and acknowledged to the shard owner. /first spawns every owner (a fresh
// runtime per iteration); /again is a re-Ready of the same world on a warm runtime.
//
//	go test -run '^$' -bench ReadyIngestion -benchmem ./cacheactors
func BenchmarkReadyIngestion(b *testing.B) {
	const servers, perServer = 100, 1000
	ready := func() *stoatpb.ReadyEvent {
		rd := &stoatpb.ReadyEvent{Users: []*stoatpb.User{{Id: "01ME", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER}}}
		for s := range servers {
			sid := fmt.Sprintf("01SV%022d", s)
			srv := &stoatpb.Server{Id: sid, Name: "s"}
			for c := range perServer {
				cid := fmt.Sprintf("01CH%022d", s*perServer+c)
				srv.Channels = append(srv.Channels, cid)
				rd.Channels = append(rd.Channels, &stoatpb.Channel{Id: cid, ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Server: sid, Name: "c"})
			}
			rd.Servers = append(rd.Servers, srv)
			rd.Members = append(rd.Members, &stoatpb.Member{Id: &stoatpb.MemberId{Server: sid, User: "01ME"}})
		}
		return rd
	}
	seeds := float64(servers*perServer + servers)
	run := func(b *testing.B, r *rig, rd *stoatpb.ReadyEvent, handled *int) {
		want := *handled + 1
		r.run(rd)
		if *handled != want {
			b.Fatalf("Ready handler ran %d times, want %d", *handled, want)
		}
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			rd := ready()
			r := newRig(b, Policy{})
			handled := 0
			handle(r, func(*stoatpb.ReadyEvent) { handled++ })
			b.StartTimer()
			run(b, r, rd, &handled)
			b.StopTimer()
			if got := len(r.store.ChannelIDs()); got != servers*perServer {
				b.Fatalf("%d channels cached, want %d", got, servers*perServer)
			}
			b.StartTimer()
		}
		b.ReportMetric(seeds*float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
	})
	b.Run("again", func(b *testing.B) {
		r := newRig(b, Policy{})
		handled := 0
		handle(r, func(*stoatpb.ReadyEvent) { handled++ })
		run(b, r, ready(), &handled)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			rd := ready()
			b.StartTimer()
			run(b, r, rd, &handled)
		}
		b.ReportMetric(seeds*float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
	})
}
