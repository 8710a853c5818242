package clustertest

import (
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/internal/testlog"
)

// NewActorSystem returns an actor system whose log (protoactor logs at INFO on every topology
// change and connection, in colour on stderr by default) goes to a buffer that is printed only if
// the test fails. opts are applied after the logger, so a caller can still replace it.
func NewActorSystem(t testing.TB, opts ...actor.ConfigOption) *actor.ActorSystem {
	t.Helper()
	// The buffer outlives the test: protoactor's goroutines may log after it ended, when t must
	// not be used any more.
	logs := new(testlog.Buffer)
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})
	all := append([]actor.ConfigOption{actor.WithLoggerFactory(func(s *actor.ActorSystem) *slog.Logger {
		return slog.New(h).With("system", s.ID)
	})}, opts...)
	sys := actor.NewActorSystemWithConfig(actor.Configure(all...))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("clustertest: log of actor system %s:\n%s", sys.ID, logs.String())
		}
	})
	return sys
}
