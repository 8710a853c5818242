package rest

import (
	"fmt"
	"log/slog"

	"github.com/ermine-rt/ermine/internal/tokenfmt"
)

// GoString describes the client for %#v as String does, without its token or internals.
func (c *Client) GoString() string { return c.String() }

// LogValue describes the client for slog (the JSON handler would show {} otherwise): its base URL
// and the kind of its token, never the token.
func (c *Client) LogValue() slog.Value {
	kind := "bot"
	if c.session {
		kind = "session"
	}
	return slog.GroupValue(slog.String("base_url", c.shownBase()), slog.String("credentials", kind+" token, redacted"))
}

// Format implements fmt.Formatter so that every verb describes the client as String does: the
// verbs that do not apply to pointers (%t, %e…) would otherwise print the token behind its
// pointer.
func (c *Client) Format(f fmt.State, verb rune) { tokenfmt.Format(f, verb, c.String, c.GoString) }
