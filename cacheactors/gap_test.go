package cacheactors

import (
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

type emitted struct {
	key actors.Key
	msg any
}

func readyOf(channels map[string]string) *stoatpb.ReadyEvent {
	e := &stoatpb.ReadyEvent{Users: []*stoatpb.User{{Id: "me", Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER}}}
	for id, last := range channels {
		e.Channels = append(e.Channels, &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: id, LastMessageId: last})
	}
	return e
}

// TestRouterGaps: a re-Ready gives a gap to each known channel whose last_message_id is newer
// than the newest id routed for it, the most recently active first and at most GapChannels; the
// gap's gate follows the channel's seed; a gap delivers each message of its range once.
func TestRouterGaps(t *testing.T) {
	for _, limit := range []int{3, 1} {
		r := NewRouter("s")
		r.GapChannels = limit
		var out []emitted
		emit := func(k actors.Key, m any) { out = append(out, emitted{k, m}) }
		r.Route(readyOf(map[string]string{"a": "01A", "b": "01B", "c": ""}), emit)
		if g := r.Gaps(); g != nil {
			t.Fatalf("the first Ready has gaps %v", g)
		}
		r.Route(&stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: "01C", Channel: "a"}}, emit)
		out = nil
		r.Route(readyOf(map[string]string{"a": "01C", "b": "01E", "c": "01D", "d": "01F"}), emit)
		gaps := r.Gaps()
		want := []Gap{{Channel: "b", After: "01B", Until: "01E"}, {Channel: "c", After: "", Until: "01D"}}
		want = want[:min(limit, len(want))]
		if len(gaps) != len(want) {
			t.Fatalf("limit %d: gaps %v, want %v", limit, gaps, want)
		}
		for i, g := range gaps {
			if g.Channel != want[i].Channel || g.After != want[i].After || g.Until != want[i].Until {
				t.Errorf("limit %d: gap %d = %+v, want %+v", limit, i, *g, want[i])
			}
			seed, gate := -1, -1
			for j, e := range out {
				if e.key != channelKey(g.Channel) {
					continue
				}
				switch m := e.msg.(type) {
				case *ownerpb.SeedChannel:
					seed = j
				case *ownerpb.Gated:
					if m.Patch == nil && keyOf(m.Primary) == channelKey(g.Channel) {
						gate = j
					}
				}
			}
			if seed < 0 || gate < seed {
				t.Errorf("limit %d: channel %s: seed at %d, gap gate at %d", limit, g.Channel, seed, gate)
			}
		}
		if r.Gaps() != nil {
			t.Error("Gaps does not forget the gaps it returned")
		}
	}

	g := &Gap{Channel: "b", After: "01B", Until: "01E", last: "01B"}
	var out []emitted
	emit := func(k actors.Key, m any) { out = append(out, emitted{k, m}) }
	for _, tc := range []struct {
		id   string
		want bool
	}{{"01A", false}, {"01B", false}, {"01C", true}, {"01C", false}, {"01E", true}, {"01F", false}} {
		if got := g.Deliver(&stoatpb.Message{Id: tc.id, Channel: "b"}, emit); got != tc.want {
			t.Errorf("Deliver(%s) = %v, want %v", tc.id, got, tc.want)
		}
	}
	if len(out) != 2 {
		t.Fatalf("delivered %d messages, want 2", len(out))
	}
	for _, e := range out {
		d, ok := e.msg.(*ownerpb.Dispatch)
		if !ok || e.key != channelKey("b") || !recovered(d) {
			t.Errorf("delivered %v to %v, want a recovered Dispatch to channel b", e.msg, e.key)
		}
	}
}

// TestDuplicateMessageCreateRunsOnce: a MessageCreateEvent for a message the channel cached from
// a MessageCreateEvent already run (the same message backfilled and live, or read by two
// connections during a takeover) runs no handler and changes nothing; one sent again after a
// failover (redelivered) runs.
func TestDuplicateMessageCreateRunsOnce(t *testing.T) {
	r := newRig(t, Policy{})
	var ran []bool
	handle(r, func(ev *stoatpb.MessageCreateEvent) { ran = append(ran, true) })
	r.run(readyOf(map[string]string{"a": ""}))
	m := &stoatpb.Message{Id: "01M", Channel: "a", Author: "u", Content: "hi"}
	r.run(&stoatpb.MessageCreateEvent{Message: m}, &stoatpb.MessageCreateEvent{Message: m})
	if len(ran) != 1 || r.deps.Duplicates() != 1 {
		t.Fatalf("handlers ran %d times, %d duplicates; want once and 1", len(ran), r.deps.Duplicates())
	}
	// A redelivered event runs again (its handlers may not have run where it went first).
	d := ownerpb.NewDispatch(&stoatpb.MessageCreateEvent{Message: m})
	d.Redelivered = true
	if err := r.inflight.Acquire(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	d.Stream, d.Seq = r.inflight.Charge(channelKey("a"), 0)
	r.dir.Deliver(channelKey("a"), d)
	r.drain()
	if len(ran) != 2 {
		t.Errorf("a redelivered event ran %d times in all, want 2", len(ran))
	}
	if got := r.store.Messages("a"); len(got) != 1 {
		t.Errorf("%d messages cached, want 1", len(got))
	}
}
