package cacheactors

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// TestCompactRoundTrip: a compact record gives back the message it was made of, whatever mix of
// fields it has and whichever of its ids are ULIDs; messages it cannot pack are kept whole.
func TestCompactRoundTrip(t *testing.T) {
	const ulid, other = "01KJKB3Q00000JH2B51THR1KV8", "01KDVDNAEBKT3SX1ZPPGDG2YTJ"
	cases := map[string]*stoatpb.Message{
		"plain":           {Id: ulid, Nonce: other, Author: other, Content: "hello"},
		"empty":           {Id: ulid},
		"not ulids":       {Id: "m1", Nonce: "nonce-1", Author: "alice", Content: "x"},
		"lower-case ulid": {Id: strings.ToLower(ulid), Author: other, Content: "lower"},
		"first digit 8":   {Id: "8" + ulid[1:], Author: other},
		"every scalar": {Id: ulid, Nonce: other, Author: other, Content: "é — ünïcode", Edited: 1767225600123, Flags: 5,
			Pinned: true},
		"references": {Id: ulid, Author: other, Replies: []string{other}, Mentions: []string{ulid, other},
			RoleMentions: []string{other}},
		"only mentions": {Id: ulid, Author: other, Mentions: []string{other}},
		"long content":  {Id: ulid, Author: other, Content: strings.Repeat("long ", 3000)},
	}
	whole := map[string]*stoatpb.Message{
		"short reference": {Id: ulid, Author: other, Mentions: []string{"alice"}},
		"huge content":    {Id: ulid, Author: other, Content: strings.Repeat("x", 70_000)},
		"embed":           {Id: ulid, Author: other, Embeds: []*stoatpb.Embed{{}}},
	}
	var records recordArena
	for name, m := range cases {
		m.Channel = "c"
		c := compact(m, "c", false, &records, CacheMessageCreateEvent)
		if c.full() != nil {
			t.Errorf("%s: kept whole", name)
			continue
		}
		if got := c.message("c"); !proto.Equal(got, m) {
			t.Errorf("%s: got %v, want %v", name, got, m)
		}
		if c.id() != m.Id || !c.authorIs(m.Author) || c.kind != CacheMessageCreateEvent {
			t.Errorf("%s: id %q, author %v, kind %v", name, c.id(), c.authorIs(m.Author), c.kind)
		}
		if c.authorIs("someone else") {
			t.Errorf("%s: written by anyone", name)
		}
	}
	for name, m := range whole {
		m.Channel = "c"
		c := compact(m, "c", false, &records, CacheUndefined)
		if c.full() != m {
			t.Errorf("%s: not kept whole", name)
		}
		if c.id() != m.Id || !c.authorIs(m.Author) {
			t.Errorf("%s: id %q", name, c.id())
		}
	}
}

// TestIDKeysKeepStringOrder: keys compare as their ids do, ULID or not, binary or not.
func TestIDKeysKeepStringOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"", "0", "m1", "01KJKB3Q00000JH2B51THR1KV8x", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "00000000000000000000000000"}
	for range 300 {
		var b [refLen]byte
		for i := range b {
			b[i] = crockford[rng.IntN(32)]
		}
		b[0] = crockford[rng.IntN(8)]
		ids = append(ids, string(b[:]))
		b[rng.IntN(refLen)] = "IL0a"[rng.IntN(4)] // not canonical, or canonical but close
		ids = append(ids, string(b[:]))
	}
	var records recordArena
	keys := make([]idKey, len(ids))
	for i, id := range ids {
		if rng.IntN(2) == 0 {
			keys[i] = idKeyOf(id)
		} else {
			keys[i] = compact(&stoatpb.Message{Id: id, Channel: "c"}, "c", false, &records, CacheUndefined).key()
		}
	}
	for i := range ids {
		for j := range ids {
			if got, want := compareKeys(&keys[i], &keys[j]), strings.Compare(ids[i], ids[j]); got != want {
				t.Fatalf("compare(%q, %q) = %d, want %d", ids[i], ids[j], got, want)
			}
		}
	}
}

// TestParseULID: the binary form gives back the text it was parsed from.
func TestParseULID(t *testing.T) {
	for _, id := range []string{"01KJKB3Q00000JH2B51THR1KV8", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "00000000000000000000000000"} {
		bin, ok := parseULID(id)
		if !ok || string(appendULID(nil, bin[:])) != id {
			t.Errorf("%s: %v, %s", id, ok, appendULID(nil, bin[:]))
		}
	}
	for _, id := range []string{"", "01KJKB3Q00000JH2B51THR1KV", "81KJKB3Q00000JH2B51THR1KV8", "01kjkb3q00000jh2b51thr1kv8", "01KJKB3Q00000JH2B51THR1KVU"} {
		if _, ok := parseULID(id); ok {
			t.Errorf("%q parsed", id)
		}
	}
}
