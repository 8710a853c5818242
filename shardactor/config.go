package shardactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/internal/tokenfmt"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// Defaults applied by Spawn to the zero fields of a Config.
const (
	DefaultName              = "shard-0"
	DefaultPingInterval      = 20 * time.Second
	DefaultPongTimeout       = 10 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultReadyTimeout      = 60 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxFrameSize      = 64 << 20
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 30 * time.Second
	DefaultBackoffReset      = 60 * time.Second
	DefaultRepeatLogInterval = 10 * time.Second
)

// Config configures a shard. Only Token and URL (or Discover) are required; zero fields take the
// defaults above.
//
// Printed with fmt (any verb) or logged with slog, a Config shows REDACTED in place of its token.
type Config struct {
	// Name identifies the shard in events (SetShard), logs, Stats and the actor's name
	// ("shardactor/<Name>"). Default "shard-0".
	Name string
	// URL is the events endpoint, e.g. "wss://events.stoat.chat/" or "ws://127.0.0.1:port/".
	// Its query is kept; version, format and token are set on it.
	URL string
	// Discover, used when URL is empty, returns the events URL (e.g. from the API root's "ws"). It
	// is called at the start of every connection attempt, bounded by HandshakeTimeout; an error
	// fails the attempt like a failed dial does: it is logged, recorded in Stats.LastError and
	// retried with Backoff, unless it wraps an *AuthError or ErrLoggedOut. When a later discovery
	// fails, the last URL discovered is dialled instead, so that an outage of the API alone does
	// not keep the shard from reconnecting, while a moved events endpoint is followed. The URL is
	// checked like URL; the error must not hold the token (it is scrubbed anyway).
	Discover func(ctx context.Context) (string, error)
	// Token is the bot or session token. It is sent only in the events URL.
	Token string
	// WireFormat is the wire format: bonfire.JSON (text frames, the zero value) or bonfire.Msgpack
	// (binary frames).
	WireFormat bonfire.Format

	// PingInterval is the time between two Pings; the first goes out one interval after Ready
	// (the server answers none before). Default 20s.
	PingInterval time.Duration
	// PongTimeout is how long a Ping may stay unanswered before the connection is deemed dead and
	// replaced. A Pong that does not match the outstanding Ping is ignored (Stats.PongsIgnored);
	// a new Ping is not sent while one is outstanding. Default 10s.
	//
	// This and the two handshake timeouts below do not count the time the reader spends busy,
	// decoding or blocked in the Sink: what the server sent meanwhile cannot be read yet.
	PongTimeout time.Duration
	// HandshakeTimeout bounds a Discover call, the WebSocket handshake and, separately, the wait
	// for the first frame (Authenticated) after it. Default 10s.
	HandshakeTimeout time.Duration
	// ReadyTimeout bounds the wait for Ready after Authenticated; Ready can be many megabytes.
	// Default 60s.
	ReadyTimeout time.Duration
	// WriteTimeout bounds one frame write; a write that times out replaces the connection.
	// Default 10s.
	WriteTimeout time.Duration
	// Backoff paces reconnects.
	Backoff Backoff
	// MaxFrameSize is the largest frame accepted (conn.SetReadLimit); a larger frame ends the
	// connection. Default 64 MiB, because Ready can run to many megabytes.
	MaxFrameSize int64

	// Logger receives the shard's logs, with a "shard" attribute. Default: discard.
	Logger *slog.Logger
	// Dial holds WebSocket dial options: HTTPClient (proxies, TLS), HTTPHeader (User-Agent)…
	// It is copied; nil means the defaults. Without an HTTPClient, the shard dials with a clone of
	// http.DefaultTransport that reads the socket 64 KiB at a time (coder/websocket alone reads
	// 4 KiB per system call); a client of your own is used as it is.
	Dial *websocket.DialOptions
	// Skip, if set, drops the frames of the wire types it reports true for ("Message",
	// "UserUpdate"…) after a cheap peek at their type and before decoding (bonfire.WithSkip):
	// event types nothing handles cost almost nothing. The frames the shard itself needs
	// (Authenticated, Ready, Pong, Error, Logout) are never skipped; Bulk children are checked
	// one by one.
	Skip func(frameType string) bool
	// Jitter returns uniform random numbers in [0, 1) for the backoff. Default math/rand/v2.Float64.
	// It is called from the shard's actor only.
	Jitter func() float64
	// RepeatLogInterval paces the log of a fault that repeats (malformed frames of one type): the
	// first occurrences are logged in full, then at most one line per RepeatLogInterval counts
	// those left out, and the rest is counted when the connection ends. Stats.DecodeErrors counts
	// every one. Default 10s.
	RepeatLogInterval time.Duration
	// Record, if set, receives every frame the shard reads, byte for byte, before it is decoded,
	// in the format `ermine replay` reads: one frame per line for JSON (a line break in a frame,
	// whitespace between JSON tokens, is written as a space), each frame after its length as a
	// 4-byte big-endian integer for msgpack. Each connection's frames follow a connect marker
	// (ConnectMarker), so that a replay sees the reconnects. Only received frames are recorded:
	// what the shard sends (Pings, Authenticate) is not, and the token appears in no frame.
	//
	// The reader goroutine writes it, two Write calls per frame and one goroutine at a time, and
	// waits for it: give it a buffered writer (bufio.Writer) and flush it once the shard is Done.
	// A failed write is counted (Stats.RecordErrors) and logged, rate-limited; the connection
	// goes on, and the recording may hold part of that frame.
	Record io.Writer
}

