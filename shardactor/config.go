package shardactor

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
)

// Defaults applied by Spawn to the zero fields of a Config.
const (
	DefaultName             = "shard-0"
	DefaultPingInterval     = 20 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadyTimeout     = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxFrameSize     = 64 << 20
	DefaultBackoffBase      = time.Second
	DefaultBackoffMax       = 30 * time.Second
	DefaultBackoffReset     = 60 * time.Second
)

// Config configures a shard. Only URL and Token are required; zero fields take the defaults above.
type Config struct {
	// Name identifies the shard in events (SetShard), logs, Stats and the actor's name
	// ("shardactor/<Name>"). Default "shard-0".
	Name string
	// URL is the events endpoint, e.g. "wss://events.stoat.chat/" or "ws://127.0.0.1:port/".
	// Its query is kept; version, format and token are set on it.
	URL string
	// Token is the bot or session token. It is sent only in the events URL.
	Token string
	// Format is the wire format: bonfire.JSON (text frames, the zero value) or bonfire.Msgpack
	// (binary frames).
	Format bonfire.Format

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
	// HandshakeTimeout bounds the WebSocket handshake and, separately, the wait for the first
	// frame (Authenticated) after it. Default 10s.
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
	// It is copied; nil means the defaults.
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
}

// LogValue keeps the token out of logs when a Config is logged with slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("url", c.URL),
		slog.String("credentials", redacted), // never the token itself
		slog.String("format", c.Format.String()),
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

// settings is a validated Config with defaults applied and the URLs built.
type settings struct {
	Config
	dialURL     string // with the token; never logged
	redactedURL string // token=REDACTED
	msgType     websocket.MessageType
	decoderOpts []bonfire.DecoderOption
	secrets     []string // the token as it may appear in text: raw and query-escaped
}

const redacted = "REDACTED"

func (c Config) settings() (*settings, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Token == "" {
		return nil, errors.New("shardactor: Config.Token is empty")
	}
	if c.Format != bonfire.JSON && c.Format != bonfire.Msgpack {
		return nil, fmt.Errorf("shardactor: unknown Config.Format %d", c.Format)
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
	c.Dial = &opts

	s := &settings{Config: c, secrets: []string{c.Token}}
	if esc := url.QueryEscape(c.Token); esc != c.Token {
		s.secrets = append(s.secrets, esc)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, errors.New("shardactor: Config.URL is not a URL") // its text may hold a secret
	}
	q := u.Query()
	if q.Has("token") {
		return nil, errors.New("shardactor: Config.URL must not carry a token; set Config.Token")
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("shardactor: Config.URL %q: the scheme must be ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("shardactor: Config.URL %q has no host", u.Redacted())
	}
	q.Set("version", "1")
	q.Set("format", c.Format.String())
	q.Set("token", redacted)
	u.RawQuery = q.Encode()
	s.redactedURL = u.Redacted()
	q.Set("token", c.Token)
	u.RawQuery = q.Encode()
	s.dialURL = u.String()

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
	if c.Format == bonfire.Msgpack {
		s.msgType = websocket.MessageBinary
	}
	return s, nil
}
