package ratelog

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/internal/testlog"
)

func TestBurstThenOneSummaryPerInterval(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Burst: 2, Interval: time.Second, Now: func() time.Time { return now }}
	var full, summaries int
	var reported uint64
	for i := 0; i < 10_000; i++ {
		if i%1000 == 0 {
			now = now.Add(300 * time.Millisecond)
		}
		v := l.Check("h")
		switch {
		case v.Full:
			full++
		case v.Suppressed > 0:
			summaries++
			reported += v.Suppressed
		}
	}
	l.Flush(func(_ string, n uint64) { reported += n })
	if full != 2 {
		t.Errorf("full lines = %d, want 2", full)
	}
	// 10 steps of 300ms = 3s: at most one summary per second.
	if summaries < 1 || summaries > 3 {
		t.Errorf("summaries = %d, want 1..3", summaries)
	}
	if reported != 10_000-2 {
		t.Errorf("reported suppressed = %d, want %d (every occurrence accounted for)", reported, 10_000-2)
	}
}

func TestKeysAreIndependentAndBounded(t *testing.T) {
	l := &Limiter{Burst: 1, MaxKeys: 2}
	if !l.Check("a").Full || !l.Check("b").Full {
		t.Fatal("the first occurrence of each key is logged in full")
	}
	if !l.Check("c").Full {
		t.Fatal("the overflow entry logs its first occurrence")
	}
	if l.Check("d").Full {
		t.Fatal("keys past MaxKeys share one entry")
	}
	if len(l.keys) != 3 {
		t.Fatalf("%d entries, want 3 (2 keys + overflow)", len(l.keys))
	}
}

func TestLogWritesFullThenSummary(t *testing.T) {
	var buf testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Unix(0, 0)
	l := &Limiter{Burst: 1, Interval: time.Second, Now: func() time.Time { return now }}
	stacks := 0
	full := func() []any { stacks++; return []any{"stack", "STACK"} }
	for i := 0; i < 100; i++ {
		l.Log(logger, slog.LevelError, "h", "handler panicked", full, "handler", "h")
	}
	now = now.Add(2 * time.Second)
	l.Log(logger, slog.LevelError, "h", "handler panicked", full, "handler", "h")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Fatalf("%d lines, want 2:\n%s", n, out)
	}
	if stacks != 1 || strings.Count(out, "STACK") != 1 {
		t.Errorf("stack taken %d times, want 1", stacks)
	}
	if !strings.Contains(out, "suppressed=100") {
		t.Errorf("summary does not count the 100 left out:\n%s", out)
	}
}
