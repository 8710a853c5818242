package bonfire_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// decoded is what one Decode yields, in a comparable form.
type decoded struct {
	evs     []stoatpb.Event
	err     string
	skipped string
}

func decodeWith(dec *bonfire.Decoder, frame []byte) decoded {
	evs, err := dec.Decode(frame, nil)
	var out decoded
	out.evs = evs
	if err != nil {
		out.err = err.Error()
	}
	items, n := dec.Skipped()
	out.skipped = fmt.Sprint(items, n)
	return out
}

// checkSameAsFresh fails unless dec decodes frame exactly as a new Decoder does (whose memo is
// empty), and returns what dec decoded.
func checkSameAsFresh(t *testing.T, f bonfire.Format, dec *bonfire.Decoder, frame []byte) decoded {
	t.Helper()
	got, want := decodeWith(dec, frame), decodeWith(bonfire.NewDecoder(f), frame)
	if got.err != want.err || got.skipped != want.skipped {
		t.Fatalf("error %q, skipped %s; a fresh decoder: error %q, skipped %s", got.err, got.skipped, want.err, want.skipped)
	}
	if len(got.evs) != len(want.evs) {
		t.Fatalf("%d events; a fresh decoder: %d", len(got.evs), len(want.evs))
	}
	for i := range got.evs {
		if !proto.Equal(got.evs[i], want.evs[i]) {
			t.Fatalf("event %d:\n got %v\nwant %v", i, got.evs[i], want.evs[i])
		}
	}
	return got
}