// plainConfig is a Config without its methods, to be formatted as a struct.
type plainConfig Config

// redactedCopy returns c with REDACTED in place of a non-empty token.
func (c Config) redactedCopy() plainConfig {
	p := plainConfig(c)
	if p.Token != "" {
		p.URL = redactQuery(p.URL, secretForms(p.Token)) // Spawn refuses a token there; be safe
		p.Token = redacted
	}
	return p
}

// String formats the Config's fields like %+v does, with its token redacted.
func (c Config) String() string { return fmt.Sprintf("%+v", c.redactedCopy()) }

// GoString formats the Config like %#v does, with its token redacted.
func (c Config) GoString() string {
	return strings.Replace(fmt.Sprintf("%#v", c.redactedCopy()), "shardactor.plainConfig", "shardactor.Config", 1)
}

// Format implements fmt.Formatter so that every verb, not only those that use String and
// GoString, prints the Config redacted (%d or %t would print the token otherwise).
func (c Config) Format(f fmt.State, verb rune) { tokenfmt.Format(f, verb, c.String, c.GoString) }

// LogValue keeps the token out of logs when a Config is logged with slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("url", redactQuery(c.URL, secretForms(c.Token))),
		slog.Bool("discover", c.Discover != nil),
		slog.String("credentials", redacted), // never the token itself
		slog.String("format", c.WireFormat.String()),
	)
}

// Backoff is the reconnect policy: exponential backoff with full jitter. Before a reconnect, the
// shard sleeps a uniformly random duration in [0, min(Max, Base·2ⁿ)), where n counts the
// reconnects since the shard started or since the exponent was last reset.
//
// The exponent resets when a connection has stayed Ready for ResetAfter, not on Ready itself: a
// server that sends Ready and then drops the socket at once keeps being backed off instead of
// being asked for a full snapshot every Base.
type Backoff struct {
	// Base is the ceiling of the first delay. Default 1s.
	Base time.Duration
	// Max caps the ceiling. Default 30s.
	Max time.Duration
	// ResetAfter is how long a connection must stay Ready for the exponent to reset. Default 60s.
	ResetAfter time.Duration
}

