package ermine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/internal/feedlink"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"google.golang.org/protobuf/proto"
)

// userAgent is what ermine sends as its User-Agent.
const userAgent = "ermine (https://github.com/ermine-rt/ermine, " + Version + ")"

// shardName is the name of the bot's connection. Stoat has one connection per session and no
// sharding; the name appears in events (GetShard), logs and owner keys.
const shardName = "shard-0"

// Run connects to Stoat and dispatches events until ctx ends; then it stops reading and closes
// the bot (Close) within ShutdownTimeout: what was read is processed, detached handlers may
// finish, and when Run returns nothing of the bot runs any more (see Close for the exact
// guarantee, and for what is discarded when ShutdownTimeout runs out — the error then says so).
// It returns nil after a graceful stop, and an error when the connection ends for good: the
// token was refused (*shardactor.AuthError) or the session was logged out
// (shardactor.ErrLoggedOut). Run may be called once.
func (b *Bot) Run(ctx context.Context) error {
	link := feedlink.From(ctx)
	if b.cfg.Token == "" && (link == nil || !link.Offline) {
		return errors.New("ermine: Config.Token is required to connect")
	}
	if b.stopping.Load() {
		return ErrClosed
	}
	if link != nil {
		link.Runtime = feedlink.Runtime{
			NewSource: func(shard string) func(context.Context, stoatpb.Event, int) error { return b.newSource(shard).ingest },
			Drain:     b.drain,
			Registry:  b.registry,
		}
		close(link.Attached)
		if link.Offline {
			return b.runOffline(ctx)
		}
	}
	if b.cfg.EventsURL == "" {
		if err := checkAPIURL(b.cfg.APIURL); err != nil {
			return err // a wrong setting does not heal by retrying
		}
	}
	if b.cluster != nil {
		return b.runCluster(ctx)
	}
	if b.cfg.MetricsAddr != "" {
		stop, err := b.serveMetrics(ctx, b.cfg.MetricsAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	src := b.newSource(shardName)
	src.router.GapChannels = b.cfg.Backfill.channels() // a live connection's reconnects have gaps
	runErr := b.connect(ctx, src)

	closeCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	closeErr := b.Close(closeCtx)
	stopped := ctx.Err() != nil || b.stopping.Load() // Run's context ended, or Close was called
	if stopped && (runErr == nil || errors.Is(runErr, context.Cause(ctx)) || errors.Is(runErr, ctx.Err()) || errors.Is(runErr, shardactor.ErrStopped)) {
		runErr = nil // a graceful stop
	}
	return errors.Join(runErr, closeErr)
}

// connect runs the connection, feeding src, until it ends for good or ctx ends.
func (b *Bot) connect(ctx context.Context, src *source) error {
	// Without EventsURL, the shard discovers it at the start of each connection attempt, so that
	// an outage of the API at start-up is retried with the shard's backoff like a failed dial.
	var discover func(context.Context) (string, error)
	if b.cfg.EventsURL == "" {
		discover = b.discoverEvents
	}
	cfg := b.cfg.Connection.shardConfig()
	cfg.Name, cfg.URL, cfg.Token, cfg.WireFormat = src.shard, b.cfg.EventsURL, b.cfg.Token, b.cfg.WireFormat
	cfg.Discover, cfg.Logger, cfg.Record = discover, b.logger, b.cfg.Record
	if cfg.Skip == nil {
		cfg.Skip = b.skipper.skip
	}
	if cfg.Dial == nil {
		cfg.Dial = &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {userAgent}}}
	}
	shard, err := shardactor.Spawn(ctx, b.system, cfg, src.ingest)
	if err != nil {
		return fmt.Errorf("ermine: starting the connection: %w", err)
	}
	b.shard.Store(shard)
	<-shard.Done()
	return shard.Err()
}

// runOffline is Run for a feed without a connection: the bot runs until ctx ends or Close is
// called, then stops as Run does.
func (b *Bot) runOffline(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-b.pipeline.Base.Done(): // cancelled by Close
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	return b.Close(closeCtx)
}

// sendFrame sends a client frame (BeginTyping, EndTyping…) on the connection.
func (b *Bot) sendFrame(ctx context.Context, frame proto.Message) error {
	s := b.shard.Load()
	if s == nil {
		return errors.New("ermine: not connected")
	}
	return s.Send(ctx, frame)
}

// Typing tells channel that the bot is typing (Stoat clients expire it after a few seconds).
func (b *Bot) Typing(ctx context.Context, channel string) error {
	return b.sendFrame(ctx, &stoatpb.BeginTypingFrame{Channel: channel})
}

// discoverEvents reads the events URL from the API root (GET / → ws), as the official clients do.
// It is the shard's Config.Discover: the shard bounds it with its HandshakeTimeout and retries it
// with its backoff. The request goes through the bot's REST client: its HTTP client (proxies,
// TLS), User-Agent, rate limits and body bound, and no token (GET / needs none).
func (b *Bot) discoverEvents(ctx context.Context) (string, error) {
	root := redactedURL(b.rest.BaseURL() + "/")
	node, err := b.rest.QueryNode(ctx)
	if err != nil {
		return "", fmt.Errorf("ermine: reading the API root %s: %w", root, err)
	}
	if node.WS == "" {
		return "", fmt.Errorf(`ermine: the API root %s names no events URL (its "ws" is missing or empty)`, root)
	}
	return node.WS, nil
}

// checkAPIURL refuses an API URL that the events URL cannot be discovered from.
func checkAPIURL(api string) error {
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("ermine: Config.APIURL %q: want http(s)://host[/path] to discover the events URL from, or set Config.EventsURL", redactedURL(api))
	}
	return nil
}

// redactedURL returns raw without a password, or a placeholder when it does not parse.
func redactedURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(not a URL)"
}
