package ermine

import (
	"context"
	"fmt"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// REST returns the bot's REST client (rate-limited; shared by every handler). A call made with a
// handler's Context, or a context derived from it, detaches the handler first: its owner goes
// on with the next events while the request is in flight.
func (b *Bot) REST() *rest.Client { return b.rest }

// Reply sends content to the channel of the event being handled, as a reply to its message when
// the event is a MessageCreate. Like every REST call made with the handler's Context, it
// detaches the handler first (see dispatch.Context.Detach): the owner goes on with the next
// events while the request is in flight.
func (c *Context) Reply(content string) (*stoatpb.Message, error) {
	return c.ReplyWith(OutgoingMessage{Content: content})
}

// ReplyWith is Reply with a whole message (see NewMessage): unless m says what it replies to, it
// replies to the event's message, without mentioning its author.
func (c *Context) ReplyWith(m OutgoingMessage) (*stoatpb.Message, error) {
	ch := channelOf(c.Event())
	if ch == "" {
		return nil, fmt.Errorf("ermine: %s has no channel to reply in", c.Event().EventType())
	}
	if mc, ok := c.Event().(*stoatpb.MessageCreateEvent); ok && len(m.Replies) == 0 {
		m.Replies = []rest.Reply{{ID: mc.GetMessage().GetId()}}
	}
	return c.Bot().rest.SendMessage(c, ch, m)
}

// Send sends a message to channel (detaching the handler first).
func (c *Context) Send(channel string, m OutgoingMessage) (*stoatpb.Message, error) {
	return c.Bot().rest.SendMessage(c, channel, m)
}

// React adds emoji (a Unicode emoji or a custom emoji id) to the message of a MessageCreate event
// (detaching the handler first).
func (c *Context) React(emoji string) error {
	mc, ok := c.Event().(*stoatpb.MessageCreateEvent)
	if !ok {
		return fmt.Errorf("ermine: React needs a MessageCreateEvent, not %s", c.Event().EventType())
	}
	return c.Bot().rest.React(c, mc.GetMessage().GetChannel(), mc.GetMessage().GetId(), emoji)
}

// FetchUser fetches a user over REST and hands it to its owner, so the cache learns it through
// the same ordered path as events (never behind the owner's back).
func (b *Bot) FetchUser(ctx context.Context, id string) (*stoatpb.User, error) {
	u, err := b.rest.FetchUser(ctx, id)
	if err != nil {
		return nil, err
	}
	key, patch := b.learn.User(u)
	b.dir.Deliver(key, patch)
	return u, nil
}

// FetchMember fetches a member over REST and hands it to its server's owner (see FetchUser).
func (b *Bot) FetchMember(ctx context.Context, server, user string) (*stoatpb.Member, error) {
	m, err := b.rest.FetchMember(ctx, server, user)
	if err != nil {
		return nil, err
	}
	key, patch := b.learn.Member(m)
	b.dir.Deliver(key, patch)
	return m, nil
}
