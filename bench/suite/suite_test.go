package suite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play the suite's children: the suite re-executes it with ChildArg.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChildArg {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := RunChild(ctx, os.Args[2:])
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole suite in smoke mode, as `ermine bench --smoke` does: every section,
// every process, tiny streams. It proves the suite works; it asserts nothing about speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the benchmark suite's smoke run in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := t.TempDir()
	var progress syncBuffer
	res, err := Run(ctx, Config{Mode: Smoke, Exe: []string{os.Args[0], ChildArg}, Out: out, Progress: &progress,
		Command: "go test ./bench/suite -run TestSmoke"})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if !r.Ermine.OK {
			t.Errorf("%s / %s: no ermine figure (%s)", r.Section, r.Scenario, r.Ermine.Note)
		}
		if r.Baseline.Note == "failed" || r.StoatJS.Note == "failed" || r.Floor.Note == "failed" {
			t.Errorf("%s / %s: a run failed", r.Section, r.Scenario)
		}
	}
	for _, s := range Sections {
		found := false
		for _, r := range res.Rows {
			found = found || r.Section == s
		}
		if !found {
			t.Errorf("no row in section %s", s)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	if err != nil || !strings.Contains(string(md), "Mode: **smoke**") {
		t.Fatalf("RESULTS.md: %v\n%s", err, md)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
