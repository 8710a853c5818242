package ermine

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/ermine-rt/ermine/internal/tokenfmt"
)

// redacted stands in for a secret in formatted values.
const redacted = "REDACTED"

// plainConfig is a Config without its methods, to be formatted as a struct.
type plainConfig Config

// redactedCopy returns c with REDACTED in place of a non-empty token, and its URLs without
// passwords.
func (c Config) redactedCopy() plainConfig {
	p := plainConfig(c)
	if p.Token != "" {
		p.Token = redacted
	}
	p.APIURL, p.EventsURL = redactedURL(p.APIURL), redactedURL(p.EventsURL)
	return p
}

// String formats the Config's fields like %+v does, with REDACTED in place of the token.
func (c Config) String() string { return fmt.Sprintf("%+v", c.redactedCopy()) }

// GoString formats the Config like %#v does, with REDACTED in place of the token.
func (c Config) GoString() string {
	return strings.Replace(fmt.Sprintf("%#v", c.redactedCopy()), "ermine.plainConfig", "ermine.Config", 1)
}

// Format implements fmt.Formatter so that every verb, not only those that use String and
// GoString, prints the Config redacted (%d or %t would print the token otherwise).
func (c Config) Format(f fmt.State, verb rune) { tokenfmt.Format(f, verb, c.String, c.GoString) }

// LogValue describes the Config for slog without the token: the URLs and the format.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("api_url", redactedURL(c.APIURL)),
		slog.String("events_url", redactedURL(c.EventsURL)),
		slog.String("format", c.WireFormat.String()),
		slog.String("credentials", credentials(c.Token)), // never the token itself
	)
}

// credentials says whether a token is set, without it.
func credentials(token string) string {
	if token == "" {
		return "none"
	}
	return redacted
}

// String describes the bot without its token: its API and events URLs, wire format and the state
// of its connection.
func (b *Bot) String() string {
	if b == nil {
		return "ermine.Bot(nil)"
	}
	return fmt.Sprintf("ermine.Bot{APIURL:%s EventsURL:%s Format:%s Connection:%s}",
		redactedURL(b.cfg.APIURL), b.eventsURL(), b.cfg.WireFormat, b.connection())
}

// GoString is String with a leading & (a Bot is always used by pointer).
func (b *Bot) GoString() string { return "&" + b.String() }

// Format implements fmt.Formatter so that every verb, not only %v and %s, describes the bot as
// String does; the default formatting of a Bot would print its Config, token included.
func (b *Bot) Format(f fmt.State, verb rune) { tokenfmt.Format(f, verb, b.String, b.GoString) }

// LogValue describes the bot for slog without its token.
func (b *Bot) LogValue() slog.Value {
	if b == nil {
		return slog.StringValue("ermine.Bot(nil)")
	}
	return slog.GroupValue(
		slog.String("api_url", redactedURL(b.cfg.APIURL)),
		slog.String("events_url", b.eventsURL()),
		slog.String("format", b.cfg.WireFormat.String()),
		slog.String("connection", b.connection()),
	)
}

// eventsURL is the configured events URL, or says that it is discovered.
func (b *Bot) eventsURL() string {
	if b.cfg.EventsURL == "" {
		return "(discovered from the API)"
	}
	return redactedURL(b.cfg.EventsURL)
}

// connection is the state of the bot's connection.
func (b *Bot) connection() string {
	if sh := b.shard.Load(); sh != nil {
		return sh.Stats().State.String()
	}
	return "not started"
}
