package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// world is stoattest.SmallWorld with its first server grown to n text channels; it returns the
// world, the ids of those channels and the ids of the server's members (the authors posted as).
func world(n int) (w *stoattest.World, channels, authors []string) {
	w = stoattest.SmallWorld(7)
	lab := w.Servers[0]
	for i := len(lab.Channels); i < n; i++ {
		c := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: fmt.Sprintf("01REC0VERYCHAN%012d", i),
			Server: lab.Id, Name: fmt.Sprintf("bench-%d", i)}
		w.Channels = append(w.Channels, c)
		lab.Channels = append(lab.Channels, c.Id)
	}
	for _, m := range w.Members {
		if m.GetId().GetServer() == lab.Id && m.GetId().GetUser() != w.Self.GetId() {
			authors = append(authors, m.GetId().GetUser())
		}
	}
	return w, lab.Channels[:n], authors
}

// running is a bot connected to a stoattest server, until stop.
type running struct {
	// readies receives the time of each Ready the bot's handler got (the first connection's
	// included).
	readies chan time.Time
	cancel  context.CancelFunc
	done    chan error
}

// start connects a bot with cfg to srv (Token, APIURL and EventsURL set to srv's; warnings
// logged to the benchmark's output unless cfg.Logger is set), with onMessage as its
// MessageCreateEvent handler, and waits for its first Ready. The bot stops when the benchmark
// ends, if stop was not called before.
func start(b *testing.B, srv *stoattest.Server, cfg ermine.Config, onMessage func(*ermine.Context, *ermine.MessageCreateEvent) error) *running {
	b.Helper()
	cfg.Token, cfg.APIURL = srv.Token(), srv.URL
	// No discovery (GET /) per connection attempt: the REST calls counted are the backfill's.
	cfg.EventsURL = srv.EventsURL()
	if cfg.Logger == nil {
		cfg.Logger = warnings(b.Output())
	}
	r, err := run(cfg, onMessage)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := r.stop(); err != nil {
			b.Error(err)
		}
	})
	return r
}

// run runs a bot with cfg and onMessage as its MessageCreateEvent handler, and waits for its
// first Ready.
func run(cfg ermine.Config, onMessage func(*ermine.Context, *ermine.MessageCreateEvent) error) (*running, error) {
	bot, err := ermine.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("ermine.New: %w", err)
	}
	ermine.Handle(bot, onMessage)
	r := &running{readies: make(chan time.Time, 1024), done: make(chan error, 1)}
	ermine.Handle(bot, func(*ermine.Context, *ermine.ReadyEvent) error {
		select {
		case r.readies <- time.Now():
		default: // nobody reads them (the soak counts reconnects on the server)
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- bot.Run(ctx) }()
	select {
	case <-r.readies:
		return r, nil
	case err := <-r.done:
		cancel()
		r.cancel = nil
		return nil, fmt.Errorf("the bot stopped before its first Ready (Run: %v)", err)
	case <-time.After(30 * time.Second):
		return nil, errors.Join(errors.New("no Ready within 30s"), r.stop())
	}
}

// warnings is a logger of the runtime's warnings to w: a failed backfill or a stalled owner is
// worth seeing, progress and the reconnects the benchmarks cause are not.
func warnings(w io.Writer) *slog.Logger {
	return slog.New(quietReconnects{slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})})
}

// stop stops the bot (Run drains what it read first) and returns Run's error. Later calls
// return nil.
func (r *running) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			return fmt.Errorf("bot.Run: %w", err)
		}
		return nil
	case <-time.After(time.Minute):
		return errors.New("bot.Run did not return within a minute of its context's end")
	}
}

// quietReconnects drops the connection's "reconnecting" warnings, which the benchmarks cause on
// purpose, and passes every other record on.
type quietReconnects struct{ slog.Handler }

func (h quietReconnects) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "connection lost; reconnecting") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietReconnects) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietReconnects{h.Handler.WithAttrs(attrs)}
}

func (h quietReconnects) WithGroup(name string) slog.Handler {
	return quietReconnects{h.Handler.WithGroup(name)}
}
