package cacheactors

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ermine-rt/ermine/synth"
)

// TestReadsFromAnywhere has many goroutines read everything the Store offers while the owners
// apply a long synthetic stream. Run it with -race: any write to something a reader can reach is
// reported. The readers also check invariants of what they read (a window is in id order and
// holds its channel's messages, a member is the one asked for).
func TestReadsFromAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
	}{
		{"default", Policy{}},
		{"bounded", Policy{MaxMessages: 300, MaxUsers: 32, MessagesPerChannel: 100}},
		{"full messages", Policy{FullMessages: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := 20000
			if testing.Short() {
				events = 3000
			}
			readAll(t, tc.policy, events)
		})
	}
}

func readAll(t *testing.T, p Policy, events int) {
	g := synth.New(synth.Small(7))
	w := g.World()
	r := newRig(t, p)
	s := r.store
	r.run(g.Ready())

	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	readers := 4 * runtime.GOMAXPROCS(0)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := i
			for !stop.Load() {
				n++
				sv, c, u := n%w.Servers, n%w.ChannelsPerServer, n%w.Users
				server, channel, user := g.ServerID(sv), g.ChannelID(sv, c), g.UserID(u)
				_ = s.Server(server).GetName()
				_ = s.Channel(channel).GetName()
				if m := s.Member(server, user); m != nil && m.GetId().GetUser() != user {
					t.Errorf("Member(%s) returned %s", user, m.GetId().GetUser())
				}
				_ = s.User(user).GetUsername()
				_ = s.Emoji(g.EmojiID(sv, 0)).GetName()
				_ = s.VoiceStates(channel).GetParticipants()
				_ = s.Me().GetRelations()
				_ = s.Settings()
				_ = s.ReadState(channel)
				msgs := s.Messages(channel)
				for j, m := range msgs {
					if m.GetChannel() != channel || (j > 0 && msgs[j-1].GetId() >= m.GetId()) {
						t.Errorf("window of %s out of order or holding %s's message", channel, m.GetChannel())
						break
					}
				}
				if len(msgs) > 0 {
					m := msgs[n%len(msgs)]
					if got := s.Message(channel, m.GetId()); got != nil && got.GetId() != m.GetId() {
						t.Errorf("Message(%s) returned %s", m.GetId(), got.GetId())
					}
				}
				if n%64 == 0 {
					for _, m := range s.Members(server) {
						_ = m.GetNickname()
					}
					_ = s.ReadStates()
					_ = s.Counts()
				}
				if n%512 == 0 {
					_ = s.Stats()
					_ = s.WriteCanonicalJSON(io.Discard)
				}
				reads.Add(1)
			}
		}(i)
	}
	for i := 0; i < events; i++ {
		r.ingest(g.Next())
	}
	r.drain()
	stop.Store(true)
	wg.Wait()
	if reads.Load() < int64(readers) {
		t.Fatalf("only %d reads", reads.Load())
	}
	c := s.Counts()
	if c["messages"] == 0 || c["members"] == 0 || c["users"] == 0 {
		t.Fatalf("the stream cached nothing: %v", c)
	}
	if p.MaxUsers > 0 && c["users"] > p.MaxUsers+16 {
		t.Errorf("users = %d, bound %d", c["users"], p.MaxUsers)
	}
	if p.MaxMessages > 0 && c["messages"] > p.MaxMessages {
		t.Errorf("messages = %d, bound %d", c["messages"], p.MaxMessages)
	}
	t.Logf("%d events, %d reads by %d goroutines; cached %v", events, reads.Load(), readers, c)
}
