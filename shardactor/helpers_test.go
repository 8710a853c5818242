package shardactor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// waitTimeout bounds every wait on a condition; generous for -race on two cores.
const waitTimeout = 15 * time.Second

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a debug-level logger writing text into a buffer, shown if the test fails.
func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", b)
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// newSystem returns an actor system that logs through logger and shuts down with the test.
func newSystem(t *testing.T, logger *slog.Logger) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger.With("lib", "protoactor") }),
	))
	t.Cleanup(sys.Shutdown)
	return sys
}

// testConfig returns a shard config for srv with short intervals.
func testConfig(srv *stoattest.Server, f bonfire.Format, logger *slog.Logger) shardactor.Config {
	return shardactor.Config{
		Name:             "shard-test",
		URL:              srv.EventsURL(),
		Token:            srv.Token(),
		WireFormat:       f,
		PingInterval:     50 * time.Millisecond,
		PongTimeout:      150 * time.Millisecond,
		HandshakeTimeout: 2 * time.Second,
		ReadyTimeout:     2 * time.Second,
		Backoff:          shardactor.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond, ResetAfter: time.Minute},
		Logger:           logger,
	}
}

// steady returns cfg with a PongTimeout that a loaded machine will not miss, for tests that count
// connections but are not about the heartbeat (Pings still go out every 50ms).
func steady(cfg shardactor.Config) shardactor.Config {
	cfg.PongTimeout = 5 * time.Second
	return cfg
}

// recorder is a Sink that keeps every event and lets tests wait on what it has seen.
type recorder struct {
	mu      sync.Mutex
	evs     []stoatpb.Event
	changed chan struct{} // closed and replaced on every event
	// hook, if set, runs before an event is recorded; it may block or fail.
	hook func(ctx context.Context, ev stoatpb.Event) error
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) sink(ctx context.Context, ev stoatpb.Event, _ int) error {
	if r.hook != nil {
		if err := r.hook(ctx, ev); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// events returns a copy of the events seen so far.
func (r *recorder) events() []stoatpb.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stoatpb.Event(nil), r.evs...)
}

// wait waits until cond holds for the events seen so far and returns them.
func (r *recorder) wait(t *testing.T, what string, cond func([]stoatpb.Event) bool) []stoatpb.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		evs := append([]stoatpb.Event(nil), r.evs...)
		ch := r.changed
		r.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s; events: %s", what, names(evs))
		}
	}
}

// count returns how many events of type T are in evs.
func count[T stoatpb.Event](evs []stoatpb.Event) int {
	n := 0
	for _, ev := range evs {
		if _, ok := ev.(T); ok {
			n++
		}
	}
	return n
}

// withoutPongs drops the heartbeat's Pongs from evs.
func withoutPongs(evs []stoatpb.Event) []stoatpb.Event {
	var out []stoatpb.Event
	for _, ev := range evs {
		if _, ok := ev.(*stoatpb.PongEvent); !ok {
			out = append(out, ev)
		}
	}
	return out
}

func names(evs []stoatpb.Event) string {
	var b bytes.Buffer
	for i, ev := range evs {
		if i > 0 {
			b.WriteString(" ")
		}
		if i == 40 {
			b.WriteString("…")
			break
		}
		b.WriteString(ev.EventType().String())
	}
	return b.String()
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitDone waits for the shard to end and returns its error.
func waitDone(t *testing.T, sh *shardactor.Shard) error {
	t.Helper()
	select {
	case <-sh.Done():
		return sh.Err()
	case <-time.After(waitTimeout):
		t.Fatalf("shard did not end; stats %+v", sh.Stats())
		return nil
	}
}

// ctxT returns a context that ends with the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// spawn starts a shard that is stopped (and waited for) when the test ends.
func spawn(t *testing.T, sys *actor.ActorSystem, cfg shardactor.Config, rec *recorder) *shardactor.Shard {
	t.Helper()
	sh, err := shardactor.Spawn(context.Background(), sys, cfg, rec.sink)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	t.Cleanup(func() {
		sh.Stop()
		select {
		case <-sh.Done():
		case <-time.After(waitTimeout):
			t.Errorf("shard did not stop; stats %+v", sh.Stats())
		}
	})
	return sh
}

// typing returns n distinct ChannelStartTyping events, numbered in their user id.
func typing(from, n int) []stoatpb.Event {
	evs := make([]stoatpb.Event, n)
	for i := range evs {
		evs[i] = &stoatpb.ChannelStartTypingEvent{ChannelId: "01KCHANNEL", UserId: userID(from + i)}
	}
	return evs
}

func userID(i int) string { return fmt.Sprintf("user-%05d", i) }
