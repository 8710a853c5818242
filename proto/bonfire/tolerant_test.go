package bonfire_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// readyItems are the lists of a small Ready, in wire order, as JSON values.
type readyItems struct {
	keys  []string
	lists map[string][]string
	raw   map[string]string // a key whose value is given verbatim instead of as a list
}

func newReadyItems() *readyItems {
	r := &readyItems{lists: map[string][]string{}, raw: map[string]string{}}
	add := func(key string, items ...string) {
		r.keys = append(r.keys, key)
		r.lists[key] = items
	}
	add("users",
		`{"_id":"U0","username":"me","discriminator":"0001","relationship":"User","online":true}`,
		`{"_id":"U1","username":"u1","discriminator":"0002","relationship":"None","online":false}`,
		`{"_id":"U2","username":"u2","discriminator":"0003","relationship":"Friend","online":true}`,
		`{"_id":"U3","username":"u3","discriminator":"0004","relationship":"None","online":false}`)
	add("servers",
		`{"_id":"S0","owner":"U0","name":"s0","channels":["C0"]}`,
		`{"_id":"S1","owner":"U1","name":"s1","channels":["C1"]}`,
		`{"_id":"S2","owner":"U2","name":"s2","channels":[]}`)
	add("channels",
		`{"channel_type":"TextChannel","_id":"C0","server":"S0","name":"c0"}`,
		`{"channel_type":"TextChannel","_id":"C1","server":"S1","name":"c1"}`)
	add("members",
		`{"_id":{"server":"S0","user":"U0"},"joined_at":"2025-02-12T08:30:11.204Z","roles":["R0"]}`,
		`{"_id":{"server":"S1","user":"U0"},"joined_at":"2025-02-13T08:30:11.204Z"}`)
	add("emojis",
		`{"_id":"E0","parent":{"type":"Server","id":"S0"},"creator_id":"U0","name":"e0"}`,
		`{"_id":"E1","parent":{"type":"Server","id":"S1"},"creator_id":"U1","name":"e1"}`)
	add("channel_unreads",
		`{"_id":{"channel":"C0","user":"U0"},"last_id":"M0","mentions":["M1"]}`,
		`{"_id":{"channel":"C1","user":"U0"},"last_id":"M2"}`)
	add("voice_states",
		`{"id":"C0","participants":[{"id":"U1","joined_at":"2026-08-20T13:41:07.120Z","is_receiving":true}]}`)
	add("policy_changes",
		`{"created_time":"2026-08-01T00:00:00.000Z","effective_time":"2026-09-01T00:00:00.000Z","description":"d","url":"https://stoat.chat/"}`)
	r.keys = append(r.keys, "user_settings") // an object of [revision, value] tuples
	r.raw["user_settings"] = `{"ordering":[1,"[]"],"locale":[2,"{}"]}`
	return r
}

// frame renders the Ready as a JSON frame.
func (r *readyItems) frame() string {
	var b strings.Builder
	b.WriteString(`{"type":"Ready"`)
	for _, k := range r.keys {
		fmt.Fprintf(&b, `,%q:`, k)
		if v, ok := r.raw[k]; ok {
			b.WriteString(v)
			continue
		}
		b.WriteString("[" + strings.Join(r.lists[k], ",") + "]")
	}
	b.WriteString("}")
	return b.String()
}

// with returns the frame with list key's item i replaced by item, and the frame without that item.
func (r *readyItems) with(key string, i int, item string) (bad, want string) {
	items := r.lists[key]
	r.lists[key] = append(append(append([]string(nil), items[:i]...), item), items[i+1:]...)
	bad = r.frame()
	r.lists[key] = append(append([]string(nil), items[:i]...), items[i+1:]...)
	want = r.frame()
	r.lists[key] = items
	return bad, want
}

// withRaw returns the frame with list key's value replaced by raw, and the frame without key.
func (r *readyItems) withRaw(key, raw string) (bad, want string) {
	r.raw[key] = raw
	bad = r.frame()
	delete(r.raw, key)
	keys := r.keys
	for i, k := range keys {
		if k == key {
			r.keys = append(append([]string(nil), keys[:i]...), keys[i+1:]...)
		}
	}
	want = r.frame()
	r.keys = keys
	return bad, want
}

type toleranceCase struct {
	name      string
	bad, want string // the malformed Ready, and the same Ready without the malformed item
	item      string // the malformed item's JSON, as it appears in bad
	path, typ string // the expected SkippedItem
	reason    string // a word of the expected reason
}

func toleranceCases() []toleranceCase {
	r := newReadyItems()
	var cases []toleranceCase
	elem := func(name, key string, i int, item, typ, reason string) {
		bad, want := r.with(key, i, item)
		cases = append(cases, toleranceCase{name, bad, want, item, fmt.Sprintf("%s[%d]", key, i), typ, reason})
	}
	// The three examples of the hardening issue.
	elem("user online yes", "users", 2, `{"_id":"U2","username":"u2","discriminator":"0003","relationship":"Friend","online":"yes"}`, "User", "boolean")
	bad, want := r.withRaw("users", `"nope"`)
	cases = append(cases, toleranceCase{"users a string", bad, want, `"nope"`, "users", "[]User", "array"})
	elem("server id number", "servers", 1, `{"_id":42,"owner":"U1","name":"s1","channels":["C1"]}`, "Server", "string")
	// Every other list of a Ready.
	elem("channel name object", "channels", 0, `{"channel_type":"TextChannel","_id":"C0","server":"S0","name":{"x":1}}`, "Channel", "string")
	elem("member bad timestamp", "members", 1, `{"_id":{"server":"S1","user":"U0"},"joined_at":"yesterday"}`, "Member", "timestamp")
	elem("emoji not an object", "emojis", 0, `17`, "Emoji", "object")
	elem("unread mentions a number", "channel_unreads", 1, `{"_id":{"channel":"C1","user":"U0"},"last_id":"M2","mentions":3}`, "ChannelUnread", "array")
	elem("voice participant flag", "voice_states", 0, `{"id":"C0","participants":[{"id":"U1","is_receiving":"yes"}]}`, "ChannelVoiceState", "boolean")
	elem("policy time bool", "policy_changes", 0, `{"created_time":true,"effective_time":"2026-09-01T00:00:00.000Z","description":"d","url":"u"}`, "PolicyChange", "number")
	r.raw["user_settings"] = `{"ordering":[1,"[]"],"locale":"not-a-tuple"}`
	bad = r.frame()
	r.raw["user_settings"] = `{"ordering":[1,"[]"]}`
	want = r.frame()
	r.raw["user_settings"] = `{"ordering":[1,"[]"],"locale":[2,"{}"]}`
	cases = append(cases, toleranceCase{"user setting not a tuple", bad, want, `"not-a-tuple"`, "user_settings[1]", "UserSetting", "array"})
	bad, want = r.withRaw("emojis", `{"E0":1}`)
	cases = append(cases, toleranceCase{"emojis an object", bad, want, `{"E0":1}`, "emojis", "[]Emoji", "array"})
	return cases
}

// encodeAs returns a JSON text in format f.
func encodeAs(t *testing.T, f bonfire.Format, s string) []byte {
	t.Helper()
	if f == bonfire.Msgpack {
		return toMsgpack(t, []byte(s))
	}
	return []byte(s)
}

// TestReadyItemCostsOnlyItself: a Ready with one malformed element in any of its lists, or with a
// list of the wrong type, decodes to the Ready without that item, in JSON and msgpack, and the
// decoder reports the item with its path, type, offset and reason.
func TestReadyItemCostsOnlyItself(t *testing.T) {
	for _, tc := range toleranceCases() {
		for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
			t.Run(tc.name+"/"+f.String(), func(t *testing.T) {
				bad, item := encodeAs(t, f, tc.bad), encodeAs(t, f, tc.item)
				want := decodeAll(t, f, encodeAs(t, f, tc.want))
				dec := bonfire.NewDecoder(f)
				got, err := dec.Decode(bad, nil)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if len(got) != 1 || !proto.Equal(got[0], want[0]) {
					t.Fatalf("got %v\nwant %v", got, want)
				}
				if me := got[0].(*stoatpb.ReadyEvent).GetMe(); tc.path != "users" && me.GetId() != "U0" {
					t.Errorf("Me = %v, want U0", me)
				}
				items, n := dec.Skipped()
				if n != 1 || len(items) != 1 {
					t.Fatalf("Skipped = %v, %d; want one item", items, n)
				}
				s := items[0]
				if s.Frame != "Ready" || s.Path != tc.path || s.Type != tc.typ || s.Err == nil ||
					!strings.Contains(s.Err.Reason, tc.reason) {
					t.Errorf("skipped %+v (%v), want Ready %s %s because of %q", s, s.Err, tc.path, tc.typ, tc.reason)
				}
				if s.Offset < 0 || !bytes.HasPrefix(bad[s.Offset:], item) || bytes.Count(bad, item) != 1 {
					t.Errorf("offset %d does not point at the item", s.Offset)
				}
				if s.Err != nil && (s.Err.Offset < s.Offset || s.Err.Offset > s.Offset+len(item)) {
					t.Errorf("the reason's offset %d is not inside the item [%d, %d)", s.Err.Offset, s.Offset, s.Offset+len(item))
				}
				// The report is the last Decode's.
				if _, err := dec.Decode(encodeAs(t, f, tc.want), nil); err != nil {
					t.Fatal(err)
				}
				if items, n := dec.Skipped(); n != 0 || len(items) != 0 {
					t.Errorf("after a good frame, Skipped = %v, %d", items, n)
				}
			})
		}
	}
}

