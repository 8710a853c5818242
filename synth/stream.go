package synth

import (
	"fmt"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// mix is the share (per 1,000) of each kind of event in a stream; messages dominate, as on a real
// bot's connection.
var mix = []struct {
	kind  string
	share int
}{
	{"message", 640}, {"edit", 60}, {"delete", 25}, {"react", 60}, {"unreact", 15},
	{"typing", 120}, {"user_update", 30}, {"member_join", 15}, {"member_update", 15},
	{"member_leave", 5}, {"role_update", 5}, {"channel_update", 4}, {"channel_churn", 2},
	{"voice", 4},
}

var emojis = []string{"👍", "🎉", "😂", "❤️", "🦦"}

var words = []string{"ermine", "stoat", "actor", "cache", "bonfire", "ready", "shard", "owner",
	"event", "handler", "message", "channel", "server", "member", "latency", "throughput"}

// Next returns the next event of the stream.
func (g *Generator) Next() stoatpb.Event {
	if g.w.Servers == 0 || g.w.ChannelsPerServer == 0 {
		return &stoatpb.UserUpdateEvent{UserId: g.UserID(g.rng.IntN(g.w.Users)), User: &stoatpb.PartialUser{Online: ptr(g.rng.IntN(2) == 0)}}
	}
	roll := g.rng.IntN(1000)
	kind := "message"
	for _, m := range mix {
		if roll < m.share {
			kind = m.kind
			break
		}
		roll -= m.share
	}
	s := g.rng.IntN(g.w.Servers)
	c := g.rng.IntN(g.w.ChannelsPerServer)
	author := g.MemberUser(s, g.rng.IntN(max(1, g.w.MembersPerServer)))
	switch kind {
	case "edit", "delete", "react", "unreact":
		if len(g.recent) == 0 {
			break
		}
		m := g.recent[g.rng.IntN(len(g.recent))]
		switch kind {
		case "edit":
			content := g.sentence() + " (edited)"
			edited := g.clock.UnixMilli()
			return &stoatpb.MessageUpdateEvent{MessageId: m.id, ChannelId: m.channel, Message: &stoatpb.PartialMessage{Content: &content, Edited: &edited, Embeds: &stoatpb.EmbedList{}}}
		case "delete":
			g.forget(m.id)
			return &stoatpb.MessageDeleteEvent{MessageId: m.id, ChannelId: m.channel}
		case "react":
			return &stoatpb.MessageReactEvent{MessageId: m.id, ChannelId: m.channel, UserId: g.UserID(author), Emoji: emojis[g.rng.IntN(len(emojis))]}
		default:
			return &stoatpb.MessageUnreactEvent{MessageId: m.id, ChannelId: m.channel, UserId: g.UserID(author), Emoji: emojis[g.rng.IntN(len(emojis))]}
		}
	case "typing":
		if g.rng.IntN(2) == 0 {
			return &stoatpb.ChannelStartTypingEvent{ChannelId: g.ChannelID(s, c), UserId: g.UserID(author)}
		}
		return &stoatpb.ChannelStopTypingEvent{ChannelId: g.ChannelID(s, c), UserId: g.UserID(author)}
	case "user_update":
		return &stoatpb.UserUpdateEvent{UserId: g.UserID(author), User: &stoatpb.PartialUser{Online: ptr(g.rng.IntN(2) == 0)}}
	case "member_join":
		u := g.rng.IntN(g.w.Users)
		return &stoatpb.ServerMemberJoinEvent{ServerId: g.ServerID(s), UserId: g.UserID(u),
			Member: &stoatpb.Member{Id: &stoatpb.MemberId{Server: g.ServerID(s), User: g.UserID(u)}, JoinedAt: g.clock.UnixMilli()}}
	case "member_update":
		nick := fmt.Sprintf("nick-%d", g.rng.IntN(1000))
		return &stoatpb.ServerMemberUpdateEvent{MemberId: &stoatpb.MemberId{Server: g.ServerID(s), User: g.UserID(author)},
			Member: &stoatpb.PartialMember{Nickname: &nick}}
	case "member_leave":
		return &stoatpb.ServerMemberRemoveEvent{ServerId: g.ServerID(s), UserId: g.UserID(g.rng.IntN(g.w.Users))}
	case "role_update":
		if g.w.RolesPerServer > 0 {
			colour := fmt.Sprintf("#%06x", g.rng.IntN(1<<24))
			return &stoatpb.RawServerRoleUpdateEvent{ServerId: g.ServerID(s), RoleId: g.RoleID(s, g.rng.IntN(g.w.RolesPerServer)),
				Role: &stoatpb.PartialRole{Colour: &colour}}
		}
	case "channel_update":
		desc := g.sentence()
		return &stoatpb.ChannelUpdateEvent{ChannelId: g.ChannelID(s, c), Channel: &stoatpb.PartialChannel{Description: &desc}}
	case "channel_churn":
		// A temporary channel comes and goes: created now, deleted by a later churn event.
		return &stoatpb.ServerChannelCreateEvent{Channel: &stoatpb.Channel{Id: g.newID(), ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL,
			Server: g.ServerID(s), Name: "temp-" + words[g.rng.IntN(len(words))]}}
	case "voice":
		vc := (c/4)*4 + 3 // every fourth channel is voice-capable
		if vc >= g.w.ChannelsPerServer {
			break
		}
		if g.rng.IntN(2) == 0 {
			return &stoatpb.VoiceChannelJoinEvent{ChannelId: g.ChannelID(s, vc), State: &stoatpb.UserVoiceState{Id: g.UserID(author), JoinedAt: g.clock.UnixMilli(), IsReceiving: true, IsPublishing: true}}
		}
		return &stoatpb.VoiceChannelLeaveEvent{ChannelId: g.ChannelID(s, vc), UserId: g.UserID(author)}
	}
	return g.message(s, c, author)
}

func (g *Generator) message(s, c, author int) *stoatpb.MessageCreateEvent {
	id := g.newID()
	ch := g.ChannelID(s, c)
	m := &stoatpb.Message{Id: id, Nonce: g.newID(), Channel: ch, Author: g.UserID(author), Content: g.sentence(),
		User: g.User(author), Member: g.Member(s, 0)}
	m.Member.Id.User = m.Author
	if g.rng.IntN(10) == 0 && len(g.recent) > 0 {
		m.Replies = []string{g.recent[g.rng.IntN(len(g.recent))].id}
	}
	g.remember(recentMessage{id: id, channel: ch})
	return &stoatpb.MessageCreateEvent{Message: m}
}

const recentLimit = 1024

func (g *Generator) remember(m recentMessage) {
	if len(g.recent) < recentLimit {
		g.recent = append(g.recent, m)
		return
	}
	g.recent[g.next] = m
	g.next = (g.next + 1) % recentLimit
}

func (g *Generator) forget(id string) {
	for i, m := range g.recent {
		if m.id == id {
			g.recent[i] = g.recent[len(g.recent)-1]
			g.recent = g.recent[:len(g.recent)-1]
			if g.next >= len(g.recent) {
				g.next = 0
			}
			return
		}
	}
}

func (g *Generator) sentence() string {
	n := 3 + g.rng.IntN(12)
	b := make([]byte, 0, n*8)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[g.rng.IntN(len(words))]...)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }
