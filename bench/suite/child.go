package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/bench/baseline"
	"github.com/ermine-rt/ermine/bench/ermbot"
	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/bench/measure"
	"github.com/ermine-rt/ermine/bench/server"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/vmihailenco/msgpack/v5"
)

// ChildArg is the argument that makes a re-executed binary a child of the suite: a program that
// runs the suite passes Config.Exe, a command line ending where ChildArg goes, and hands the
// arguments after ChildArg to RunChild (cmd/ermine does it in `ermine bench`; a test, in TestMain).
const ChildArg = "__ermine_bench_child"

// ProfileEnv names the environment variable that, set to a directory, makes every Go bot of the
// suite write a CPU profile of its run and a heap profile at its memory measurement there
// (measure.StartProfiles): `ERMINE_BENCH_PROFILE=/tmp/prof go run ./cmd/ermine bench --only e2e`.
const ProfileEnv = "ERMINE_BENCH_PROFILE"

// The roles a child process can play.
const (
	roleServer   = "server"   // the frame server: a stream.Spec
	roleErmine   = "ermine"   // the ermine bot: a measure.Spec
	roleBaseline = "baseline" // the quick Go bot: a measure.Spec
	roleDiscard  = "discard"  // the server's ceiling: a discardSpec
	roleReplay   = "replay"   // in-process replay vs the floor: a replaySpec
)

type discardSpec struct {
	URL       string `json:"url"`
	Events    int    `json:"events"`
	TimeoutMS int64  `json:"timeout_ms"`
}

type replaySpec struct {
	Stream    stream.Spec `json:"stream"`
	TimeoutMS int64       `json:"timeout_ms"`
}

// RunChild runs one child process of the suite: args are the role and its JSON spec, as the
// suite passes them after ChildArg. It prints measure.Lines on stdout and returns when its work
// is done, ctx ends, or its standard input closes (the suite went away: no child outlives it).
func RunChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("suite: a child takes a role and a JSON spec, not %q", args)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Ends with stdin (or the process): a read cannot be interrupted, and need not be.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	out := measure.NewOut(os.Stdout)
	role, raw := args[0], []byte(args[1])
	var rep measure.Report
	var err error
	switch role {
	case roleServer:
		var spec stream.Spec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return fmt.Errorf("suite: %s spec: %w", role, err)
		}
		return server.ListenAndServe(ctx, spec, log, func(addr string) { _ = out.Print(measure.Line{Addr: addr}) })
	case roleErmine, roleBaseline:
		var spec measure.Spec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return fmt.Errorf("suite: %s spec: %w", role, err)
		}
		rep, err = runBot(ctx, role, spec, out)
	case roleDiscard:
		var spec discardSpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return fmt.Errorf("suite: %s spec: %w", role, err)
		}
		rctx, stop := context.WithTimeout(ctx, time.Duration(spec.TimeoutMS)*time.Millisecond)
		defer stop()
		rep.Handled = int64(spec.Events)
		rep.Rate, err = server.Discard(rctx, spec.URL, spec.Events)
	case roleReplay:
		var spec replaySpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return fmt.Errorf("suite: %s spec: %w", role, err)
		}
		rctx, stop := context.WithTimeout(ctx, time.Duration(spec.TimeoutMS)*time.Millisecond)
		defer stop()
		rep, err = replay(rctx, spec.Stream)
	default:
		return fmt.Errorf("suite: unknown child role %q", role)
	}
	if err != nil {
		_ = out.Print(measure.Line{Error: err.Error()})
		return err
	}
	return out.Print(measure.Line{Result: &rep})
}

// runBot runs the ermine bot or the baseline bot for spec, printing progress meanwhile.
func runBot(ctx context.Context, role string, spec measure.Spec, out *measure.Out) (measure.Report, error) {
	clk, err := clock.New()
	if err != nil {
		return measure.Report{}, err
	}
	rec := measure.NewRecorder(spec, clk)
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go out.Progress(pctx, rec, 250*time.Millisecond)
	rctx, stop := context.WithTimeout(ctx, spec.Timeout())
	defer stop()
	if dir := os.Getenv(ProfileEnv); dir != "" {
		heapProfile, stopProfile, err := measure.StartProfiles(dir, role)
		if err != nil {
			return measure.Report{}, err
		}
		defer stopProfile()
		spec.HeapProfile = heapProfile
	}
	if role == roleErmine {
		return ermbot.Run(rctx, spec, rec)
	}
	return runBaseline(rctx, spec, rec)
}

