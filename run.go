package ermine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"google.golang.org/protobuf/proto"
)

// UserAgent is what ermine sends as its User-Agent.
const UserAgent = "ermine (https://github.com/ermine-rt/ermine, " + Version + ")"

// ShardName is the name of the bot's connection. Stoat has one connection per session and no
// sharding; the name appears in events (GetShard), logs and owner keys.
const ShardName = "shard-0"

// Run connects to Stoat and dispatches events until ctx ends; then it stops reading and closes
// the bot (Close) within ShutdownTimeout: what was read is processed, detached handlers may
// finish, and when Run returns nothing of the bot runs any more (see Close for the exact
// guarantee, and for what is discarded when ShutdownTimeout runs out — the error then says so).
// It returns nil after a graceful stop, and an error when the connection ends for good: the
// token was refused (*shardactor.AuthError) or the session was logged out
// (shardactor.ErrLoggedOut). Run may be called once.
func (b *Bot) Run(ctx context.Context) error {
	if b.cfg.Token == "" {
		return errors.New("ermine: Config.Token is required to connect")
	}
	events := b.cfg.EventsURL
	if events == "" {
		var err error
		if events, err = discoverEvents(ctx, b.cfg.APIURL); err != nil {
			return err
		}
	}
	src := b.NewSource(ShardName)
	cfg := b.cfg.Shard
	cfg.Name, cfg.URL, cfg.Token, cfg.Format = ShardName, events, b.cfg.Token, b.cfg.Format
	if cfg.Logger == nil {
		cfg.Logger = b.logger
	}
	if cfg.Dial == nil {
		cfg.Dial = &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {UserAgent}}}
	}
	shard, err := shardactor.Spawn(ctx, b.system, cfg, src.Ingest)
	if err != nil {
		return fmt.Errorf("ermine: starting the connection: %w", err)
	}
	b.shard.Store(shard)
	<-shard.Done()
	runErr := shard.Err()

	closeCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	closeErr := b.Close(closeCtx)
	if ctx.Err() != nil && (runErr == nil || errors.Is(runErr, ctx.Err()) || errors.Is(runErr, shardactor.ErrStopped)) {
		runErr = nil // a graceful stop
	}
	return errors.Join(runErr, closeErr)
}

// SendFrame sends a client frame (BeginTyping, EndTyping, Subscribe…) on the connection.
func (b *Bot) SendFrame(ctx context.Context, frame proto.Message) error {
	s := b.shard.Load()
	if s == nil {
		return errors.New("ermine: not connected")
	}
	return s.Send(ctx, frame)
}

// Typing tells channel that the bot is typing (Stoat clients expire it after a few seconds).
func (b *Bot) Typing(ctx context.Context, channel string) error {
	return b.SendFrame(ctx, &stoatpb.BeginTypingFrame{Channel: channel})
}

// discoverEvents reads the events URL from the API root (GET / → ws), as the official client does.
func discoverEvents(ctx context.Context, api string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(api, "/")+"/", nil)
	if err != nil {
		return "", fmt.Errorf("ermine: discovering the events URL: %w", err)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ermine: discovering the events URL from %s: %w", api, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ermine: discovering the events URL from %s: %s", api, resp.Status)
	}
	var root struct {
		WS string `json:"ws"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&root); err != nil || root.WS == "" {
		return "", fmt.Errorf("ermine: %s/ does not name an events URL (ws): %v", api, err)
	}
	return root.WS, nil
}
