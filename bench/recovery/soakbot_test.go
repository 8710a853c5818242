package recovery

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/bench/measure"
)

// The soak's bot runs in a process of its own, this test binary started again with botEnv set,
// so that the RSS it reports is the bot's and not the fake server's (which keeps thousands of
// messages per channel) nor the poster's.
const botEnv = "ERMINE_RECOVERY_SOAK_BOT"

// TestMain runs the soak's bot when botEnv is set, the tests and benchmarks otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(botEnv); spec != "" {
		if err := soakBotMain(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "soak bot:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// botSpec is what the soak's bot process is told, as JSON in botEnv.
type botSpec struct {
	APIURL, EventsURL, Token string
	Channels                 []string // the channels whose messages are tracked, in their numbering
	Backfill                 ermine.BackfillConfig
	// BackoffBase and BackoffReset are the connection's Backoff.Base and ResetAfter.
	BackoffBase, BackoffReset time.Duration
	Sample                    time.Duration // between two memory samples
}

// botLine is one line the bot process prints on stdout: "ready" once connected, "count" every
// 100 ms, "mem" after each memory sample, "final" once it has stopped.
type botLine struct {
	Kind                                        string
	Distinct, Dups, Handled, Recovered, Foreign uint64
	RSS, Heap                                   uint64   `json:",omitempty"` // mem
	PerChannel                                  []uint64 `json:",omitempty"` // final: distinct per channel
}

// soakBotMain runs the soak's bot until in ends (the benchmark closes it, or exits), reporting
// on out.
func soakBotMain(specJSON string, in io.Reader, out io.Writer) error {
	var spec botSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("decoding %s: %w", botEnv, err)
	}
	log := newSoakLog(spec.Channels)
	bot, err := run(ermine.Config{
		Token: spec.Token, APIURL: spec.APIURL, EventsURL: spec.EventsURL, Logger: warnings(os.Stderr),
		Backfill:   spec.Backfill,
		Connection: ermine.Connection{Backoff: ermine.Backoff{Base: spec.BackoffBase, ResetAfter: spec.BackoffReset}},
	}, log.handle)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	if err := enc.Encode(botLine{Kind: "ready"}); err != nil {
		return errors.Join(fmt.Errorf("reporting: %w", err), bot.stop())
	}
	ended := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(ended)
	}()
	count, sample := time.NewTicker(100*time.Millisecond), time.NewTicker(spec.Sample)
	defer count.Stop()
	defer sample.Stop()
	for err == nil {
		select {
		case <-ended:
			if err := bot.stop(); err != nil {
				return err
			}
			l := log.line("final")
			for i := range log.seen {
				d, _ := log.seen[i].counts()
				l.PerChannel = append(l.PerChannel, d)
			}
			if err := enc.Encode(l); err != nil {
				return fmt.Errorf("reporting: %w", err)
			}
			return nil
		case <-count.C:
			err = enc.Encode(log.line("count"))
		case <-sample.C:
			l := log.line("mem")
			if l.RSS, l.Heap, err = memory(); err == nil {
				err = enc.Encode(l)
			}
		}
	}
	return errors.Join(fmt.Errorf("reporting: %w", err), bot.stop())
}

// memory forces a GC, gives the freed pages back to the OS, and returns the process's resident
// set and the heap the GC found live. The live heap comes from runtime/metrics rather than
// MemStats.HeapAlloc, which also counts what the running bot allocated since the GC.
func memory() (rss, live uint64, err error) {
	debug.FreeOSMemory() // runtime.GC, then the scavenger returns what is free
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 0, 0, fmt.Errorf("runtime/metrics: %s is not supported", m[0].Name)
	}
	rss, err = measure.RSS(os.Getpid())
	return rss, m[0].Value.Uint64(), err
}

// window is how far, in messages of one channel, the first message not handled yet may trail the
// newest handled before it is given up as lost. A channel's messages reach its handlers in id
// order, so a hole never fills later; the window only bounds the tracker's memory.
const window = 1 << 16

// channelSeen tracks which of one channel's messages (numbered 0, 1, … in posting order, the
// number is the content) its handlers got, in constant memory: every number below low was
// handled or given up, bits holds the numbers low … low+window-1.
type channelSeen struct {
	mu       sync.Mutex
	low      uint64
	bits     [window / 64]uint64
	distinct uint64 // numbers handled at least once
	dups     uint64 // handler calls for a number handled before (or given up)
}

// add records that the handlers got message seq.
func (c *channelSeen) add(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq < c.low {
		c.dups++
		return
	}
	for seq >= c.low+window { // give the oldest unhandled numbers up, to make room
		c.bits[c.low%window/64] &^= 1 << (c.low % 64)
		c.low++
	}
	w, bit := seq%window/64, uint64(1)<<(seq%64)
	if c.bits[w]&bit != 0 {
		c.dups++
		return
	}
	c.bits[w] |= bit
	c.distinct++
	for c.bits[c.low%window/64]&(1<<(c.low%64)) != 0 { // slide past what is complete
		c.bits[c.low%window/64] &^= 1 << (c.low % 64)
		c.low++
	}
}

