package cacheactors

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
)

// The memory figures: heap in use after runtime.GC, before and after a stream, divided by the
// number of entries the stream left in the cache. The events go through the JSON decoder first,
// so strings are laid out as on a live connection (the decoder interns short ids).
//
//	go test -run '^$' -bench CacheMemory -benchtime 1x ./cacheactors
//
// BenchmarkCacheMemory/message: 200k synthetic messages (content of 5-16 words, a nonce, 10 % with
// a reply) over 100 channels with the default bound of 1,000 per channel: 100k messages cached,
// the windows full and evicting. /member: 1M ServerMemberJoin (10 servers × 100k). /user: a Ready
// of 100k users.
func BenchmarkCacheMemory(b *testing.B) {
	b.Run("message", func(b *testing.B) { benchMessageMemory(b, Policy{}) })
	b.Run("message/full", func(b *testing.B) { benchMessageMemory(b, Policy{FullMessages: true}) })
	b.Run("member", benchMemberMemory)
	b.Run("user", benchUserMemory)
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// report reports the heap per entry: B/<unit> with the owners still running (what a live bot
// holds, including the runtime's own state grown by the burst: mailboxes, actor goroutines),
// cache-B/<unit> once the owners are closed (the cache alone: the Store and what it references),
// and est-B/<unit>, Store.Stats' estimate.
func report(b *testing.B, r *rig, before uint64, unit string, n int, est int64) {
	live := heapInUse()
	r.dir.Close(context.Background())
	r.dir = nil
	cache := heapInUse()
	b.ReportMetric(float64(int64(live)-int64(before))/float64(n), "B/"+unit)
	b.ReportMetric(float64(int64(cache)-int64(before))/float64(n), "cache-B/"+unit)
	b.ReportMetric(float64(est)/float64(n), "est-B/"+unit)
	b.ReportMetric(float64(n), unit+"s")
	runtime.KeepAlive(r.store)
}

// decoded encodes ev as a JSON frame and decodes it, as the connection's reader would.
type decoded struct {
	dec *bonfire.Decoder
	buf []byte
	evs []stoatpb.Event
}

func (d *decoded) of(tb testing.TB, ev stoatpb.Event) []stoatpb.Event {
	var err error
	if d.dec == nil {
		d.dec = bonfire.NewDecoder(bonfire.JSON)
	}
	if d.buf, err = bonfire.AppendFrame(d.buf[:0], bonfire.JSON, ev); err != nil {
		tb.Fatal(err)
	}
	if d.evs, err = d.dec.Decode(d.buf, d.evs[:0]); err != nil {
		tb.Fatal(err)
	}
	return d.evs
}

func benchMessageMemory(b *testing.B, p Policy) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := synth.Small(1)
		w.Servers, w.ChannelsPerServer = 10, 10
		g := synth.New(w)
		r := newRig(b, p)
		r.run(g.Ready())
		// Frames first (untimed, not measured), so the heap delta holds only the cache.
		var frames [][]byte
		for len(frames) < 200_000 {
			if ev, ok := g.Next().(*stoatpb.MessageCreateEvent); ok {
				f, err := bonfire.AppendFrame(nil, bonfire.JSON, ev)
				if err != nil {
					b.Fatal(err)
				}
				frames = append(frames, f)
			}
		}
		dec := bonfire.NewDecoder(bonfire.JSON)
		var evs []stoatpb.Event
		before := heapInUse()
		b.StartTimer()
		for _, f := range frames {
			evs, _ = dec.Decode(f, evs[:0])
			r.ingest(evs...)
		}
		r.drain()
		b.StopTimer()
		evs = nil
		report(b, r, before, "message", r.store.Counts()["messages"], r.store.Stats().Messages.Bytes)
		runtime.KeepAlive(frames)
	}
}

func benchMemberMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := synth.World{Seed: 1, Servers: 10, ChannelsPerServer: 1, Users: 100_000, MembersPerServer: 100_000}
		g := synth.New(w)
		r := newRig(b, Policy{})
		r.run(g.Ready())
		var d decoded
		before := heapInUse()
		b.StartTimer()
		g.Members(func(m *stoatpb.Member) error {
			r.ingest(d.of(b, &stoatpb.ServerMemberJoinEvent{ServerId: m.Id.Server, UserId: m.Id.User, Member: m})...)
			return nil
		})
		r.drain()
		b.StopTimer()
		d = decoded{}
		report(b, r, before, "member", r.store.Counts()["members"], r.store.Stats().Members.Bytes)
	}
}

func benchUserMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		g := synth.New(synth.World{Seed: 1, Users: 100_000})
		ready := &stoatpb.ReadyEvent{Users: []*stoatpb.User{g.Bot()}}
		for u := 0; u < 100_000; u++ {
			ready.Users = append(ready.Users, g.User(u))
		}
		frame, err := bonfire.AppendFrame(nil, bonfire.JSON, ready)
		if err != nil {
			b.Fatal(err)
		}
		ready = nil
		dec := bonfire.NewDecoder(bonfire.JSON)
		r := newRig(b, Policy{})
		before := heapInUse()
		b.StartTimer()
		evs, err := dec.Decode(frame, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.run(evs...)
		b.StopTimer()
		evs = nil
		report(b, r, before, "user", r.store.Counts()["users"], r.store.Stats().Users.Bytes)
		runtime.KeepAlive(frame)
	}
}

// BenchmarkStoreRead measures reads from parallel goroutines (b.RunParallel) on a populated
// cache: 100 channels × 1,000 messages, 100k members, 10k users; with an owner publishing
// (message edits in the channel read most, member updates) meanwhile (/busy) or not.
// Message/FullMessages reads the same messages kept whole (no build on read).
//
//	go test -run '^$' -bench StoreRead ./cacheactors
func BenchmarkStoreRead(b *testing.B) {
	s, msgIDs, chans := populated(b, Policy{})
	full, _, _ := populated(b, Policy{FullMessages: true})
	for _, busy := range []bool{false, true} {
		name := func(op string) string {
			if busy {
				return op + "/busy"
			}
			return op
		}
		run := func(op string, read func(i int)) {
			b.Run(name(op), func(b *testing.B) {
				stop := make(chan struct{})
				var writes atomic.Int64
				if busy {
					go publisher(s, msgIDs, stop, &writes)
				}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(1)) * 7919
					for pb.Next() {
						i++
						read(i)
					}
				})
				b.StopTimer()
				close(stop)
				if busy {
					b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
				}
			})
		}
		run("Message", func(i int) {
			if s.Message(chans[i%len(chans)], msgIDs[i%len(msgIDs)]) == nil {
				panic("miss")
			}
		})
		run("Message/FullMessages", func(i int) {
			if full.Message(chans[i%len(chans)], msgIDs[i%len(msgIDs)]) == nil {
				panic("miss")
			}
		})
		run("Member", func(i int) {
			if s.Member("01SERVERBENCH", benchMemberIDs[i%len(benchMemberIDs)]) == nil {
				panic("miss")
			}
		})
		run("User", func(i int) { s.User(userIDs[i%len(userIDs)]) })
		run("Channel", func(i int) { s.Channel(chans[i%len(chans)]) })
	}
}

var benchMemberIDs = func() []string {
	out := make([]string, 100_000)
	for i := range out {
		out[i] = fmt.Sprintf("%026d", i)
	}
	return out
}()

var userIDs = func() []string {
	out := make([]string, 10_000)
	for i := range out {
		out[i] = fmt.Sprintf("01USER%020d", i)
	}
	return out
}()

// populated builds a Store through the owners' own write paths (without actors).
func populated(b *testing.B, p Policy) (*Store, []string, []string) {
	s := NewStore()
	deps := &Deps{Store: s, Policy: p}
	var msgIDs, chans []string
	for c := 0; c < 100; c++ {
		ch := fmt.Sprintf("01CHANNELBENCH%012d", c)
		chans = append(chans, ch)
		o := &channelOwner{ownerBase: ownerBase{deps: deps, key: channelKey(ch)}}
		o.setChannel(&stoatpb.Channel{Id: ch, ChannelType: textType, Name: "c"})
		for m := 0; m < 1000; m++ {
			id := fmt.Sprintf("01MSGBENCH%016d", m)
			if c == 0 {
				msgIDs = append(msgIDs, id)
			}
			o.putMessage(&stoatpb.Message{Id: id, Channel: ch, Author: "01AUTHOR", Content: "hello there", Nonce: id})
		}
	}
	srvOwner := &serverOwner{ownerBase: ownerBase{deps: deps, key: serverKey("01SERVERBENCH")}}
	srvOwner.setServer(&stoatpb.Server{Id: "01SERVERBENCH"})
	for m := 0; m < 100_000; m++ {
		srvOwner.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: "01SERVERBENCH", User: benchMemberIDs[m]}})
	}
	for _, id := range userIDs {
		s.users.set(id, &stoatpb.User{Id: id, Username: "u"}, CacheUndefined)
	}
	return s, msgIDs, chans
}

