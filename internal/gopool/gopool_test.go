package gopool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReusesParkedGoroutines(t *testing.T) {
	var wg sync.WaitGroup
	var ran atomic.Int64
	p := New(4, func(int) { ran.Add(1); wg.Done() })
	before := runtime.NumGoroutine()
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		p.Go(i)
		wg.Wait() // one at a time: one goroutine serves them all…
		for len(p.idle) == 0 {
			runtime.Gosched() // …once it has parked again after its job
		}
	}
	if ran.Load() != 1000 {
		t.Fatalf("ran %d jobs", ran.Load())
	}
	if n := runtime.NumGoroutine() - before; n > 1 {
		t.Fatalf("%d goroutines for sequential jobs, want 1 parked", n)
	}
	p.Stop()
	waitGoroutines(t, before)
}

func TestBlockedJobsDoNotHoldOthersUp(t *testing.T) {
	release := make(chan struct{})
	done := make(chan int, 100)
	p := New(2, func(i int) {
		if i < 50 {
			<-release
		}
		done <- i
	})
	for i := 0; i < 51; i++ {
		p.Go(i)
	}
	select {
	case i := <-done:
		if i != 50 {
			t.Fatalf("job %d finished first", i)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a job waited behind blocked ones")
	}
	close(release)
	for range 50 {
		<-done
	}
	before := runtime.NumGoroutine()
	p.Stop()
	if runtime.NumGoroutine() > before {
		t.Fatal("Stop started goroutines")
	}
}

func TestGoAfterStopStillRuns(t *testing.T) {
	p := New(1, func(ch chan struct{}) { close(ch) })
	p.Stop()
	ch := make(chan struct{})
	p.Go(ch)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a job after Stop did not run")
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want %d", runtime.NumGoroutine(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