// Delay returns the sleep before reconnect attempt n for u, a uniform random number in [0, 1):
// u·min(Max, Base·2ⁿ). It neither overflows nor exceeds Max for any n.
func (b Backoff) Delay(n int, u float64) time.Duration {
	ceil := b.Base
	for i := 0; i < n && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max || ceil <= 0 {
		ceil = b.Max
	}
	u = min(max(u, 0), 1)
	return time.Duration(u * float64(ceil))
}

// settings is a validated Config with defaults applied and the URLs built. Formatted or logged, it
// shows its Config (redacted) only.
type settings struct {
	Config
	// endpoint is Config.URL's; the zero endpoint when the URL is discovered.
	endpoint    endpoint
	msgType     websocket.MessageType
	decoderOpts []bonfire.DecoderOption
	secrets     []string // the token as it may appear in text: raw and query-escaped
}

// endpoint is an events URL ready to dial, and the form of it that may be shown.
type endpoint struct {
	dial     string // with the token; never logged
	redacted string // token=REDACTED
}

const redacted = "REDACTED"

func (c Config) settings() (*settings, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Token == "" {
		return nil, errors.New("shardactor: Config.Token is empty")
	}
	if c.WireFormat != bonfire.JSON && c.WireFormat != bonfire.Msgpack {
		return nil, fmt.Errorf("shardactor: unknown Config.WireFormat %d", c.WireFormat)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PongTimeout, DefaultPongTimeout)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.ReadyTimeout, DefaultReadyTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.RepeatLogInterval, DefaultRepeatLogInterval)
	def(&c.Backoff.Base, DefaultBackoffBase)
	def(&c.Backoff.Max, DefaultBackoffMax)
	def(&c.Backoff.ResetAfter, DefaultBackoffReset)
	if c.Backoff.Max < c.Backoff.Base {
		c.Backoff.Max = c.Backoff.Base
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	var opts websocket.DialOptions
	if c.Dial != nil {
		opts = *c.Dial
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = bufferedClient()
	}
	c.Dial = &opts

	s := &settings{Config: c, secrets: secretForms(c.Token)}
	if c.URL != "" || c.Discover == nil {
		var err error
		if s.endpoint, err = s.newEndpoint(c.URL, "Config.URL"); err != nil {
			return nil, err
		}
	}

	if skip := c.Skip; skip != nil {
		s.decoderOpts = append(s.decoderOpts, bonfire.WithSkip(func(t string) bool {
			switch t {
			case "Authenticated", "Ready", "Pong", "Error", "Logout":
				return false
			}
			return skip(t)
		}))
	}
	s.msgType = websocket.MessageText
	if c.WireFormat == bonfire.Msgpack {
		s.msgType = websocket.MessageBinary
	}
	return s, nil
}

// secretForms returns the forms in which token may appear in text: raw and query-escaped.
func secretForms(token string) []string {
	forms := []string{token}
	if esc := url.QueryEscape(token); esc != token {
		forms = append(forms, esc)
	}
	return forms
}

// newEndpoint checks raw, the events URL from what (Config.URL or Discover), and builds its URLs.
// Errors and the redacted URL show it with its password, token parameter and every form of the
// token replaced: a discovered URL comes from a server, and may quote the token anywhere.
func (s *settings) newEndpoint(raw, what string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("shardactor: %s is not a URL", what)
	}
	q := u.Query()
	if q.Has("token") {
		return endpoint{}, fmt.Errorf("shardactor: %s must not carry a token; set Config.Token", what)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return endpoint{}, fmt.Errorf("shardactor: %s %q: the scheme must be ws or wss", what, redactQuery(raw, s.secrets))
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("shardactor: %s %q has no host", what, redactQuery(raw, s.secrets))
	}
	q.Set("version", "1")
	q.Set("format", s.WireFormat.String())
	q.Set("token", redacted)
	u.RawQuery = q.Encode()
	e := endpoint{redacted: replaceAll(u.Redacted(), s.secrets)}
	q.Set("token", s.Token)
	u.RawQuery = q.Encode()
	e.dial = u.String()
	return e, nil
}
