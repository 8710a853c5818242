package bonfire_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestStringsMatchEncodingJSON decodes JSON strings with every kind of escape and lone or
// mismatched surrogates, short and repeated past the size from which the decoder builds a string
// in its own buffer, and compares them with encoding/json's reading. Invalid UTF-8 is compared
// with strings.ToValidUTF8 (a run of bad bytes is one U+FFFD).
func TestStringsMatchEncodingJSON(t *testing.T) {
	inners := []string{
		`plain`, `a\nb\tc`, `q\"uote`, `back\\slash`, `\\\"`, `x\/y`, `\b\f\r`,
		`\u00e9\ud83d\ude00`, `\ud800x`, `\udc00`, `\ud800\u0041`, `\ud83d\ud83d\ude00`, `\ud83dz`,
	}
	type testCase struct{ lit, want string }
	var cases []testCase
	add := func(in string) {
		lit := `"` + in + `"`
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		cases = append(cases, testCase{lit, want})
	}
	for _, in := range inners {
		add(in)
		add(strings.Repeat(in, 100<<10/len(in)+1))
		add(in + strings.Repeat("z", 100<<10) + in)
	}
	add(`\"` + strings.Repeat("y", 100<<10))
	add(strings.Repeat("y", 100<<10) + `\\`)
	for _, raw := range []string{"raw \xff\xfe bytes", "\xe2\x82", "ok"} {
		for _, s := range []string{raw, strings.Repeat(raw, 100<<10/len(raw)+1)} {
			cases = append(cases, testCase{`"` + s + `"`, strings.ToValidUTF8(s, "\uFFFD")},
				testCase{`"\n` + s + `"`, strings.ToValidUTF8("\n"+s, "\uFFFD")})
		}
	}
	dec := bonfire.NewDecoder(bonfire.JSON)
	for i, tc := range cases {
		evs, err := dec.Decode([]byte(`{"type":"ChannelStartTyping","id":`+tc.lit+`,"user":"u"}`), nil)
		if err != nil {
			t.Fatalf("case %d (%.40q…, %d bytes): %v", i, tc.lit, len(tc.lit), err)
		}
		if got := evs[0].(*stoatpb.ChannelStartTypingEvent).GetChannelId(); got != tc.want {
			t.Errorf("case %d (%.40q…, %d bytes): got %.60q…, want %.60q…", i, tc.lit, len(tc.lit), got, tc.want)
		}
	}
	for _, bad := range []string{`"abc`, `"abc\`, `"` + strings.Repeat("a", 100<<10) + `\"`, `"\u12"`, `"\x"`} {
		if _, err := dec.Decode([]byte(`{"type":"ChannelStartTyping","id":`+bad), nil); err == nil {
			t.Errorf("%.40q… decoded", bad)
		}
	}
}

// TestBigStringAllocatesOnce: a 4 MiB message content with escapes (JSON) or invalid UTF-8
// (msgpack) costs one allocation of its size, not a scratch buffer grown by doubling plus a copy.
func TestBigStringAllocatesOnce(t *testing.T) {
	content := strings.Repeat("a line of a long message\n", 4<<20/25)
	for _, tc := range []struct {
		f       bonfire.Format
		content string
	}{{bonfire.JSON, content}, {bonfire.Msgpack, content + "\xff"}} {
		t.Run(tc.f.String(), func(t *testing.T) {
			frame, err := bonfire.AppendFrame(nil, tc.f, &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{
				Id: "m", Channel: "c", Author: "a", Content: tc.content}})
			if err != nil {
				t.Fatal(err)
			}
			dec := bonfire.NewDecoder(tc.f)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			evs, err := dec.Decode(frame, nil)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			got := evs[0].(*stoatpb.MessageCreateEvent).GetMessage().GetContent()
			if want := strings.ToValidUTF8(tc.content, "\uFFFD"); got != want {
				t.Fatalf("content of %d bytes differs from the %d sent", len(got), len(want))
			}
			if ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(got)); ratio > 1.3 {
				t.Errorf("decoding allocated %.2f× the content", ratio)
			}
		})
	}
}

// FuzzBigStrings checks that a JSON string decodes the same whether it is short (unescaped into
// scratch) or padded past the size from which it gets a buffer of its own.
func FuzzBigStrings(f *testing.F) {
	for _, s := range []string{`a\nb`, `\"`, `\\`, `\ud83d\ude00`, `\ud83d\ud83d\ude00`, `\udc00`, "\xff", `\u12`, `\`} {
		f.Add(s)
	}
	pad := strings.Repeat("p", 70<<10)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, `"`) {
			return // a quote would end the string early in one form only
		}
		decode := func(lit string) (string, error) {
			evs, err := bonfire.NewDecoder(bonfire.JSON).Decode([]byte(`{"type":"ChannelStartTyping","id":"`+lit+`","user":"u"}`), nil)
			if err != nil {
				return "", err
			}
			return evs[0].(*stoatpb.ChannelStartTypingEvent).GetChannelId(), nil
		}
		small, serr := decode(s)
		big, berr := decode(s + pad)
		if (serr == nil) != (berr == nil) {
			if strings.HasSuffix(s, `\`) {
				return // an escaped closing quote in one form, an escaped "p" in the other
			}
			t.Fatalf("%q: short form error %v, padded form error %v", s, serr, berr)
		}
		if serr == nil && big != small+pad {
			t.Fatalf("%q: short form %q, padded form %.80q…", s, small, big)
		}
	})
}
