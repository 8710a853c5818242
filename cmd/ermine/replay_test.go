package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// replayCache runs frames (JSONL) through `ermine replay`'s code path — the decoder, the router,
// the owners — and returns the cache's canonical JSON, decoded.
func replayCache(t *testing.T, frames ...string) map[string]map[string]any {
	t.Helper()
	bot, err := ermine.New(ermine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fd, err := feed.Start(ctx, bot)
	if err != nil {
		t.Fatal(err)
	}
	_, bad, err := replayFrames(ctx, fd, strings.NewReader(strings.Join(frames, "\n")), bonfire.JSON, nil)
	if err != nil || bad > 0 {
		t.Fatalf("replay: %v (%d malformed frames)", err, bad)
	}
	if err := fd.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bot.Cache().WriteCanonicalJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out map[string]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("canonical JSON: %v\n%s", err, buf.String())
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// field walks a decoded JSON value along path.
func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func sampleStream(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/samples_stream.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// The ids of the sample story (shared/protocol/samples/README.md).
const (
	sAlice = "01HQZ73ZH0ZFVVXR4TCRNYT4NS"
	sBob   = "01HF7FYKE0VT2KVKJ34J3MHVBD"
	sCarol = "01JJ2TGZW0BJ91JJDT7RM053S2"
	sDave  = "01M0CGHH00Z01WKC6Z2Q9TYGVW"
	sS1    = "01JKQVP2G020GN1TZGBWDASB4V"
	sS2    = "01K42D762028BJ4HN4W3RWV8B2"
	sC1    = "01JKQVP3F82D6K5PQJ3J5CE51Z"
	sC2    = "01JKQVP4EG8KPEDKQZREBB8YG8"
	sC3    = "01K42D771815CDB6PAXVT7E56G"
	sC5    = "01M0FSC0R0VTRWJSJPWEWTTXAT"
	sG1    = "01M0FSFNY0B75TY6DWBFK4S3PC"
	sR3    = "01JKT3S7K85189DV63V3SP69HF"
	sE1    = "01JN99HJQ06JZ383BS9RPJK06C"
	sM1    = "01M0FQHJM8AK4Y66K40H1TMZXS"
)

// TestReplaySampleStory replays the authored sample stream (every event type, in a story) and
// checks the cache it leaves against the story.
func TestReplaySampleStory(t *testing.T) {
	c := replayCache(t, sampleStream(t)...)
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// S3 was joined then deleted, with its channel; C4 was created then deleted; C2 was lost
	// in the permission Bulk; the DM with Dave went with Dave's platform wipe.
	check("servers", keys(c["servers"]), []string{sS1, sS2})
	check("channels", keys(c["channels"]), []string{sC1, sC3, sG1})
	check("S1 channels", strs(field(c["servers"], sS1, "channels")), []string{sC1})
	// Dave joined, was kicked, then wiped; Carol's member came with the Ready (voice).
	check("members", keys(c["members"]), []string{sS1 + ":" + sBob, sS1 + ":" + sAlice, sS1 + ":" + sCarol, sS2 + ":" + sAlice})
	check("users", keys(c["users"]), []string{sBob, sAlice, sCarol})
	check("Alice's relations", relationIDs(field(c["users"], sAlice, "relations")), []string{sBob})
	check("Alice's roles in S1 (the Bulk cleared them)", strs(field(c["members"], sS1+":"+sAlice, "roles")), nil)
	check("emojis", keys(c["emojis"]), []string{sE1})
	check("webhooks", keys(c["webhooks"]), nil)
	check("voice", keys(c["voice"]), nil)
	check("group recipients (Dave left)", strs(field(c["channels"], sG1, "recipients")), []string{sAlice, sBob})
	if field(c["channels"], sC1, "last_message_id") == nil {
		t.Error("C1 has no last_message_id")
	}
	if msgs, _ := c["messages"][sC1].([]any); len(msgs) == 0 || field(msgs[0], "_id") != sM1 {
		t.Errorf("C1 messages = %v", msgs)
	}
	if _, ok := c["messages"][sC5]; ok {
		t.Error("the wiped user's DM messages are still cached")
	}
}

// TestReplayReReady replays the story, then the story's Ready again (a reconnect): what the
// Ready lacks is gone, what it has is back, messages of surviving channels stay.
func TestReplayReReady(t *testing.T) {
	frames := sampleStream(t)
	var ready string
	for _, f := range frames {
		if strings.HasPrefix(f, `{"type":"Ready"`) {
			ready = f
		}
	}
	c := replayCache(t, append(frames, ready)...)
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("channels", keys(c["channels"]), []string{sC1, sC2, sC3})
	check("servers", keys(c["servers"]), []string{sS1, sS2})
	check("messages", keys(c["messages"]), []string{sC1})
	check("emojis", keys(c["emojis"]), []string{sE1})
	check("voice", keys(c["voice"]), []string{sC2})
	if field(c["servers"], sS1, "roles", sR3) == nil {
		t.Error("the Ready's roles are not back")
	}
}

// TestReplayLegacyShapes: shapes older servers send reach the cache in their current form.
func TestReplayLegacyShapes(t *testing.T) {
	c := replayCache(t,
		`{"type":"Ready","users":[{"_id":"`+sAlice+`","username":"alice","discriminator":"1","relationship":"User","online":true}],"servers":[{"_id":"`+sS1+`","owner":"`+sBob+`","name":"s","channels":[],"default_permissions":0}],"channels":[],"members":[{"_id":{"server":"`+sS1+`","user":"`+sAlice+`"},"joined_at":"2025-01-01T00:00:00.000Z"}],"emojis":[]}`,
		`{"type":"ChannelCreate","channel_type":"VoiceChannel","_id":"`+sC2+`","server":"`+sS1+`","name":"old voice"}`,
		`{"type":"ServerMemberJoin","id":"`+sS1+`","user":"`+sDave+`"}`,
	)
	if got := field(c["channels"], sC2, "channel_type"); got != "TextChannel" {
		t.Errorf("legacy VoiceChannel cached as %v", got)
	}
	if field(c["channels"], sC2, "voice") == nil {
		t.Error("legacy VoiceChannel cached without voice")
	}
	if got := strs(field(c["servers"], sS1, "channels")); !slices.Equal(got, []string{sC2}) {
		t.Errorf("server channels = %v", got)
	}
	if field(c["members"], sS1+":"+sDave, "joined_at") == nil {
		t.Error("a ServerMemberJoin without member was not cached")
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func relationIDs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := field(x, "_id").(string)
		out = append(out, s)
	}
	return out
}