// memoFrame returns frame in format f.
func memoFrame(t *testing.T, f bonfire.Format, frame string) []byte {
	t.Helper()
	if f == bonfire.JSON {
		return []byte(frame)
	}
	evs, err := bonfire.NewDecoder(bonfire.JSON).Decode([]byte(frame), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bonfire.AppendFrame(nil, f, evs[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func message(t *testing.T, d decoded) *stoatpb.Message {
	t.Helper()
	if len(d.evs) != 1 {
		t.Fatalf("%d events, want 1 (error %q)", len(d.evs), d.err)
	}
	return d.evs[0].(*stoatpb.MessageCreateEvent).GetMessage()
}

// anotherMessage is benchMessageCreateJSON with its own id, nonce and content: the same author.
func anotherMessage(n int) string {
	s := strings.Replace(benchMessageCreateJSON, "01M0FQHJM8AK4Y66K40H1TMZXS", benchULID(kindMessage, uint64(n)), 1)
	s = strings.Replace(s, "01J5ZB0Q3K5M8W2V6T9R4X7N1A", benchULID(kindNonce, uint64(n)), 1)
	return strings.Replace(s, "has anyone benchmarked", fmt.Sprintf("message %d:", n), 1)
}

// primed returns a Decoder in format f that has seen the author of anotherMessage once: the
// memo remembers an object the second time it comes (the first time it only notes the bytes'
// prefix), so the next such message's objects are remembered, and reused from the one after.
func primed(t *testing.T, f bonfire.Format) *bonfire.Decoder {
	t.Helper()
	dec := bonfire.NewDecoder(f)
	checkSameAsFresh(t, f, dec, memoFrame(t, f, anotherMessage(0)))
	return dec
}

func forFormats(t *testing.T, test func(t *testing.T, f bonfire.Format)) {
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		t.Run(f.String(), func(t *testing.T) { test(t, f) })
	}
}

func TestMemoRepeatedObject(t *testing.T) {
	forFormats(t, func(t *testing.T, f bonfire.Format) {
		dec := primed(t, f)
		first := message(t, checkSameAsFresh(t, f, dec, memoFrame(t, f, anotherMessage(1))))
		second := message(t, checkSameAsFresh(t, f, dec, memoFrame(t, f, anotherMessage(2))))
		if first.GetId() == second.GetId() || first.GetContent() == second.GetContent() {
			t.Fatal("the two messages are the same")
		}
		if first.User == nil || second.User != first.User {
			t.Errorf("the second message's user is %p, the first's %p: want the same object", second.User, first.User)
		}
		if first.Member == nil || second.Member != first.Member {
			t.Errorf("the second message's member is %p, the first's %p: want the same object", second.Member, first.Member)
		}
		if got := second.GetUser().GetAvatar().GetMetadata().GetWidth(); got != 512 {
			t.Errorf("shared user's avatar width = %d, want 512", got)
		}
	})
}

func TestMemoChangedByte(t *testing.T) {
	forFormats(t, func(t *testing.T, f bonfire.Format) {
		for _, c := range []struct {
			name, old, new string
			check          func(*stoatpb.User) bool
		}{
			// The last key of the user in both formats (msgpack's keys are sorted).
			{"after the slot's prefix", `"online":true`, `"online":false`, func(u *stoatpb.User) bool { return !u.GetOnline() }},
			{"in the slot's prefix", `"user":{"_id":"01HF7FYKE0VT2KVKJ34J3MHVBD"`, `"user":{"_id":"01HF7FYKE0VT2KVKJ34J3MHVBE"`,
				func(u *stoatpb.User) bool { return u.GetId() == "01HF7FYKE0VT2KVKJ34J3MHVBE" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				dec := primed(t, f)
				first := message(t, checkSameAsFresh(t, f, dec, memoFrame(t, f, anotherMessage(1))))
				changed := strings.Replace(anotherMessage(2), c.old, c.new, 1)
				if changed == anotherMessage(2) {
					t.Fatalf("%s is not in the frame", c.old)
				}
				second := message(t, checkSameAsFresh(t, f, dec, memoFrame(t, f, changed)))
				if second.User == first.User {
					t.Fatal("a changed user object reused the earlier one")
				}
				if second.Member != first.Member {
					t.Error("the unchanged member object was decoded again")
				}
				if !c.check(second.GetUser()) {
					t.Errorf("the changed user decoded as %v", second.GetUser())
				}
				if !first.GetUser().GetOnline() || first.GetUser().GetId() != "01HF7FYKE0VT2KVKJ34J3MHVBD" {
					t.Errorf("the first message's user changed: %v", first.GetUser())
				}
			})
		}
	})
}

func TestMemoErrorAfterObject(t *testing.T) {
	dec := primed(t, bonfire.JSON)
	first := message(t, checkSameAsFresh(t, bonfire.JSON, dec, []byte(anotherMessage(1))))
	for _, bad := range []string{
		// The remembered objects, intact, then malformed syntax, a wrong type, trailing data.
		strings.Replace(anotherMessage(2), `"mentions":[`, `"mentions":[tru,`, 1),
		strings.Replace(anotherMessage(3), `"content":"`, `"content":7,"x":"`, 1),
		anotherMessage(4) + "}",
		// Broken inside the user object, after its slot's prefix.
		strings.Replace(anotherMessage(5), `"online":true`, `"online":tru`, 1),
		strings.Replace(anotherMessage(6), `"badges":4`, `"badges":-4`, 1),
		// The user object cut off inside.
		anotherMessage(7)[:strings.Index(benchMessageCreateJSON, `"relationship"`)],
	} {
		if got := checkSameAsFresh(t, bonfire.JSON, dec, []byte(bad)); got.err == "" {
			t.Fatalf("no error for %s", bad)
		}
	}
	last := message(t, checkSameAsFresh(t, bonfire.JSON, dec, []byte(anotherMessage(8))))
	if last.User != first.User || last.Member != first.Member {
		t.Error("the objects remembered before the malformed frames were not reused after them")
	}
}

func TestMemoRepeatedKey(t *testing.T) {
	forFormats(t, func(t *testing.T, f bonfire.Format) {
		if f == bonfire.Msgpack {
			t.Skip("AppendFrame writes each key once")
		}
		dec := primed(t, f)
		first := message(t, checkSameAsFresh(t, f, dec, []byte(anotherMessage(1))))
		// A second "user" merges into the first, which the memo shares with the first message.
		twice := strings.Replace(anotherMessage(2), `"content":`, `"user":{"display_name":"Carl"},"content":`, 1)
		second := message(t, checkSameAsFresh(t, f, dec, []byte(twice)))
		if got := second.GetUser().GetDisplayName(); got != "Carl" || second.GetUser().GetUsername() != "bob" {
			t.Errorf("merged user %v, want bob displayed as Carl", second.GetUser())
		}
		if got := first.GetUser().GetDisplayName(); got != "Bob" {
			t.Errorf("the first message's user is now displayed as %q, want Bob", got)
		}
		third := message(t, checkSameAsFresh(t, f, dec, []byte(anotherMessage(3))))
		if third.User != first.User || third.GetUser().GetDisplayName() != "Bob" {
			t.Errorf("after the merge, the remembered user is %v (%p, first %p)", third.GetUser(), third.User, first.User)
		}
	})
}

// TestMemoFixtures decodes every fixture three times with one Decoder, as a connection would
// (the memo remembers an object the second time and reuses it from the third), and checks each
// decode against a fresh Decoder's.
func TestMemoFixtures(t *testing.T) {
	forFormats(t, func(t *testing.T, f bonfire.Format) {
		var frames [][]byte
		for _, dir := range []string{"frames", "malformed"} {
			for _, fx := range fixtures(t, dir) {
				if f == bonfire.Msgpack {
					if dir == "malformed" {
						continue
					}
					fx.frame = toMsgpack(t, fx.frame)
				}
				frames = append(frames, fx.frame)
			}
		}
		dec := bonfire.NewDecoder(f)
		seen := map[proto.Message]bool{}
		reused := 0
		for range 3 {
			for _, fr := range frames {
				for _, ev := range checkSameAsFresh(t, f, dec, fr).evs {
					if m, ok := ev.(*stoatpb.MessageCreateEvent); ok && m.GetMessage().GetUser() != nil {
						u := m.GetMessage().GetUser()
						if seen[u] {
							reused++
						}
						seen[u] = true
					}
				}
			}
		}
		if reused == 0 {
			t.Error("no user object was reused: the test does not exercise the memo")
		}
	})
}
