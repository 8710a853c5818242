package shardactor_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// bigReady returns a Ready of the connected user, nUsers-1 others and nServers servers, each
// with a channel and the user's membership. Only user bad is online.
func bigReady(nUsers, nServers, bad int) *stoatpb.ReadyEvent {
	ev := &stoatpb.ReadyEvent{}
	for i := range nUsers {
		u := &stoatpb.User{Id: fmt.Sprintf("U%02d", i), Username: fmt.Sprintf("user%02d", i), Discriminator: "0001",
			Relationship: stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_NONE}
		switch i {
		case 0:
			u.Relationship = stoatpb.RelationshipStatus_RELATIONSHIP_STATUS_USER
		case bad:
			u.Username, u.Online = "SECRETBYTES", true
		}
		ev.Users = append(ev.Users, u)
	}
	for i := range nServers {
		sid, cid := fmt.Sprintf("S%02d", i), fmt.Sprintf("C%02d", i)
		ev.Servers = append(ev.Servers, &stoatpb.Server{Id: sid, Owner: "U00", Name: "server " + sid, Channels: []string{cid}})
		ev.Channels = append(ev.Channels, &stoatpb.Channel{Id: cid, Server: sid, Name: "general",
			ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL})
		ev.Members = append(ev.Members, &stoatpb.Member{Id: &stoatpb.MemberId{Server: sid, User: "U00"}, JoinedAt: 1700000000000})
	}
	return ev
}

// TestReadyWithMalformedUser: a 50-server Ready in which one user has "online":"yes" reaches the
// Sink once, with the 49 good users and every server, channel and member; the skipped user is
// counted and logged (path, type, reason, never the bytes), and the connection stays up.
func TestReadyWithMalformedUser(t *testing.T) {
	const nUsers, nServers, bad = 50, 50, 17
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			frame, err := bonfire.AppendFrame(nil, f, bigReady(nUsers, nServers, bad))
			if err != nil {
				t.Fatal(err)
			}
			good, malformed := []byte(`"online":true`), []byte(`"online":"yes"`)
			if f == bonfire.Msgpack {
				good, malformed = []byte("\xa6online\xc3"), []byte("\xa6online\xa3yes")
			}
			if bytes.Count(frame, good) != 1 {
				t.Fatalf("the bad user's online flag is not unique in the frame")
			}
			frame = bytes.Replace(frame, good, malformed, 1)

			rb := newRawBonfire(t, f, frame)
			logger, logs := newLogger(t)
			rec := newRecorder()
			sh := spawn(t, newSystem(t, logger), rb.config(logger), rec)
			eventually(t, "Ready or a decode error", func() bool {
				st := sh.Stats()
				return st.Readies > 0 || st.DecodeErrors > 0
			})
			if st := sh.Stats(); st.DecodeErrors != 0 {
				t.Fatalf("the Ready failed to decode: stats %+v", st)
			}
			evs := rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
			var ready *stoatpb.ReadyEvent
			for _, ev := range evs {
				if r, ok := ev.(*stoatpb.ReadyEvent); ok {
					ready = r
				}
			}
			if got := len(ready.GetUsers()); got != nUsers-1 {
				t.Errorf("%d users, want %d", got, nUsers-1)
			}
			for _, u := range ready.GetUsers() {
				if u.GetId() == fmt.Sprintf("U%02d", bad) {
					t.Errorf("the malformed user is in the Ready: %v", u)
				}
			}
			if len(ready.GetServers()) != nServers || len(ready.GetChannels()) != nServers || len(ready.GetMembers()) != nServers {
				t.Errorf("%d servers, %d channels, %d members; want %d of each",
					len(ready.GetServers()), len(ready.GetChannels()), len(ready.GetMembers()), nServers)
			}
			if ready.GetMe().GetId() != "U00" {
				t.Errorf("Me = %v", ready.GetMe())
			}

			// The session is live: a later frame arrives on the same connection, the heartbeat runs.
			typingFrame, err := bonfire.AppendFrame(nil, f, typing(0, 1)[0])
			if err != nil {
				t.Fatal(err)
			}
			rb.send(t, typingFrame)
			rec.wait(t, "the event after Ready", func(evs []stoatpb.Event) bool {
				return count[*stoatpb.ChannelStartTypingEvent](evs) == 1
			})
			eventually(t, "heartbeat", func() bool { return sh.Stats().Latency > 0 })
			st := sh.Stats()
			if st.Connects != 1 || st.Reconnects != 0 || st.Readies != 1 || st.DecodeErrors != 0 || st.ItemsSkipped != 1 {
				t.Errorf("stats = %+v, want one connection, one Ready, no decode error, one item skipped", st)
			}
			out := logs.String()
			if !regexp.MustCompile(`level=WARN.*shard=shard-test.*frame=Ready.*path=users\[17\].*item=User.*reason="expected a boolean"`).MatchString(out) {
				t.Errorf("no warning naming the skipped user:\n%s", out)
			}
			if strings.Contains(out, "SECRETBYTES") {
				t.Errorf("the log holds the frame's bytes:\n%s", out)
			}
		})
	}
}
