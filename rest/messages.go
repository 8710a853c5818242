package rest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Message flags (SendMessage.Flags).
const (
	// FlagSuppressNotifications sends the message without notifying anyone.
	FlagSuppressNotifications uint32 = 1 << 1
	// FlagMentionsEveryone makes the message mention @everyone (bots only, with the permission).
	FlagMentionsEveryone uint32 = 1 << 2
	// FlagMentionsOnline marks an @online mention (set by the server, not sendable).
	FlagMentionsOnline uint32 = 1 << 3
)

// SendMessage is a message to send (the API's DataMessageSend). Content, Attachments or Embeds
// must be set.
type SendMessage struct {
	// Content is the text, at most 2000 characters.
	Content string `json:"content,omitempty"`
	// Replies are the messages this one replies to (at most 5).
	Replies []Reply `json:"replies,omitempty"`
	// Masquerade overrides the author's displayed name, avatar or colour.
	Masquerade *Masquerade `json:"masquerade,omitempty"`
	// Embeds are text embeds (at most 5).
	Embeds []SendableEmbed `json:"embeds,omitempty"`
	// Attachments are ids of files uploaded to Autumn (at most 5).
	Attachments []string `json:"attachments,omitempty"`
	// Interactions are the reactions the message offers.
	Interactions *Interactions `json:"interactions,omitempty"`
	// Flags are Flag* bits.
	Flags uint32 `json:"flags,omitempty"`
	// Nonce is the deprecated body field that IdempotencyKey replaces (1 to 64 characters).
	Nonce string `json:"nonce,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header (at most 64 characters): the
	// server accepts a key once, so a send with a key (or a Nonce) is retried after a 5xx or a
	// network error, and a DuplicateNonce error then means an earlier attempt got through.
	// NewIdempotencyKey makes one.
	IdempotencyKey string `json:"-"`
}

// Reply is a message that a sent message replies to (the API's ReplyIntent).
type Reply struct {
	// ID is the message replied to.
	ID string `json:"id"`
	// Mention makes the reply mention the replied message's author.
	Mention bool `json:"mention"`
	// FailIfNotExists (default true) makes the send fail when the message does not exist;
	// false sends without the reply.
	FailIfNotExists *bool `json:"fail_if_not_exists,omitempty"`
}

// Masquerade overrides how a message's author is shown.
type Masquerade struct {
	Name   string `json:"name,omitempty"`   // 1 to 32 characters
	Avatar string `json:"avatar,omitempty"` // an image URL
	// Colour is a CSS colour for the name; it needs the ManageRole permission.
	Colour string `json:"colour,omitempty"`
}

// SendableEmbed is a text embed to send.
type SendableEmbed struct {
	IconURL     string `json:"icon_url,omitempty"`
	URL         string `json:"url,omitempty"`
	Title       string `json:"title,omitempty"`       // at most 100 characters
	Description string `json:"description,omitempty"` // at most 2000, counted with the content
	// Media is the id of a file uploaded to Autumn.
	Media  string `json:"media,omitempty"`
	Colour string `json:"colour,omitempty"` // a CSS colour
}

// Interactions are the reactions a message offers.
type Interactions struct {
	// Reactions always appear on the message, in this order.
	Reactions []string `json:"reactions,omitempty"`
	// RestrictReactions allows no other reactions (needs at least one in Reactions).
	RestrictReactions bool `json:"restrict_reactions,omitempty"`
}

// EditMessage is a change to a message; nil fields are left as they are.
type EditMessage struct {
	Content *string `json:"content,omitempty"`
	// Embeds replaces the message's embeds: nil leaves them, an empty non-nil slice removes
	// them.
	Embeds []SendableEmbed `json:"embeds,omitzero"`
}

// MessageSort orders fetched messages.
type MessageSort string

// Message sorts.
const (
	SortLatest    MessageSort = "Latest"
	SortOldest    MessageSort = "Oldest"
	SortRelevance MessageSort = "Relevance" // searches only
)

// MessageQuery selects messages of a channel's history; the zero value asks for the latest 50.
type MessageQuery struct {
	// Limit is the number of messages, 1 to 100 (0: the server's default, 50). With Nearby,
	// up to Limit/2+1 on each side.
	Limit int
	// Before and After bound the ids (exclusive).
	Before, After string
	// Sort is SortLatest (the default) or SortOldest.
	Sort MessageSort
	// Nearby fetches the messages around this id, ignoring Before, After and Sort.
	Nearby string
	// IncludeUsers also fetches the authors (and their memberships in a server channel).
	IncludeUsers bool
}

func (q MessageQuery) values() url.Values {
	v := url.Values{}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Sort != "" {
		v.Set("sort", string(q.Sort))
	}
	if q.Nearby != "" {
		v.Set("nearby", q.Nearby)
	}
	if q.IncludeUsers {
		v.Set("include_users", "true")
	}
	return v
}

// Messages is a page of history: the messages, and with IncludeUsers their authors and, in a
// server channel, the authors' memberships.
type Messages struct {
	Messages []*stoatpb.Message
	Users    []*stoatpb.User
	Members  []*stoatpb.Member
}

// UnreactOptions selects which reactions Unreact removes: by default the bot's own.
type UnreactOptions struct {
	// UserID removes this user's reaction instead (needs ManageMessages).
	UserID string
	// RemoveAll removes every user's reaction with the emoji (needs ManageMessages).
	RemoveAll bool
}

// NewIdempotencyKey returns a random key for SendMessage.IdempotencyKey (26 characters).
func NewIdempotencyKey() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [26]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

func (c *Client) sendCall(route string, m SendMessage, args ...string) *call {
	k := post(route, args...).withBody(m)
	k.key = m.IdempotencyKey
	k.retry = m.IdempotencyKey != "" || m.Nonce != ""
	return k
}

// SendMessage sends a message to a channel (POST /channels/{channel}/messages) and returns it
// as the server stored it.
func (c *Client) SendMessage(ctx context.Context, channel string, m SendMessage) (*stoatpb.Message, error) {
	msg := new(stoatpb.Message)
	return msg, c.do(ctx, c.sendCall("/channels/{channel}/messages", m, channel), model(msg))
}

// SendText sends a plain text message to a channel: SendMessage with Content only.
func (c *Client) SendText(ctx context.Context, channel, content string) (*stoatpb.Message, error) {
	return c.SendMessage(ctx, channel, SendMessage{Content: content})
}

// FetchMessage fetches one message (GET /channels/{channel}/messages/{message}).
func (c *Client) FetchMessage(ctx context.Context, channel, message string) (*stoatpb.Message, error) {
	msg := new(stoatpb.Message)
	return msg, c.do(ctx, get("/channels/{channel}/messages/{message}", channel, message), model(msg))
}

// FetchMessages fetches a page of a channel's history (GET /channels/{channel}/messages).
func (c *Client) FetchMessages(ctx context.Context, channel string, q MessageQuery) (*Messages, error) {
	out := new(Messages)
	k := get("/channels/{channel}/messages", channel).withQuery(q.values())
	return out, c.do(ctx, k, func(data []byte) error {
		// A bare array, or {messages, users, members?} with include_users.
		if first := firstByte(data); first == '[' {
			var err error
			out.Messages, err = modelList[stoatpb.Message](data)
			return err
		}
		var w struct {
			Messages, Users, Members json.RawMessage
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return err
		}
		var err1, err2, err3 error
		out.Messages, err1 = modelList[stoatpb.Message](w.Messages)
		out.Users, err2 = modelList[stoatpb.User](w.Users)
		out.Members, err3 = modelList[stoatpb.Member](w.Members)
		return errors.Join(err1, err2, err3)
	})
}

// EditMessage edits one of the bot's messages (PATCH /channels/{channel}/messages/{message})
// and returns it as edited.
func (c *Client) EditMessage(ctx context.Context, channel, message string, e EditMessage) (*stoatpb.Message, error) {
	msg := new(stoatpb.Message)
	k := patch("/channels/{channel}/messages/{message}", channel, message).withBody(e)
	return msg, c.do(ctx, k, model(msg))
}

// DeleteMessage deletes a message (DELETE /channels/{channel}/messages/{message}). After a
// retried attempt, NotFound can mean an earlier attempt deleted it.
func (c *Client) DeleteMessage(ctx context.Context, channel, message string) error {
	return c.do(ctx, del("/channels/{channel}/messages/{message}", channel, message), nil)
}

// DeleteMessages deletes 1 to 100 messages of a channel at once, none older than a week
// (DELETE /channels/{channel}/messages/bulk; needs ManageMessages).
func (c *Client) DeleteMessages(ctx context.Context, channel string, ids []string) error {
	if len(ids) == 0 || len(ids) > 100 {
		return &Error{Method: "DELETE", Path: "/channels/{channel}/messages/bulk", Route: "/channels/{channel}/messages/bulk",
			Err: errors.New("bulk delete takes 1 to 100 ids, got " + strconv.Itoa(len(ids)))}
	}
	k := del("/channels/{channel}/messages/bulk", channel).withBody(map[string][]string{"ids": ids})
	return c.do(ctx, k, nil)
}

// React adds the bot's reaction to a message (PUT
// /channels/{channel}/messages/{message}/reactions/{emoji}); emoji is a Unicode emoji or a
// custom emoji's id.
func (c *Client) React(ctx context.Context, channel, message, emoji string) error {
	return c.do(ctx, put("/channels/{channel}/messages/{message}/reactions/{emoji}", channel, message, emoji), nil)
}

// Unreact removes reactions with one emoji from a message (DELETE
// /channels/{channel}/messages/{message}/reactions/{emoji}): the bot's own, one user's, or all.
func (c *Client) Unreact(ctx context.Context, channel, message, emoji string, o UnreactOptions) error {
	q := url.Values{}
	if o.UserID != "" {
		q.Set("user_id", o.UserID)
	}
	if o.RemoveAll {
		q.Set("remove_all", "true")
	}
	k := del("/channels/{channel}/messages/{message}/reactions/{emoji}", channel, message, emoji).withQuery(q)
	return c.do(ctx, k, nil)
}

// ClearReactions removes every reaction from a message (DELETE
// /channels/{channel}/messages/{message}/reactions; needs ManageMessages).
func (c *Client) ClearReactions(ctx context.Context, channel, message string) error {
	return c.do(ctx, del("/channels/{channel}/messages/{message}/reactions", channel, message), nil)
}

// PinMessage pins a message (POST /channels/{channel}/messages/{message}/pin).
func (c *Client) PinMessage(ctx context.Context, channel, message string) error {
	return c.do(ctx, post("/channels/{channel}/messages/{message}/pin", channel, message), nil)
}

// UnpinMessage unpins a message (DELETE /channels/{channel}/messages/{message}/pin).
func (c *Client) UnpinMessage(ctx context.Context, channel, message string) error {
	return c.do(ctx, del("/channels/{channel}/messages/{message}/pin", channel, message), nil)
}
