package ermine

import (
	"time"

	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// What a handler needs from the packages below, re-exported so that a bot imports this package
// alone. The event and model types are in stoat.ermine.go.
type (
	// Event is any event (see stoatpb.Event); ShardEvent, ChannelCreateEvent and AuthifierEvent
	// are the categories a handler may subscribe to.
	Event              = stoatpb.Event
	ShardEvent         = stoatpb.ShardEvent
	ChannelCreateEvent = stoatpb.ChannelCreateEvent
	AuthifierEvent     = stoatpb.AuthifierEvent

	// Subscription is a registered handler; Remove unregisters it.
	Subscription = dispatch.Subscription
	// HandlerOption configures a handler (Named).
	HandlerOption = dispatch.HandlerOption
	// WaitOption configures WaitFor and Expect (WithTimeout, WithCount…).
	WaitOption = dispatch.WaitOption
	// Pending is a wait registered by Expect.
	Pending[E Event] = dispatch.Pending[E]

	// Cache is the read side of the cache (Bot.Cache).
	Cache = cacheactors.Store
	// CachePolicy says what the cache keeps (Config.Cache).
	CachePolicy = cacheactors.Policy

	// OutgoingMessage is a message to send (Context.ReplyWith, Context.Send); NewMessage builds
	// one.
	OutgoingMessage = rest.SendMessage
	// OutgoingEmbed is a text embed of an outgoing message.
	OutgoingEmbed = rest.SendableEmbed
)

// ErrWaitTimeout is returned by a wait that timed out (WithTimeout).
var ErrWaitTimeout = dispatch.ErrWaitTimeout

// Named names a handler in logs and stats (default: its function's name).
func Named(name string) HandlerOption { return dispatch.Named(name) }

// WithTimeout bounds a wait.
func WithTimeout(d time.Duration) WaitOption { return dispatch.WithTimeout(d) }

// WithCount waits for n matching events.
func WithCount(n int) WaitOption { return dispatch.WithCount(n) }

// WithoutConsume lets the handlers run for the event a wait takes (by default it takes it).
func WithoutConsume() WaitOption { return dispatch.WithoutConsume() }

// WithManualProcess leaves the cache update of the event a wait takes to the waiter.
func WithManualProcess() WaitOption { return dispatch.WithManualProcess() }

// NewMessage starts an outgoing message with content; its methods add the rest.
func NewMessage(content string) *MessageBuilder {
	return &MessageBuilder{m: rest.SendMessage{Content: content}}
}

// MessageBuilder builds an outgoing message (Context.ReplyWith, Context.Send).
type MessageBuilder struct{ m rest.SendMessage }

// Embed adds an embed (at most 5).
func (b *MessageBuilder) Embed(e OutgoingEmbed) *MessageBuilder {
	b.m.Embeds = append(b.m.Embeds, e)
	return b
}

// As shows the message as sent by name, with avatar (an image URL; may be empty).
func (b *MessageBuilder) As(name, avatar string) *MessageBuilder {
	b.m.Masquerade = &rest.Masquerade{Name: name, Avatar: avatar}
	return b
}

// ReplyTo makes the message a reply to message, mentioning its author if mention.
func (b *MessageBuilder) ReplyTo(message string, mention bool) *MessageBuilder {
	b.m.Replies = append(b.m.Replies, rest.Reply{ID: message, Mention: mention})
	return b
}

// Attach adds files uploaded to Autumn, by id (at most 5).
func (b *MessageBuilder) Attach(ids ...string) *MessageBuilder {
	b.m.Attachments = append(b.m.Attachments, ids...)
	return b
}

// Reactions offers reactions on the message, in order; restrict allows no others.
func (b *MessageBuilder) Reactions(restrict bool, emojis ...string) *MessageBuilder {
	b.m.Interactions = &rest.Interactions{Reactions: emojis, RestrictReactions: restrict}
	return b
}

// Build returns the message.
func (b *MessageBuilder) Build() OutgoingMessage { return b.m }
