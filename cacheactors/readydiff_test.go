package cacheactors

import (
	"slices"
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// TestReadyDiff: the first Ready has no diff; a re-Ready's lists what it added and removed
// compared with what the router knew just before it (the first Ready and the events since, a
// ServerCreate and an emoji included), and the channels that missed messages, split at the
// bound on backfilled channels; ReadyDiff forgets the diff it returned.
func TestReadyDiff(t *testing.T) {
	r := NewRouter("s")
	r.GapChannels = 1
	emit := func(actors.Key, any) {}
	first := worldReady()
	first.Shard = "s"
	r.Route(first, emit)
	if d := r.ReadyDiff(); d != nil {
		t.Fatalf("the first Ready has a diff: %v", d)
	}
	r.Route(&stoatpb.ServerCreateEvent{ServerId: srv2, Server: &stoatpb.Server{Id: srv2, Channels: []string{"01S2C1"}},
		Channels: []*stoatpb.Channel{{Id: "01S2C1", ChannelType: textType, Server: srv2}}}, emit)
	r.Route(&stoatpb.ServerEmojiCreateEvent{Emoji: &stoatpb.Emoji{Id: "01EMNEW", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv2}}}, emit)
	r.Route(msg(general, 1, alice, "seen"), emit)
	if d := r.ReadyDiff(); d != nil {
		t.Fatalf("an event that is not a Ready has a diff: %v", d)
	}

	// Reconnected: srv2 (with its channel and emoji) and lounge are gone, the emoji of srv was
	// replaced, a channel was created; general and the group missed messages.
	next := worldReady()
	next.Shard = "s"
	next.Servers[0].Channels = []string{general, "01NEWCH"}
	next.Channels = append(slices.Delete(next.Channels, 1, 2), &stoatpb.Channel{Id: "01NEWCH", ChannelType: textType, Server: srv})
	next.Channels[0].LastMessageId = msgID(3)
	next.Channels[2].LastMessageId = msgID(2) // the group
	next.Emojis[0] = &stoatpb.Emoji{Id: "01EMREPL", Parent: &stoatpb.EmojiParent{Type: stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER, Id: srv}}
	r.Route(next, emit)
	got := r.ReadyDiff()
	want := &stoatpb.ReadyDiffEvent{
		Shard:           "s",
		ServersRemoved:  []string{srv2},
		ChannelsAdded:   []string{"01NEWCH"},
		ChannelsRemoved: []string{"01S2C1", lounge},
		EmojisAdded:     []string{"01EMREPL"},
		EmojisRemoved:   []string{"01EMNEW", emoji},
		Backfilled:      []*stoatpb.ChannelGap{{Channel: general, After: msgID(1), Until: msgID(3)}},
		NotBackfilled:   []*stoatpb.ChannelGap{{Channel: group, Until: msgID(2)}},
	}
	slices.Sort(want.ChannelsRemoved)
	slices.Sort(want.EmojisRemoved)
	if !proto.Equal(got, want) {
		t.Errorf("diff:\n%v\nwant\n%v", got, want)
	}
	if d := r.ReadyDiff(); d != nil {
		t.Errorf("ReadyDiff does not forget the diff it returned: %v", d)
	}

	// The same Ready again: nothing changed, nothing missed.
	again := proto.Clone(next).(*stoatpb.ReadyEvent)
	r.Route(again, emit)
	if d := r.ReadyDiff(); !proto.Equal(d, &stoatpb.ReadyDiffEvent{Shard: "s"}) {
		t.Errorf("a Ready equal to the last one: diff %v, want an empty one", d)
	}
}
