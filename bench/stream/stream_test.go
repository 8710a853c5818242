package stream

import (
	"bytes"
	"testing"

	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

func specs() []Spec {
	var out []Spec
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		out = append(out,
			Spec{Format: f, Seed: 1, Servers: 3, ChannelsPerServer: 5, Users: 50, MembersPerServer: 10, Events: 3000, Active: 4},
			Spec{Format: f, Seed: 1, Mixed: true, Servers: 3, ChannelsPerServer: 4, Users: 40, MembersPerServer: 20, Events: 3000})
	}
	return out
}

// TestStreamsDecode decodes every frame with ermine's codec: Authenticated, then a Ready with
// the whole world, then the events, each MessageCreate carrying a zero stamp that Stamp fills.
func TestStreamsDecode(t *testing.T) {
	for _, spec := range specs() {
		t.Run(spec.String(), func(t *testing.T) {
			st, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			dec := bonfire.NewDecoder(spec.Format)
			evs, err := dec.Decode(st.Ready, nil)
			if err != nil || len(evs) != 1 {
				t.Fatalf("Ready: %v", err)
			}
			rd := evs[0].(*stoatpb.ReadyEvent)
			wantUsers, wantMembers := spec.Users+1, spec.Servers*(spec.MembersPerServer+1)
			if spec.Mixed {
				wantUsers, wantMembers = 1, spec.Servers
			}
			if len(rd.Users) != wantUsers || len(rd.Servers) != spec.Servers || len(rd.Channels) != spec.Servers*spec.ChannelsPerServer || len(rd.Members) != wantMembers {
				t.Fatalf("Ready has %d users, %d servers, %d channels, %d members", len(rd.Users), len(rd.Servers), len(rd.Channels), len(rd.Members))
			}
			if !bytes.HasPrefix(st.Handshake, AppendWSFrame(nil, Opcode(spec.Format), mustFrame(t, spec.Format, &stoatpb.AuthenticatedEvent{}))) {
				t.Fatal("the handshake does not start with Authenticated")
			}
			st.Stamp(0, st.Len(), 1234567890123)
			messages, channels := 0, map[string]bool{}
			for i := range st.Len() {
				evs, err := dec.Decode(st.Payload(i), nil)
				if err != nil || len(evs) != 1 {
					t.Fatalf("event %d: %v", i, err)
				}
				if mc, ok := evs[0].(*stoatpb.MessageCreateEvent); ok {
					messages++
					channels[mc.GetMessage().GetChannel()] = true
					if ns, ok := clock.ParseStamp(mc.GetMessage().GetContent()); !ok || ns != 1234567890123 {
						t.Fatalf("event %d: content %q has no stamp", i, mc.GetMessage().GetContent())
					}
				}
			}
			if messages != st.Messages(st.Len()) || messages != spec.MessagesIn(spec.Events) {
				t.Fatalf("%d messages; Messages says %d, MessagesIn %d", messages, st.Messages(st.Len()), spec.MessagesIn(spec.Events))
			}
			if !spec.Mixed && (messages != spec.Events || len(channels) != spec.Active) {
				t.Fatalf("%d messages into %d channels, want %d into %d", messages, len(channels), spec.Events, spec.Active)
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	for _, spec := range specs() {
		a, err := Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Build(spec)
		if !bytes.Equal(a.Handshake, b.Handshake) || !bytes.Equal(a.Events, b.Events) {
			t.Fatalf("%s: two builds differ", spec)
		}
		spec.Seed++
		c, _ := Build(spec)
		if bytes.Equal(a.Events, c.Events) {
			t.Fatalf("%s: another seed gives the same stream", spec)
		}
	}
}

func TestSpanAndEnd(t *testing.T) {
	st, err := Build(specs()[0])
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < st.Len(); {
		j := st.End(i, 4096)
		if j <= i || (j < st.Len() && len(st.Span(i, j)) < 4096) {
			t.Fatalf("End(%d, 4096) = %d (%d bytes)", i, j, len(st.Span(i, j)))
		}
		total += len(st.Span(i, j))
		i = j
	}
	if total != len(st.Events) {
		t.Fatalf("spans cover %d of %d bytes", total, len(st.Events))
	}
}

func mustFrame(t *testing.T, f bonfire.Format, ev stoatpb.Event) []byte {
	t.Helper()
	b, err := bonfire.AppendFrame(nil, f, ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
