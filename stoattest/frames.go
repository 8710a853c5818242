package stoattest

import (
	"encoding/binary"
	"fmt"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// appendReady encodes a Ready frame the way Bonfire does: every requested list is present, even
// when empty (bonfire.AppendFrame, like a client encoder, drops empty lists; stoat.js 7.3.4
// iterates them unchecked). policy_changes is present only when requested and Self is not a bot,
// channel_unreads only when requested (always empty here).
func appendReady(dst []byte, f bonfire.Format, ev *stoatpb.ReadyEvent, sel readyFields, bot bool) ([]byte, error) {
	type field struct {
		key   string
		items []proto.Message
	}
	var fields []field
	add := func(on bool, key string, items []proto.Message) {
		if on {
			fields = append(fields, field{key, items})
		}
	}
	add(sel.users, "users", msgs(ev.Users))
	add(sel.servers, "servers", msgs(ev.Servers))
	add(sel.channels, "channels", msgs(ev.Channels))
	add(sel.members, "members", msgs(ev.Members))
	add(sel.emojis, "emojis", msgs(ev.Emojis))
	add(sel.voiceStates, "voice_states", msgs(ev.VoiceStates))
	add(sel.channelUnreads, "channel_unreads", nil)
	add(sel.policyChanges && !bot, "policy_changes", msgs(ev.PolicyChanges))

	var err error
	if f == bonfire.Msgpack {
		dst = mpMapHeader(dst, 1+len(fields))
		dst = mpString(dst, "type")
		dst = mpString(dst, "Ready")
		for _, fl := range fields {
			dst = mpString(dst, fl.key)
			dst = mpArrayHeader(dst, len(fl.items))
			for _, m := range fl.items {
				if dst, err = bonfire.AppendModel(dst, f, m); err != nil {
					return dst, fmt.Errorf("stoattest: encoding Ready.%s: %w", fl.key, err)
				}
			}
		}
		return dst, nil
	}
	dst = append(dst, `{"type":"Ready"`...)
	for _, fl := range fields {
		dst = append(dst, `,"`...)
		dst = append(dst, fl.key...)
		dst = append(dst, `":[`...)
		for i, m := range fl.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = bonfire.AppendModel(dst, f, m); err != nil {
				return dst, fmt.Errorf("stoattest: encoding Ready.%s: %w", fl.key, err)
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

func msgs[T proto.Message](xs []T) []proto.Message {
	out := make([]proto.Message, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func mpMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
	}
}

func mpArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
	}
}

func mpString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}
