package cacheactors

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestMergeCanonicalJSON: the documents of two stores, each holding part of the entities,
// merge into the document of one store holding them all; an entity in both is an error.
func TestMergeCanonicalJSON(t *testing.T) {
	a, b, all := NewStore(), NewStore(), NewStore()
	chA := &stoatpb.Channel{Id: "01A", Name: "a <b> & c", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL}
	chB := &stoatpb.Channel{Id: "01B", Name: "b", ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL}
	srv := &stoatpb.Server{Id: "01S", Name: "s", Owner: "01U"}
	a.channels.set(chA.Id, chA, 0)
	b.channels.set(chB.Id, chB, 0)
	b.servers.set(srv.Id, srv, 0)
	for _, c := range []*stoatpb.Channel{chA, chB} {
		all.channels.set(c.Id, c, 0)
	}
	all.servers.set(srv.Id, srv, 0)
	doc := func(s *Store) []byte {
		var buf bytes.Buffer
		if err := s.WriteCanonicalJSON(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	var merged bytes.Buffer
	if err := MergeCanonicalJSON(&merged, doc(a), doc(b)); err != nil {
		t.Fatal(err)
	}
	if got, want := merged.String(), string(doc(all)); got != want {
		t.Errorf("merged:\n%s\nwant:\n%s", got, want)
	}
	if err := MergeCanonicalJSON(&merged, doc(a), doc(a)); err == nil || !strings.Contains(err.Error(), "01A") {
		t.Errorf("an entity in two documents: %v", err)
	}
}

// TestLearnMakesTheFirstReadyAReReady: a router that learned what the owners hold compares its
// first Ready with it (gaps, drops); a channel it did not learn is taken as seen up to
// UnknownSeen.
func TestLearnMakesTheFirstReadyAReReady(t *testing.T) {
	r := NewRouter("s")
	r.GapChannels = 10
	r.Learn([]string{"01S", "01GONE"}, map[string]string{"01C": "01M1"})
	r.UnknownSeen = "01M5"
	ready := &stoatpb.ReadyEvent{
		Servers:  []*stoatpb.Server{{Id: "01S"}},
		Channels: []*stoatpb.Channel{{Id: "01C", Server: "01S", LastMessageId: "01M9"}, {Id: "01D", Server: "01S", LastMessageId: "01M7"}, {Id: "01E", Server: "01S", LastMessageId: "01M4"}},
	}
	var dropped []string
	r.Route(ready, func(k actors.Key, msg any) {
		if _, ok := msg.(*ownerpb.Drop); ok {
			dropped = append(dropped, k.ID)
		}
	})
	gaps := map[string]string{}
	for _, g := range r.Gaps() {
		gaps[g.Channel] = g.After
	}
	if len(gaps) != 2 || gaps["01C"] != "01M1" || gaps["01D"] != "01M5" {
		t.Errorf("gaps %v, want 01C after 01M1 and 01D after 01M5 (01E's last message is older)", gaps)
	}
	if len(dropped) != 1 || dropped[0] != "01GONE" {
		t.Errorf("dropped %v, want the learned server the Ready lacks", dropped)
	}
	if r.ReadyDiff() == nil {
		t.Error("no diff: the first Ready after Learn is a re-Ready")
	}
}
