package cacheactors

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// WriteCanonicalJSON writes the whole cache as one canonical JSON document:
//
//	{"channels": {"<channel id>": <channel>},
//	 "emojis":   {"<emoji id>": <emoji>},
//	 "members":  {"<server id>:<user id>": <member>},
//	 "messages": {"<channel id>": [<message>, … oldest first]},
//	 "read_states": {"<channel id>": <channel unread>},
//	 "servers":  {"<server id>": <server>},
//	 "users":    {"<user id>": <user>},
//	 "voice":    {"<channel id>": {"<user id>": <user voice state>}},
//	 "webhooks": {"<webhook id>": <webhook>}}
//
// Objects use the Stoat API's own field names, as the server sends them; keys are sorted, absent
// fields and empty sections are omitted, and messages carry no embedded user or member (those are
// cached in their own owners). It is the output of `ermine replay` and the conformance harness of
// the cache. Call it when no events are being processed (after feed.Feed.Drain) for a consistent view.
func (s *Store) WriteCanonicalJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	first := true
	section := func(name string, ids []string, write func(id string) error) error {
		if len(ids) == 0 {
			return nil
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		writeKey(bw, name)
		bw.WriteByte('{')
		for i, id := range ids {
			if i > 0 {
				bw.WriteByte(',')
			}
			writeKey(bw, id)
			if err := write(id); err != nil {
				return fmt.Errorf("cacheactors: writing %s %s: %w", name, id, err)
			}
		}
		bw.WriteByte('}')
		return nil
	}
	model := func(m proto.Message) error {
		var err error
		buf, err = bonfire.AppendModel(buf[:0], bonfire.JSON, m)
		if err != nil {
			return err
		}
		_, err = bw.Write(buf)
		return err
	}

	bw.WriteByte('{')
	err := section("channels", s.ChannelIDs(), func(id string) error { return model(s.Channel(id)) })
	if err == nil {
		err = section("emojis", s.EmojiIDs(), func(id string) error { return model(s.Emoji(id)) })
	}
	if err == nil {
		members := map[string]*stoatpb.Member{}
		var keys []string
		s.members.each(func(server string, t *memberTable) {
			for _, m := range t.list() {
				k := server + ":" + m.GetId().GetUser()
				members[k] = m
				keys = append(keys, k)
			}
		})
		sort.Strings(keys)
		err = section("members", keys, func(k string) error { return model(members[k]) })
	}
	if err == nil {
		err = section("messages", nonEmpty(s.messages.keys(), func(id string) bool { return s.messages.get(id).load().Len() > 0 }), func(id string) error {
			bw.WriteByte('[')
			for i, m := range s.messages.get(id).load().Messages() {
				if i > 0 {
					bw.WriteByte(',')
				}
				if err := model(m); err != nil {
					return err
				}
			}
			bw.WriteByte(']')
			return nil
		})
	}
	if err == nil {
		err = section("read_states", s.readStates.keys(), func(id string) error { return model(s.ReadState(id)) })
	}
	if err == nil {
		err = section("servers", s.ServerIDs(), func(id string) error { return model(s.Server(id)) })
	}
	if err == nil {
		err = section("users", s.UserIDs(), func(id string) error { return model(s.User(id)) })
	}
	if err == nil {
		err = section("voice", nonEmpty(s.voice.keys(), func(id string) bool { return len(s.voice.get(id).GetParticipants()) > 0 }), func(id string) error {
			ps := append([]*stoatpb.UserVoiceState(nil), s.voice.get(id).GetParticipants()...)
			sort.Slice(ps, func(i, j int) bool { return ps[i].GetId() < ps[j].GetId() })
			bw.WriteByte('{')
			for i, p := range ps {
				if i > 0 {
					bw.WriteByte(',')
				}
				writeKey(bw, p.GetId())
				if err := model(p); err != nil {
					return err
				}
			}
			bw.WriteByte('}')
			return nil
		})
	}
	if err == nil {
		err = section("webhooks", s.webhooks.keys(), func(id string) error { return model(s.Webhook(id)) })
	}
	if err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

func nonEmpty(ids []string, keep func(string) bool) []string {
	out := ids[:0]
	for _, id := range ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

func writeKey(w *bufio.Writer, k string) {
	b, _ := json.Marshal(k)
	w.Write(b)
	w.WriteByte(':')
}

// MergeCanonicalJSON writes the union of canonical JSON documents (WriteCanonicalJSON's), each
// the cache of a part of the owners (the nodes of a cluster), as one such document: the same
// bytes one cache holding everything writes. An entry found in two documents is an error (the
// owner of an entity is in one place).
func MergeCanonicalJSON(w io.Writer, docs ...[]byte) error {
	merged := map[string]map[string]json.RawMessage{}
	for i, doc := range docs {
		var sections map[string]map[string]json.RawMessage
		if err := json.Unmarshal(doc, &sections); err != nil {
			return fmt.Errorf("cacheactors: merging cache document %d: %w", i, err)
		}
		for name, entries := range sections {
			into := merged[name]
			if into == nil {
				into = map[string]json.RawMessage{}
				merged[name] = into
			}
			for id, v := range entries {
				if _, dup := into[id]; dup {
					return fmt.Errorf("cacheactors: merging cache documents: %s %s is in two of them", name, id)
				}
				into[id] = v
			}
		}
	}
	enc := json.NewEncoder(w) // sorted keys, compact, one line as WriteCanonicalJSON
	enc.SetEscapeHTML(false)
	return enc.Encode(merged)
}