// runBaseline runs the quick Go bot: its handler runs inline on the read loop, as a quick bot's
// does; the waiting handler starts a goroutine, as a quick bot does for anything slow.
func runBaseline(ctx context.Context, spec measure.Spec, rec *measure.Recorder) (measure.Report, error) {
	bot := baseline.New()
	bot.OnReady = rec.Ready
	bot.OnMessage = func(msg map[string]any) {
		content, _ := msg["content"].(string)
		rec.Begin(content)
		switch spec.Handler {
		case measure.HandlerCPU:
			measure.Spin(10 * time.Microsecond)
		case measure.HandlerWait:
			go func() {
				measure.Sleep(ctx, time.Millisecond)
				rec.End()
			}()
			return
		}
		rec.End()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	limit := max(spec.MaxFrame, 64<<20)
	runErr := make(chan error, 1)
	go func() { runErr <- bot.Run(runCtx, spec.URL, spec.Token, spec.Format, limit) }()
	var rep measure.Report
	var err error
	ended := false
	for _, ch := range []<-chan struct{}{rec.ReadyDone(), rec.Done()} {
		select {
		case <-ch:
			continue
		case err = <-runErr:
			ended = true
			if err == nil {
				err = errors.New("the connection ended")
			}
			err = fmt.Errorf("baseline: stopped after %d handler calls: %w", rec.Handled(), err)
		case <-ctx.Done():
			rep.TimedOut = true
		}
		break
	}
	if err == nil && !rep.TimedOut && spec.Memory {
		rep.RSS, rep.Heap, err = measure.Memory(spec.HeapProfile)
		rep.Cached = bot.Counts()
	}
	stop()
	if !ended {
		<-runErr // Run returns nil once its context ends
	}
	r := rec.Report()
	r.RSS, r.Heap, r.Cached, r.TimedOut = rep.RSS, rep.Heap, rep.Cached, rep.TimedOut
	return r, err
}

// replay runs the stream's bytes through ermine's real pipeline in this process, with no network
// (what `ermine replay` does: decoder, router, owners, a no-op MessageCreate handler, cache), and,
// over the same bytes, the floor: encoding/json.Valid (msgpack: a decoder's Skip). Rate is the
// pipeline's frames per second until the last cache update, FloorRate the floor's.
func replay(ctx context.Context, spec stream.Spec) (measure.Report, error) {
	st, err := stream.Build(spec)
	if err != nil {
		return measure.Report{}, err
	}
	frames := make([][]byte, 0, st.Len()+1)
	frames = append(frames, st.Ready)
	for i := range st.Len() {
		frames = append(frames, st.Payload(i))
	}

	var rep measure.Report
	start := time.Now()
	if spec.Format == bonfire.JSON {
		for i, f := range frames {
			if !json.Valid(f) {
				return rep, fmt.Errorf("suite: frame %d is not valid JSON", i)
			}
		}
	} else {
		var r bytes.Reader
		dec := msgpack.NewDecoder(&r)
		for i, f := range frames {
			r.Reset(f)
			dec.Reset(&r)
			if err := dec.Skip(); err != nil {
				return rep, fmt.Errorf("suite: frame %d is not valid msgpack: %w", i, err)
			}
		}
	}
	rep.FloorRate = float64(len(frames)) / time.Since(start).Seconds()

	bot, err := ermine.New(ermine.Config{})
	if err != nil {
		return rep, err
	}
	defer bot.Close(context.Background())
	var handled atomic.Int64
	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		handled.Add(1)
		return nil
	})
	dec := bonfire.NewDecoder(spec.Format)
	fd, err := feed.Start(ctx, bot)
	if err != nil {
		return rep, err
	}
	src := fd.Source("replay")
	var evs []stoatpb.Event
	start = time.Now()
	for i, f := range frames {
		if evs, err = dec.Decode(f, evs[:0]); err != nil {
			return rep, fmt.Errorf("suite: decoding frame %d: %w", i, err)
		}
		for _, ev := range evs {
			ev.SetShard("replay")
			if err := src.Ingest(ctx, ev); err != nil {
				return rep, fmt.Errorf("suite: ingesting frame %d: %w", i, err)
			}
		}
	}
	if err := fd.Drain(ctx); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Rate = float64(len(frames)) / rep.Seconds
	rep.Handled = handled.Load()
	if want := int64(st.Messages(st.Len())); rep.Handled != want {
		return rep, fmt.Errorf("suite: replay ran %d MessageCreate handlers, want %d", rep.Handled, want)
	}
	return rep, nil
}