func (c *channelSeen) counts() (distinct, dups uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.distinct, c.dups
}

// soakLog is what the soak's handlers got.
type soakLog struct {
	index     map[string]int // channel id → its number (read-only once built)
	seen      []channelSeen
	handled   atomic.Uint64 // handler calls
	recovered atomic.Uint64 // of which recovered (backfilled)
	foreign   atomic.Uint64 // messages the soak did not post (none expected)
}

func newSoakLog(channels []string) *soakLog {
	l := &soakLog{index: make(map[string]int, len(channels)), seen: make([]channelSeen, len(channels))}
	for i, ch := range channels {
		l.index[ch] = i
	}
	return l
}

func (l *soakLog) handle(_ *ermine.Context, ev *ermine.MessageCreateEvent) error {
	l.handled.Add(1)
	if ev.GetRecovered() {
		l.recovered.Add(1)
	}
	m := ev.GetMessage()
	ch, ok := l.index[m.GetChannel()]
	seq, err := strconv.ParseUint(m.GetContent(), 10, 64)
	if !ok || err != nil {
		l.foreign.Add(1)
		return nil
	}
	l.seen[ch].add(seq)
	return nil
}

// line returns the log's counts as a line of the given kind.
func (l *soakLog) line(kind string) botLine {
	out := botLine{Kind: kind, Handled: l.handled.Load(), Recovered: l.recovered.Load(), Foreign: l.foreign.Load()}
	for i := range l.seen {
		d, u := l.seen[i].counts()
		out.Distinct, out.Dups = out.Distinct+d, out.Dups+u
	}
	return out
}

// botProc is the soak's bot process, seen from the benchmark.
type botProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{} // closed at its "ready" line
	final chan botLine  // its "final" line
	ended chan error    // the end of its output: nil at EOF

	mu      sync.Mutex
	last    botLine     // the latest count
	samples []rssSample // its memory samples, stamped (at) when read
}

// startBot starts the soak's bot process with spec and waits until it is connected. The process
// ends when the benchmark does, if stop was not called before.
func startBot(b *testing.B, spec botSpec) *botProc {
	b.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	p := &botProc{cmd: exec.Command(os.Args[0]), ready: make(chan struct{}), final: make(chan botLine, 1), ended: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), botEnv+"="+string(js))
	p.cmd.Stderr = os.Stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("starting the bot process: %v", err)
	}
	b.Cleanup(func() {
		if _, err := p.stop(); err != nil {
			b.Error(err)
		}
	})
	go p.read(stdout)
	select {
	case <-p.ready:
	case err := <-p.ended:
		p.ended <- err // for stop
		b.Fatalf("the bot process ended before it was connected (%v)", err)
	case <-time.After(30 * time.Second):
		b.Fatal("the bot process was not connected within 30s")
	}
	return p
}

func (p *botProc) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20) // the final line lists every channel
	for sc.Scan() {
		var l botLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			p.ended <- fmt.Errorf("the bot process printed %q: %w", sc.Bytes(), err)
			return
		}
		switch l.Kind {
		case "ready":
			close(p.ready)
		case "final":
			p.final <- l
		case "mem":
			p.mu.Lock()
			p.samples = append(p.samples, rssSample{at: time.Now(), rss: l.RSS, heap: l.Heap})
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.last = l
		p.mu.Unlock()
	}
	p.ended <- sc.Err()
}

// latest returns the latest counts, and the memory samples with their times since epoch.
func (p *botProc) latest(epoch time.Time) (botLine, []rssSample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	samples := make([]rssSample, len(p.samples))
	for i, s := range p.samples {
		samples[i], samples[i].t = s, s.at.Sub(epoch)
	}
	return p.last, samples
}

// stop makes the bot stop (its stdin ends), waits for its final counts and for it to exit. Later
// calls return a zero line and nil.
func (p *botProc) stop() (botLine, error) {
	if p.stdin == nil {
		return botLine{}, nil
	}
	_ = p.stdin.Close()
	p.stdin = nil
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var final botLine
	var err error
	select {
	case final = <-p.final:
	case err = <-p.ended:
		err = fmt.Errorf("the bot process ended without its final counts (%v)", err)
	case <-ctx.Done():
		_ = p.cmd.Process.Kill() // our own child, by its pid
		err = errors.New("the bot process did not stop within 2 minutes")
	}
	if werr := p.cmd.Wait(); werr != nil {
		err = errors.Join(err, fmt.Errorf("the bot process: %w", werr))
	}
	return final, err
}
