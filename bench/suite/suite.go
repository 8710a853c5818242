// Package suite is `ermine bench`: it plans the benchmark's runs, starts every process they need
// (the frame server of each stream, then each bot under test against it, one at a time), shows
// live progress, and reports a table of ermine beside stoat.js 7.3.4, the quick Go bot (package
// baseline) and a floor, with ratios, as text and in bench/RESULTS.md and bench/results.json.
//
// Every figure is measured end to end in separate OS processes over loopback WebSockets, except
// the in-process replay section; every process is a child of the suite and ends with it; every run
// is bounded in time.
package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ermine-rt/ermine/bench/measure"
)

// Mode sets the sizes of a run.
type Mode string

// The modes.
const (
	Smoke Mode = "smoke" // seconds: every kind of run once, tiny; proves the suite works
	Quick Mode = "quick" // under 3 minutes on 2 cores: every scenario, smaller streams
	Full  Mode = "full"  // the published figures: 1M-event streams, a Ready of 1M members
)

// Config configures a run of the suite.
type Config struct {
	Mode Mode
	// Exe is the command line that re-executes into RunChild: a binary and its arguments up to
	// and including ChildArg.
	Exe []string
	// Root is the module's root directory (bench/stoatjs is found there); "" searches upward
	// from the working directory.
	Root string
	// Out is the directory RESULTS.md and results.json are written to: "" is bench/ under Root,
	// "-" writes neither.
	Out string
	// Only restricts the run to these sections (see Sections); empty runs them all.
	Only []string
	// Progress receives the live progress display (a terminal or a log); nil shows none.
	Progress io.Writer
	// Command is the command line recorded in RESULTS.md; Note, if set, is printed under it.
	Command, Note string
	// Logger receives debug logs (default: discard).
	Logger *slog.Logger
}

// Sections are the parts of the suite, in order.
var Sections = []string{"e2e", "latency", "replay", "memory", "ready", "scaling"}

// sizes are a mode's sizes.
type sizes struct {
	events, jsEvents int      // events in a throughput run: the Go bots', stoat.js's
	e2e              []string // the end-to-end scenarios (see plan); nil: all
	latencySeconds   float64  // length of a paced run
	rates, mpRates   []int    // offered rates of the paced runs, JSON and msgpack
	memory           int      // members and users added in the memory scenarios
	memoryMessages   []int    // messages added in each message memory scenario (over 1,000 channels)
	ready            readyWorld
	scales           []int // active channels of the scaling runs
	procs            []int // GOMAXPROCS values
	handlers         []string
	timeout          time.Duration // bound of one run
}

type readyWorld struct{ servers, channelsPer, users, membersPer int }

func (m Mode) sizes() (sizes, error) {
	all := []string{measure.HandlerNoop, measure.HandlerCPU, measure.HandlerWait}
	switch m {
	case Smoke:
		return sizes{events: 1000, jsEvents: 200, e2e: []string{"100 channels", "mixed"}, latencySeconds: 0.2,
			rates: []int{2_000}, memory: 500, memoryMessages: []int{500}, ready: readyWorld{10, 10, 100, 10}, procs: []int{1},
			handlers: []string{measure.HandlerWait}, timeout: time.Minute}, nil
	case Quick:
		return sizes{events: 100_000, jsEvents: 10_000, latencySeconds: 2, rates: []int{10_000, 50_000, 100_000},
			mpRates: []int{50_000}, memory: 20_000, memoryMessages: []int{100_000}, ready: readyWorld{1000, 10, 10_000, 100},
			scales: []int{10, 1000, 100_000}, procs: []int{1, 2}, handlers: all, timeout: time.Minute}, nil
	case Full:
		return sizes{events: 1_000_000, jsEvents: 100_000, latencySeconds: 10, rates: []int{10_000, 50_000, 100_000},
			mpRates: []int{10_000, 50_000, 100_000}, memory: 100_000, memoryMessages: []int{100_000, 900_000}, ready: readyWorld{10_000, 10, 100_000, 100},
			scales: []int{10, 1000, 100_000}, procs: []int{1, 2}, handlers: all, timeout: 10 * time.Minute}, nil
	}
	return sizes{}, fmt.Errorf("suite: unknown mode %q (smoke, quick or full)", m)
}

// Run runs the suite and returns its results. It returns an error when the suite could not run;
// runs that failed are marked in the results and joined in the error, after every other run.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	sz, err := cfg.Mode.sizes()
	if err != nil {
		return nil, err
	}
	if len(cfg.Exe) == 0 {
		return nil, errors.New("suite: Config.Exe is required (the command that re-executes into RunChild)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Root == "" {
		if cfg.Root, err = findRoot(); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Only {
		if !contains(Sections, s) {
			return nil, fmt.Errorf("suite: unknown section %q (one of %v)", s, Sections)
		}
	}
	r := &runner{cfg: cfg, sz: sz, prog: newProgress(cfg.Progress), res: newResults(cfg)}
	r.node = findNode(ctx, cfg.Root, r.prog)
	r.res.Machine = machine(r.node)
	if r.node.err != nil {
		r.res.Notes = append(r.res.Notes, "stoat.js column skipped: "+r.node.err.Error())
	}
	r.res.Notes = append(r.res.Notes, fmt.Sprintf("End-to-end runs send the Go bots the first %d events of each stream, stoat.js the first %d (it is slower, and its cache grows without bound).",
		sz.events, sz.jsEvents))
	groups := r.plan()
	runErr := r.run(ctx, groups)
	r.res.Elapsed = time.Since(r.res.Date).Round(time.Second).String()
	if ctx.Err() != nil {
		return r.res, fmt.Errorf("suite: stopped: %w", ctx.Err())
	}
	out := cfg.Out
	if out == "" {
		out = filepath.Join(cfg.Root, "bench")
	}
	if out != "-" {
		if err := r.res.write(out); err != nil {
			return r.res, errors.Join(runErr, err)
		}
		r.res.Written = out
	}
	return r.res, runErr
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
