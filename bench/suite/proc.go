package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/ermine-rt/ermine/bench/measure"
)

// proc is a child process: its stdout is read as measure.Lines, its stderr kept (the tail) for
// error messages, and its stdin held open — closing it tells the child to exit.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan measure.Line
	stderr *tail
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

// startProc starts argv in dir with env added. The process is killed when ctx ends.
func startProc(ctx context.Context, name string, argv, env []string, dir string) (*proc, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if _, set := os.LookupEnv("GORACE"); !set {
		// A race-enabled child (the suite's test binary) would sleep a second at exit.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.WaitDelay = 5 * time.Second
	p := &proc{name: name, cmd: cmd, lines: make(chan measure.Line, 256), stderr: &tail{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// Not StdoutPipe: Wait would close it at exit, losing a result line not yet read. Through an
	// io.Pipe, Wait returns only once all the output has been copied.
	stdout, pw := io.Pipe()
	cmd.Stdout = pw
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("suite: %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("suite: starting %s: %w", name, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var l measure.Line
			if b := sc.Bytes(); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &l) != nil {
				continue // not ours: stoat.js logs to stdout too
			}
			if l.Progress != nil {
				select { // progress may be dropped; the reader must never hold the child back
				case p.lines <- l:
				default:
				}
				continue
			}
			p.lines <- l // a few lines per child: the buffer holds them
		}
		_, _ = io.Copy(io.Discard, stdout) // a line too long for the scanner: keep draining
	}()
	go func() {
		p.err = cmd.Wait()
		_ = pw.Close()
		close(p.done)
	}()
	return p, nil
}

// result waits for the child's result line, passing progress lines to progress.
func (p *proc) result(ctx context.Context, progress func(int64)) (measure.Report, error) {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return measure.Report{}, p.failure(errors.New("exited without a result"))
			}
			switch {
			case l.Result != nil:
				return *l.Result, nil
			case l.Error != "":
				return measure.Report{}, p.failure(errors.New(l.Error))
			case l.Progress != nil && progress != nil:
				progress(*l.Progress)
			}
		case <-ctx.Done():
			return measure.Report{}, p.failure(ctx.Err())
		}
	}
}

// addr waits for a server child's address line.
func (p *proc) addr(ctx context.Context) (string, error) {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", p.failure(errors.New("exited before listening"))
			}
			if l.Addr != "" {
				return l.Addr, nil
			}
			if l.Error != "" {
				return "", p.failure(errors.New(l.Error))
			}
		case <-ctx.Done():
			return "", p.failure(ctx.Err())
		}
	}
}

func (p *proc) failure(err error) error {
	if msg := bytes.TrimSpace(p.stderr.bytes()); len(msg) > 0 {
		return fmt.Errorf("%s: %w\n%s", p.name, err, msg)
	}
	return fmt.Errorf("%s: %w", p.name, err)
}

// stop closes the child's stdin, waits for it to exit, and kills it after a grace period.
func (p *proc) stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write keeps p's end.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}
