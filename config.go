package ermine

import (
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/shardactor"
)

// Connection tunes the bot's WebSocket connection. Zero fields take the defaults given with
// each; the connection's name, URL, token, format, logger and discovery come from the rest of
// Config.
type Connection struct {
	// PingInterval is the time between two heartbeat Pings; the first goes out one interval
	// after Ready. Default 20s.
	PingInterval time.Duration
	// PongTimeout is how long a Ping may stay unanswered before the connection is deemed dead
	// and replaced. Default 10s.
	PongTimeout time.Duration
	// HandshakeTimeout bounds the discovery of the events URL, the WebSocket handshake and,
	// separately, the wait for Authenticated after it. Default 10s.
	HandshakeTimeout time.Duration
	// ReadyTimeout bounds the wait for Ready after Authenticated; Ready can be many megabytes.
	// Default 60s.
	ReadyTimeout time.Duration
	// WriteTimeout bounds one frame write; a write that times out replaces the connection.
	// Default 10s.
	WriteTimeout time.Duration
	// Backoff paces reconnects.
	Backoff Backoff
	// MaxFrameSize is the largest frame accepted, in bytes; a larger one ends the connection.
	// Default 64 MiB (Ready can run to many megabytes).
	MaxFrameSize int64
	// Dial holds WebSocket dial options (HTTPClient for proxies and TLS, HTTPHeader…); nil
	// means ermine's, which send its User-Agent.
	Dial *websocket.DialOptions
	// Skip, if set, replaces the derived choice of the frames left undecoded: it gets a frame's
	// wire type ("Message", "UserUpdate"…) and reports whether to drop the frame. By default
	// ermine skips the types that no handler, wait or cache update needs. The frames the
	// connection itself needs (Authenticated, Ready, Pong, Error, Logout) are never skipped.
	Skip func(frameType string) bool
}

// Backoff paces reconnects: before each, the connection sleeps a random duration up to
// min(Max, Base·2ⁿ), n counting the reconnects since the last connection that stayed Ready for
// ResetAfter.
type Backoff struct {
	// Base is the ceiling of the first delay. Default 1s.
	Base time.Duration
	// Max caps the ceiling. Default 30s.
	Max time.Duration
	// ResetAfter is how long a connection must stay Ready for n to reset. Default 60s.
	ResetAfter time.Duration
	// Jitter, if set, replaces the source of uniform random numbers in [0, 1) that scales each
	// delay (default math/rand/v2.Float64), e.g. to make tests deterministic.
	Jitter func() float64
}

// REST tunes the bot's REST client; its base URL and token come from Config.APIURL and
// Config.Token.
type REST struct {
	// HTTPClient makes the requests (default: a client of its own with a 30 s timeout).
	HTTPClient *http.Client
	// Limiter paces the requests, e.g. one rest.LocalLimiter shared by several bots (default: a
	// LocalLimiter of the bot's own, which follows Stoat's rate-limit headers).
	Limiter rest.Limiter
	// Retry says how often a failed request is tried again (default rest.DefaultRetryPolicy).
	Retry *rest.RetryPolicy
	// SessionToken sends Config.Token as a user session token rather than a bot token.
	SessionToken bool
}

// shardConfig is the connection's configuration as package shardactor takes it, without what
// Run sets itself.
func (c Connection) shardConfig() shardactor.Config {
	return shardactor.Config{
		PingInterval:     c.PingInterval,
		PongTimeout:      c.PongTimeout,
		HandshakeTimeout: c.HandshakeTimeout,
		ReadyTimeout:     c.ReadyTimeout,
		WriteTimeout:     c.WriteTimeout,
		Backoff:          shardactor.Backoff{Base: c.Backoff.Base, Max: c.Backoff.Max, ResetAfter: c.Backoff.ResetAfter},
		Jitter:           c.Backoff.Jitter,
		MaxFrameSize:     c.MaxFrameSize,
		Dial:             c.Dial,
		Skip:             c.Skip,
	}
}

// options are the REST client's options that r sets.
func (r REST) options() []rest.Option {
	var opts []rest.Option
	if r.HTTPClient != nil {
		opts = append(opts, rest.WithHTTPClient(r.HTTPClient))
	}
	if r.Limiter != nil {
		opts = append(opts, rest.WithLimiter(r.Limiter))
	}
	if r.Retry != nil {
		opts = append(opts, rest.WithRetryPolicy(*r.Retry))
	}
	if r.SessionToken {
		opts = append(opts, rest.WithSessionToken())
	}
	return opts
}
