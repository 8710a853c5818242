package cacheactors

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
)

func TestZZBaselineMembers(t *testing.T) {
	w := synth.Small(1)
	w.Servers, w.ChannelsPerServer, w.Users, w.MembersPerServer = 10, 2, 100000, 100000
	g := synth.New(w)
	r := newRig(t, Policy{})
	r.run(g.Ready())
	dec := bonfire.NewDecoder(bonfire.JSON)
	var evs []stoatpb.Event
	h0 := heap()
	var buf []byte
	n := 0
	g.Members(func(m *stoatpb.Member) error {
		ev := &stoatpb.ServerMemberJoinEvent{ServerId: m.Id.Server, UserId: m.Id.User, Member: m}
		buf, _ = bonfire.AppendFrame(buf[:0], bonfire.JSON, ev)
		evs, _ = dec.Decode(buf, evs[:0])
		r.ingest(evs...)
		n++
		return nil
	})
	r.drain()
	h1 := heap()
	t.Logf("members %d, %.0f B/member", r.store.Counts()["members"], float64(h1-h0)/float64(r.store.Counts()["members"]))
	h0 = heap()
	for i := 0; i < 100000; i++ {
		u := g.User(i)
		u.Id = fmt.Sprintf("01U%023d", i)
		ev := &stoatpb.UserRelationshipUpdateEvent{NewUser: u}
		buf, _ = bonfire.AppendFrame(buf[:0], bonfire.JSON, ev)
		evs, _ = dec.Decode(buf, evs[:0])
		r.ingest(evs...)
	}
	r.drain()
	h1 = heap()
	t.Logf("users %d, %.0f B/user", r.store.Counts()["users"], float64(h1-h0)/float64(r.store.Counts()["users"]))
	runtime.KeepAlive(r)
}