// TestReadyMalformedSyntaxStillFails: tolerance covers values of the wrong type, not broken
// syntax, which no skip can get past: such a Ready is still a *FrameError and yields nothing.
func TestReadyMalformedSyntaxStillFails(t *testing.T) {
	r := newReadyItems()
	for name, item := range map[string]string{
		"bad literal":   `{"_id":"U1","online":tru}`,
		"bad number":    `{"_id":"U1","badges":1.2.3}`,
		"bad escape":    `{"_id":"U1\q"}`,
		"missing colon": `{"_id" "U1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			bad, _ := r.with("users", 1, item)
			dec := bonfire.NewDecoder(bonfire.JSON)
			evs, err := dec.Decode([]byte(bad), nil)
			var fe *bonfire.FrameError
			if !errors.As(err, &fe) || fe.Type != "Ready" || len(evs) != 0 {
				t.Fatalf("Decode = %v, %v; want a Ready FrameError and no event", evs, err)
			}
			if _, n := dec.Skipped(); n != 0 {
				t.Errorf("%d items reported skipped", n)
			}
		})
	}
	// A frame that fails after a skipped item reports no skipped item: it yields nothing.
	bad, _ := r.with("users", 1, `{"_id":"U1","online":"yes"}`)
	dec := bonfire.NewDecoder(bonfire.JSON)
	if _, err := dec.Decode([]byte(strings.TrimSuffix(bad, "}")+`,"x":tru}`), nil); err == nil {
		t.Error("a Ready with broken syntax after a bad user decoded")
	}
	if items, n := dec.Skipped(); n != 0 || len(items) != 0 {
		t.Errorf("a failed frame reports skipped items: %v, %d", items, n)
	}
	// msgpack: a user map claiming more entries than the frame holds.
	frame := toMsgpack(t, []byte(r.frame()))
	i := bytes.Index(frame, []byte("\xa3_id\xa2U1"))
	broken := append(append(frame[:i-1:i-1], 0xdf, 0x7f, 0xff, 0xff, 0xff), frame[i:]...)
	if _, err := bonfire.NewDecoder(bonfire.Msgpack).Decode(broken, nil); err == nil {
		t.Error("a broken msgpack user must fail the frame")
	}
}

// TestReadySkipReport: many bad items are all counted but only the first few described; inside a
// Bulk, offsets are those in the Bulk frame.
func TestReadySkipReport(t *testing.T) {
	r := newReadyItems()
	var users []string
	for i := range 100 {
		users = append(users, fmt.Sprintf(`{"_id":"B%d","online":"yes"}`, i))
	}
	r.lists["users"] = append(users, r.lists["users"]...)
	dec := bonfire.NewDecoder(bonfire.JSON)
	evs, err := dec.Decode([]byte(r.frame()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(evs[0].(*stoatpb.ReadyEvent).GetUsers()); got != 4 {
		t.Errorf("%d users, want the 4 good ones", got)
	}
	items, n := dec.Skipped()
	if n != 100 || len(items) == 0 || len(items) >= n {
		t.Errorf("Skipped: %d described, %d counted; want a few described and 100 counted", len(items), n)
	}
	for i, it := range items {
		if it.Path != fmt.Sprintf("users[%d]", i) {
			t.Errorf("item %d has path %s", i, it.Path)
		}
	}

	bad, _ := newReadyItems().with("servers", 2, `{"_id":"S2","name":false}`)
	bulk := `{"type":"Bulk","v":[{"type":"ChannelStartTyping","id":"c","user":"u"},` + bad + `]}`
	evs, err = dec.Decode([]byte(bulk), nil)
	if err != nil || len(evs) != 2 {
		t.Fatalf("Bulk: %d events, %v", len(evs), err)
	}
	items, n = dec.Skipped()
	if n != 1 || items[0].Path != "servers[2]" || !strings.HasPrefix(bulk[items[0].Offset:], `{"_id":"S2"`) ||
		!strings.HasPrefix(bulk[items[0].Err.Offset:], "false") {
		t.Errorf("Bulk: Skipped = %v, %d", items, n)
	}
}
