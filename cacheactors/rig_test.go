package cacheactors

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// rig is the runtime's pipeline without the root package (the same parts ermine.Bot wires):
// a router, the owners on a local directory, the dispatch pipeline and the store.
type rig struct {
	tb       testing.TB
	store    *Store
	deps     *Deps
	reg      *dispatch.Registry
	stats    *dispatch.Stats
	dir      *actors.LocalDirectory
	router   *Router
	inflight *actors.Budget
	// protocol checks every message delivered to an owner (protocol_test.go).
	protocol *protocolLog
}

var testNow = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func newRig(tb testing.TB, p Policy) *rig {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{tb: tb, store: NewStore(), reg: dispatch.NewRegistry(), stats: &dispatch.Stats{}, inflight: actors.NewBudget(actors.BudgetConfig{}),
		protocol: &protocolLog{tb: tb}}
	pipe := &dispatch.Pipeline{Registry: r.reg, Logger: logger, Stats: r.stats, Base: context.Background()}
	r.deps = &Deps{Store: r.store, Pipeline: pipe, Acker: r.inflight, Policy: p, Now: func() time.Time { return testNow }}
	r.dir = actors.NewLocal(protocolFactory(r.deps, r.protocol), actors.WithLogger(logger))
	r.router = NewRouter("s0")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r.dir == nil {
			return
		}
		if err := r.dir.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
		if n := r.dir.Stats().Crashes; n > 0 {
			tb.Errorf("%d owners panicked", n)
		}
		if n := r.deps.GateStats().Unknown; n > 0 {
			tb.Errorf("owners got %d messages they do not handle", n)
		}
	})
	return r
}

// ingest routes events as Source.Ingest does.
func (r *rig) ingest(evs ...stoatpb.Event) {
	r.tb.Helper()
	for _, ev := range evs {
		if err := r.inflight.Acquire(context.Background(), 0); err != nil {
			r.tb.Fatal(err)
		}
		key, d := r.router.Route(ev, r.dir.Deliver)
		d.Stream, d.Seq = r.inflight.Charge(key, 0)
		r.dir.Deliver(key, d)
	}
}

// drain waits until every event and every patch is processed, as Bot.Drain does.
func (r *rig) drain() {
	r.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.inflight.InUse() > 0 || r.dir.Pending() > 0 {
		if time.Now().After(deadline) {
			r.tb.Fatalf("drain: %d events and %d messages pending", r.inflight.InUse(), r.dir.Pending())
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// run ingests evs and drains.
func (r *rig) run(evs ...stoatpb.Event) {
	r.tb.Helper()
	r.ingest(evs...)
	r.drain()
}

// handle registers a handler.
func handle[E stoatpb.Event](r *rig, fn func(ev E)) {
	dispatch.Handle(r.reg, func(_ *dispatch.Context, ev E) error { fn(ev); return nil })
}
