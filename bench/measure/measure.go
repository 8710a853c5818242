// Package measure is what every bot under test shares: the Spec of a run (given to the bot's
// process as JSON — Go bots and bench/stoatjs/bench.mjs read the same fields), the Recorder a
// bot's handler calls (counting handler calls, latency from the frame's stamp to handler start in
// an HDR histogram), the Report a run ends with, and the JSON lines a bot process prints.
package measure

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/ermine-rt/ermine/bench/internal/clock"
)

// The handlers a run may use: what each MessageCreate handler does between its start and the
// moment it counts as run.
const (
	HandlerNoop = "noop"    // nothing
	HandlerCPU  = "cpu10us" // 10 µs of CPU (a busy loop)
	HandlerWait = "wait1ms" // waits 1 ms without holding back the bot's next events (ermine: ctx.Detach)
)

// Spec is one bot run.
type Spec struct {
	URL    string `json:"url"` // the events URL, with the server's query (rate, events)
	Token  string `json:"token"`
	Format string `json:"format"` // json or msgpack
	// Expect is the number of MessageCreate handler calls after which the bot stops; 0 means
	// the run ends once the Ready is applied.
	Expect  int    `json:"expect"`
	Handler string `json:"handler"`
	// Latency records frame-written → handler-start latency, except for the first Warmup
	// handler calls.
	Latency bool `json:"latency,omitempty"`
	Warmup  int  `json:"warmup,omitempty"`
	// Memory measures RSS and live heap after GC, and counts the cached entities, once the
	// last handler has run and the cache is up to date.
	Memory bool `json:"memory,omitempty"`
	// MaxFrame raises the bot's frame size limit (bytes) for a huge Ready; 0 keeps its default.
	MaxFrame int64 `json:"max_frame,omitempty"`
	// HeapProfile is where the bot writes a heap profile when it measures memory ("": nowhere);
	// the suite's child sets it (ProfileEnv), it is not part of the spec a peer reads.
	HeapProfile string `json:"-"`
	// TimeoutMS bounds the run (0: ten minutes); the report then says TimedOut.
	TimeoutMS int64 `json:"timeout_ms"`
}

// Timeout returns the run's bound.
func (s Spec) Timeout() time.Duration {
	if s.TimeoutMS <= 0 {
		return 10 * time.Minute
	}
	return time.Duration(s.TimeoutMS) * time.Millisecond
}

// Report is what a run measured.
type Report struct {
	Handled int64   `json:"handled"` // MessageCreate handler calls that ran to the end
	Seconds float64 `json:"seconds"` // from the first handler (or Ready) to the last handler's end
	Rate    float64 `json:"rate"`    // Handled / Seconds
	// ReadySeconds is the time from connecting to the Ready being applied to the cache.
	ReadySeconds float64        `json:"ready_seconds"`
	Latency      *Latency       `json:"latency,omitempty"`
	RSS          uint64         `json:"rss,omitempty"`  // bytes, after GC
	Heap         uint64         `json:"heap,omitempty"` // live heap bytes, after GC
	Cached       map[string]int `json:"cached,omitempty"`
	TimedOut     bool           `json:"timed_out,omitempty"`
	// FloorRate is the in-process floor's frames per second (replay runs only).
	FloorRate float64 `json:"floor_rate,omitempty"`
}

// Latency summarises frame-written → handler-start latency, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// Recorder counts a bot's handler calls and times them. Its methods are safe for concurrent use
// (ermine runs handlers of different channels in parallel).
type Recorder struct {
	spec  Spec
	clk   *clock.Clock
	start int64

	first, last, readyAt, appliedAt atomic.Int64
	begun, handled                  atomic.Int64

	mu   sync.Mutex
	hist *hdrhistogram.Histogram // µs

	done, ready         chan struct{}
	doneOnce, readyOnce sync.Once
}

// NewRecorder returns a Recorder for spec; the run's clock starts now.
func NewRecorder(spec Spec, clk *clock.Clock) *Recorder {
	r := &Recorder{spec: spec, clk: clk, start: clk.Now(), done: make(chan struct{}), ready: make(chan struct{})}
	if spec.Latency {
		r.hist = hdrhistogram.New(1, 120_000_000, 3) // 1 µs to 2 min, 3 significant digits
	}
	if spec.Expect <= 0 {
		close(r.done)
	}
	return r
}

// Ready records that the bot's Ready handler ran.
func (r *Recorder) Ready() {
	r.readyOnce.Do(func() {
		now := r.clk.Now()
		r.readyAt.Store(now)
		r.first.CompareAndSwap(0, now)
		close(r.ready)
	})
}

// Applied records that the Ready is now in the cache, for a bot whose Ready handler runs before
// its cache update (ermine); otherwise the Ready handler's time is used.
func (r *Recorder) Applied() { r.appliedAt.CompareAndSwap(0, r.clk.Now()) }

