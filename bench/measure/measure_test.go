package measure

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/bench/internal/clock"
)

func TestRecorderCountsAndTimes(t *testing.T) {
	clk, err := clock.New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	r := NewRecorder(Spec{Expect: n, Latency: true, Warmup: 100}, clk)
	r.Ready()
	var wg sync.WaitGroup
	for g := range 4 { // handlers run concurrently, as ermine runs them
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 4 {
				b := make([]byte, clock.StampLen)
				clock.PutStamp(b, clk.Now()-int64(g+1)*int64(time.Millisecond))
				r.Begin(string(b) + " content")
				r.End()
			}
		}()
	}
	select {
	case <-r.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after Expect handler calls")
	}
	wg.Wait()
	rep := r.Report()
	if rep.Handled != n || rep.Rate <= 0 || rep.Seconds <= 0 {
		t.Fatalf("report %+v", rep)
	}
	if l := rep.Latency; l == nil || l.Count != n-100 || l.P50 < 1000 || l.P50 > 5000 || l.Max < l.P999 {
		t.Fatalf("latency %+v, want %d samples between 1 and 4 ms", l, n-100)
	}
}

func TestRecorderReadyOnly(t *testing.T) {
	clk, err := clock.New()
	if err != nil {
		t.Fatal(err)
	}
	r := NewRecorder(Spec{}, clk)
	select {
	case <-r.Done():
	default:
		t.Fatal("a run expecting no handler calls is done from the start")
	}
	r.Ready()
	r.Applied()
	if rep := r.Report(); rep.ReadySeconds <= 0 || rep.Latency != nil {
		t.Fatalf("report %+v", rep)
	}
}

func TestRSS(t *testing.T) {
	rss, heap, err := Memory("")
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || heap == 0 {
		t.Fatalf("rss %d, heap %d", rss, heap)
	}
	if _, err := RSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestOutProgress(t *testing.T) {
	clk, err := clock.New()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var mu sync.Mutex
	out := NewOut(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	r := NewRecorder(Spec{Expect: 10}, clk)
	r.End()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	out.Progress(ctx, r, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var l Line
	if err := json.NewDecoder(&buf).Decode(&l); err != nil || l.Progress == nil || *l.Progress != 1 {
		t.Fatalf("first progress line %+v, %v", l, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
