package rest

import (
	"context"
	"encoding/json"
)

// Node is what the API root says about the instance (GET /, the API's RevoltConfig), as far as a
// bot needs it.
type Node struct {
	// Revolt is the API's version, e.g. "0.8.3".
	Revolt string `json:"revolt"`
	// WS is the events WebSocket URL, e.g. "wss://events.stoat.chat".
	WS string `json:"ws"`
	// App is the web client's URL.
	App string `json:"app"`
	// Vapid is the instance's public key for web push.
	Vapid string `json:"vapid"`
}

// QueryNode fetches the instance's configuration from the API root (GET /), as the official
// clients do to find the events URL. The request carries no token (the route needs none) and is
// not retried after a 5xx or a network error: its caller (the shard's connection attempts) has a
// backoff of its own. A 429 is still waited out.
func (c *Client) QueryNode(ctx context.Context) (*Node, error) {
	n := new(Node)
	k := &call{method: "GET", route: "/", noAuth: true}
	return n, c.do(ctx, k, func(b []byte) error { return json.Unmarshal(b, n) })
}