// Begin is called first in a MessageCreate handler, with the message's content.
func (r *Recorder) Begin(content string) {
	now := r.clk.Now()
	r.first.CompareAndSwap(0, now)
	n := r.begun.Add(1)
	if r.hist == nil || n <= int64(r.spec.Warmup) {
		return
	}
	if sent, ok := clock.ParseStamp(content); ok {
		us := max(1, (now-sent)/1000)
		r.mu.Lock()
		_ = r.hist.RecordValue(us) // a value past the range is dropped, not clamped
		r.mu.Unlock()
	}
}

// End is called last in a MessageCreate handler.
func (r *Recorder) End() {
	r.last.Store(r.clk.Now())
	if r.handled.Add(1) == int64(r.spec.Expect) {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

// Done is closed once Expect handler calls have ended.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// ReadyDone is closed once the Ready handler has run.
func (r *Recorder) ReadyDone() <-chan struct{} { return r.ready }

// Handled returns the handler calls that have ended.
func (r *Recorder) Handled() int64 { return r.handled.Load() }

// Report returns what was recorded.
func (r *Recorder) Report() Report {
	rep := Report{Handled: r.handled.Load()}
	if first, last := r.first.Load(), r.last.Load(); first > 0 && last > first {
		rep.Seconds = float64(last-first) / 1e9
		rep.Rate = float64(rep.Handled) / rep.Seconds
	}
	at := r.appliedAt.Load()
	if at == 0 {
		at = r.readyAt.Load()
	}
	if at > 0 {
		rep.ReadySeconds = float64(at-r.start) / 1e9
	}
	if r.hist != nil {
		r.mu.Lock()
		rep.Latency = &Latency{Count: r.hist.TotalCount(), P50: float64(r.hist.ValueAtQuantile(50)),
			P99: float64(r.hist.ValueAtQuantile(99)), P999: float64(r.hist.ValueAtQuantile(99.9)), Max: float64(r.hist.Max())}
		r.mu.Unlock()
	}
	return rep
}

// Spin burns d of CPU time in a busy loop, the way a handler doing real work would.
func Spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Memory returns the process's resident set and live heap after garbage collection, with the
// freed memory given back to the OS, so RSS is what an operator pays for what is kept.
//
// With heapProfile set, it also writes a heap profile of that moment there.
func Memory(heapProfile string) (rss, heap uint64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err = RSS(os.Getpid())
	if err == nil && heapProfile != "" {
		err = writeHeapProfile(heapProfile)
	}
	return rss, ms.HeapAlloc, err
}

// StartProfiles starts a CPU profile of this process in dir (named after role and the process
// id) and returns where its heap profile goes (for Memory) and how to end the CPU profile.
func StartProfiles(dir, role string) (heapProfile string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("measure: profile directory: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", role, os.Getpid()))
	f, err := os.Create(base + ".cpu.pprof")
	if err != nil {
		return "", nil, fmt.Errorf("measure: CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("measure: CPU profile: %w", err)
	}
	return base + ".heap.pprof", func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("measure: heap profile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("measure: heap profile: %w", err)
	}
	// Beside it, where the process's memory goes by the runtime's own classes (what RSS holds
	// beyond the live heap: fragmentation, metadata, stacks).
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	var text bytes.Buffer
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			fmt.Fprintf(&text, "%-50s %12d\n", s.Name, s.Value.Uint64())
		}
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".heap.pprof")+".memory.txt", text.Bytes(), 0o644); err != nil {
		return fmt.Errorf("measure: memory classes: %w", err)
	}
	return nil
}

// RSS reads a process's resident set size (VmRSS) from /proc.
func RSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("measure: reading RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("measure: parsing VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("measure: no VmRSS in /proc/%d/status", pid)
}

// Line is one line a bot or server process prints on stdout.
type Line struct {
	Addr     string  `json:"addr,omitempty"`     // server: listening on
	Progress *int64  `json:"progress,omitempty"` // bot: handler calls so far
	Result   *Report `json:"result,omitempty"`   // bot: the run's report (last line)
	Error    string  `json:"error,omitempty"`
}

// Out prints Lines; safe for concurrent use.
type Out struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewOut returns an Out printing to w.
func NewOut(w io.Writer) *Out { return &Out{enc: json.NewEncoder(w)} }

// Print prints l.
func (o *Out) Print(l Line) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Encode(l); err != nil {
		return fmt.Errorf("measure: printing: %w", err)
	}
	return nil
}

// Progress prints r's handler count every interval until ctx ends.
func (o *Out) Progress(ctx context.Context, r *Recorder, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := r.Handled()
			if o.Print(Line{Progress: &n}) != nil {
				return
			}
		}
	}
}
