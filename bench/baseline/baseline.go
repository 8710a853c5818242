// Package baseline is the benchmark's reference Go bot, written the way a quick bot is: one
// coder/websocket connection, every frame decoded with encoding/json (or vmihailenco/msgpack)
// into maps, one map cache behind one mutex, and handlers called inline from the read loop. It is
// what ermine is measured against besides stoat.js: a plausible first bot, not a straw man, and
// not a library.
package baseline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/vmihailenco/msgpack/v5"
)

// Bot is a quick bot with a cache of everything it saw.
type Bot struct {
	// OnReady runs once the Ready is in the cache; OnMessage runs for each Message event, after
	// the cache update, on the read loop's goroutine.
	OnReady   func()
	OnMessage func(msg map[string]any)

	mu    sync.Mutex
	cache map[string]map[string]map[string]any // kind → id → object
}

// New returns a bot with an empty cache.
func New() *Bot {
	c := map[string]map[string]map[string]any{}
	for _, k := range []string{"users", "servers", "channels", "members", "emojis", "messages"} {
		c[k] = map[string]map[string]any{}
	}
	return &Bot{cache: c}
}

// Counts returns the number of cached objects of each kind.
func (b *Bot) Counts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, m := range b.cache {
		out[k] = len(m)
	}
	return out
}

// Run connects to the events URL and handles frames until ctx ends (it then returns nil) or the
// connection fails. format is "json" or "msgpack"; readLimit bounds one frame.
func (b *Bot) Run(ctx context.Context, eventsURL, token, format string, readLimit int64) error {
	u, err := url.Parse(eventsURL)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	q := u.Query()
	q.Set("version", "1")
	q.Set("format", format)
	q.Set("token", token)
	u.RawQuery = q.Encode()
	c, _, err := websocket.Dial(ctx, u.String(), nil)
	if err != nil {
		return fmt.Errorf("baseline: dialing: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(readLimit)

	decode := json.Unmarshal
	encode, typ := json.Marshal, websocket.MessageText
	if format == "msgpack" {
		decode, encode, typ = msgpack.Unmarshal, msgpack.Marshal, websocket.MessageBinary
	}
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go func() { // Stoat wants a Ping every 10–30 s
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-pingCtx.Done():
				return
			case <-t.C:
				if p, err := encode(map[string]any{"type": "Ping", "data": time.Now().UnixMilli()}); err == nil {
					_ = c.Write(pingCtx, typ, p)
				}
			}
		}
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("baseline: reading: %w", err)
		}
		var ev map[string]any
		if err := decode(data, &ev); err != nil {
			continue // a malformed frame: skip it, as any bot would
		}
		b.handle(ev)
	}
}

// handle applies one event to the cache, then calls the handlers.
func (b *Bot) handle(ev map[string]any) {
	switch ev["type"] {
	case "Bulk":
		items, _ := ev["v"].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				b.handle(m)
			}
		}
	case "Ready":
		b.mu.Lock()
		for _, kind := range []string{"users", "servers", "channels", "members", "emojis"} {
			list, _ := ev[kind].([]any)
			for _, it := range list {
				if obj, ok := it.(map[string]any); ok {
					b.cache[kind][key(obj["_id"])] = obj
				}
			}
		}
		b.mu.Unlock()
		if b.OnReady != nil {
			b.OnReady()
		}
	case "Message":
		b.mu.Lock()
		if u, ok := ev["user"].(map[string]any); ok {
			b.cache["users"][key(u["_id"])] = u
		}
		if m, ok := ev["member"].(map[string]any); ok {
			b.cache["members"][key(m["_id"])] = m
		}
		b.cache["messages"][key(ev["_id"])] = ev
		b.mu.Unlock()
		if b.OnMessage != nil {
			b.OnMessage(ev)
		}
	case "MessageUpdate":
		b.merge("messages", ev["id"], ev["data"])
	case "MessageDelete":
		b.remove("messages", ev["id"])
	case "ChannelCreate":
		b.mu.Lock()
		b.cache["channels"][key(ev["_id"])] = ev
		b.mu.Unlock()
	case "ChannelUpdate":
		b.merge("channels", ev["id"], ev["data"])
	case "ChannelDelete":
		b.remove("channels", ev["id"])
	case "ServerUpdate":
		b.merge("servers", ev["id"], ev["data"])
	case "ServerMemberJoin":
		id := map[string]any{"server": ev["id"], "user": ev["user"]}
		b.mu.Lock()
		b.cache["members"][key(id)] = map[string]any{"_id": id}
		b.mu.Unlock()
	case "ServerMemberUpdate":
		b.merge("members", ev["id"], ev["data"])
	case "ServerMemberLeave":
		b.remove("members", map[string]any{"server": ev["id"], "user": ev["user"]})
	case "UserUpdate":
		b.merge("users", ev["id"], ev["data"])
	}
}

func (b *Bot) merge(kind string, id, data any) {
	fields, _ := data.(map[string]any)
	b.mu.Lock()
	defer b.mu.Unlock()
	if obj, ok := b.cache[kind][key(id)]; ok {
		for k, v := range fields {
			obj[k] = v
		}
	}
}

func (b *Bot) remove(kind string, id any) {
	b.mu.Lock()
	delete(b.cache[kind], key(id))
	b.mu.Unlock()
}

// key is an object's cache key: its id, or server+user for a member's composite id.
func key(id any) string {
	switch v := id.(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v["server"].(string)
		u, _ := v["user"].(string)
		return s + u
	}
	return ""
}