// publisher writes as an owner would, until stop: edits in the channel the readers read most, and
// member updates.
func publisher(s *Store, ids []string, stop chan struct{}, writes *atomic.Int64) {
	deps := &Deps{Store: s}
	o := &channelOwner{ownerBase: ownerBase{deps: deps, key: channelKey("01CHANNELBENCH000000000000")}}
	o.window = s.messages.get(o.key.ID).load()
	o.slot = s.messages.get(o.key.ID)
	so := &serverOwner{ownerBase: ownerBase{deps: deps, key: serverKey("01SERVERBENCH")}, members: s.members.get("01SERVERBENCH")}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		// An edit of a message of the hot channel (the window is copied) and a member update.
		o.putMessage(&stoatpb.Message{Id: ids[i%len(ids)], Channel: o.key.ID, Author: "01AUTHOR", Content: "edited", Edited: int64(i)})
		so.setMember(&stoatpb.Member{Id: &stoatpb.MemberId{Server: "01SERVERBENCH", User: benchMemberIDs[i%len(benchMemberIDs)]}, Nickname: "n"})
		writes.Add(2)
	}
}

// BenchmarkStorePublish measures the writes that publish: a channel owner caching a new message
// (compacting it, the new window, the atomic store), replacing one (an edit in the middle of a
// full window: the window is copied), and a server owner setting a member.
//
//	go test -run '^$' -bench StorePublish -benchmem ./cacheactors
func BenchmarkStorePublish(b *testing.B) {
	s := NewStore()
	deps := &Deps{Store: s}
	msgs := make([]*stoatpb.Message, 4096)
	for i := range msgs {
		msgs[i] = &stoatpb.Message{Id: fmt.Sprintf("01MSG%021d", i), Channel: "01CH", Author: "01AUTHOR", Content: "hello there, how are you", Nonce: fmt.Sprintf("01NONCE%019d", i)}
	}
	b.Run("message/append", func(b *testing.B) {
		o := &channelOwner{ownerBase: ownerBase{deps: deps, key: channelKey("01CH")}}
		b.ReportAllocs()
		batch := make([]*stoatpb.Message, 4096)
		for done := 0; done < b.N; {
			b.StopTimer()
			k := min(len(batch), b.N-done)
			for i := range batch[:k] {
				batch[i] = &stoatpb.Message{Id: fmt.Sprintf("01MSG%021d", done+i), Channel: "01CH", Author: "01AUTHOR",
					Content: "hello there, how are you", Nonce: fmt.Sprintf("01NONCE%019d", done+i)}
			}
			b.StartTimer()
			for _, m := range batch[:k] {
				o.messageCreated(m)
			}
			done += k
		}
	})
	b.Run("message/edit", func(b *testing.B) {
		o := &channelOwner{ownerBase: ownerBase{deps: deps, key: channelKey("01CH2")}}
		for _, m := range msgs[:1000] {
			o.putMessage(m)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			o.putMessage(msgs[i%1000])
		}
	})
	b.Run("member", func(b *testing.B) {
		so := &serverOwner{ownerBase: ownerBase{deps: deps, key: serverKey("01S")}}
		so.setServer(&stoatpb.Server{Id: "01S"})
		members := make([]*stoatpb.Member, 4096)
		for i := range members {
			members[i] = &stoatpb.Member{Id: &stoatpb.MemberId{Server: "01S", User: fmt.Sprintf("%026d", i)}}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			so.setMember(members[i%len(members)])
		}
	})
}
