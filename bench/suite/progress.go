package suite

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress is the live display: on a terminal, one line redrawn five times a second with the
// current run's handler calls and rate; elsewhere (a log, CI), a line per finished run and one
// every ten seconds during a long run.
type progress struct {
	w     io.Writer
	tty   bool
	total int

	mu      sync.Mutex
	step    int
	label   string
	n, of   int64
	start   time.Time
	counted bool

	stop chan struct{}
	done sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, stop: make(chan struct{})}
	if w == nil {
		return p
	}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	every := 10 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				if p.label != "" {
					p.draw(false)
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// begin starts a step: a run (of > 0: the handler calls it waits for) or, with of 0, any other
// step (a server building its stream).
func (p *progress) begin(label string, of int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counted = !isStatus(label)
	if p.counted {
		p.step++
	}
	p.label, p.n, p.of, p.start = label, 0, of, time.Now()
	if p.tty {
		p.draw(false)
	}
}

func isStatus(label string) bool { return len(label) > 13 && label[:13] == "frame server:" }

func (p *progress) update(n int64) {
	p.mu.Lock()
	p.n = n
	p.mu.Unlock()
}

// end finishes the current run with a summary.
func (p *progress) end(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		p.label = ""
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s %s: %s (%.1fs)\n", p.counter(), p.label, summary, time.Since(p.start).Seconds())
	p.label = ""
}

func (p *progress) counter() string {
	w := len(fmt.Sprint(p.total))
	return fmt.Sprintf("[%*d/%d]", w, p.step, p.total)
}

// draw shows the current step; p.mu is held.
func (p *progress) draw(final bool) {
	if p.w == nil {
		return
	}
	el := time.Since(p.start).Seconds()
	line := fmt.Sprintf("%s %s", p.counter(), p.label)
	if !p.counted {
		line = "        " + p.label
	}
	if p.of > 0 {
		line += fmt.Sprintf(" · %d/%d", p.n, p.of)
		if el > 0 && p.n > 0 {
			line += fmt.Sprintf(" (%s/s)", si(float64(p.n)/el))
		}
	}
	line += fmt.Sprintf(" · %.1fs", el)
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// close stops the display.
func (p *progress) close() {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.w != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// note prints a line outside any run (installing stoat.js, a skipped column).
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}
