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
	p := New(4, 0, func(int) bool { ran.Add(1); wg.Done(); return false })
	before := runtime.NumGoroutine()
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		p.Go(i)
		wg.Wait()                                                                                     // one at a time: one goroutine serves them all…
		waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.parked) == p.alive }) // …once it parks again
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

// TestBurstQueuesForTheWorkers: jobs that finish quickly run on the pool's workers, however many
// come at once; with one worker, in the order given.
func TestBurstQueuesForTheWorkers(t *testing.T) {
	for _, workers := range []int{1, 3} {
		burst(t, workers)
	}
}

func burst(t *testing.T, workers int) {
	const jobs = 20_000
	var running, most atomic.Int64
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	p := New(workers, time.Hour, func(i int) bool { // no stall: the guard never adds goroutines
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		order = append(order, i)
		mu.Unlock()
		running.Add(-1)
		wg.Done()
		return false
	})
	defer p.Stop()
	wg.Add(jobs)
	for i := range jobs {
		p.Go(i)
	}
	wg.Wait()
	if m := most.Load(); m > int64(workers) {
		t.Errorf("%d jobs ran at once on %d workers", m, workers)
	}
	for pos, i := range order {
		if workers == 1 && i != pos {
			t.Fatalf("job %d ran at place %d", i, pos)
		}
	}
}

func TestBlockedJobsDoNotHoldOthersUp(t *testing.T) {
	release := make(chan struct{})
	done := make(chan int, 100)
	p := New(2, time.Millisecond, func(i int) bool {
		if i < 50 {
			<-release
		}
		done <- i
		return false
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
	// The goroutines added for the stall end once the queue is empty: the workers remain.
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.alive <= 2 })
	before := runtime.NumGoroutine()
	p.Stop()
	if runtime.NumGoroutine() > before {
		t.Fatal("Stop started goroutines")
	}
}

// TestLeaveFreesTheWorker: a job that leaves before it blocks lets the next job run at once (no
// stall guard here); its goroutine then waits as a spare, which serves the next job that needs a
// goroutine instead of a new one.
func TestLeaveFreesTheWorker(t *testing.T) {
	done := make(chan int, 10)
	releases := map[int]chan struct{}{0: make(chan struct{}), 2: make(chan struct{})}
	var p *Pool[int]
	p = New(1, time.Hour, func(i int) bool {
		if release, ok := releases[i]; ok {
			p.Leave()
			<-release
			done <- i
			return true
		}
		done <- i
		return false
	})
	defer p.Stop()
	state := func() (alive, parked, spares int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.alive, len(p.parked), len(p.spares)
	}
	before := runtime.NumGoroutine()
	p.Go(0)
	p.Go(1)
	if i := <-done; i != 1 {
		t.Fatalf("job %d finished first", i)
	}
	close(releases[0])
	<-done
	waitFor(t, func() bool { a, pk, sp := state(); return a == 1 && pk == 1 && sp == 1 })
	grown := runtime.NumGoroutine() - before // the worker and the spare
	// Again: job 2 leaves, job 3 needs a goroutine: the spare serves it.
	p.Go(2)
	p.Go(3)
	if i := <-done; i != 3 {
		t.Fatalf("job %d finished first", i)
	}
	if n := runtime.NumGoroutine() - before; n > grown {
		t.Errorf("%d goroutines, want the %d there were (the spare reused)", n, grown)
	}
	close(releases[2])
	<-done
}

func TestGoAfterStopStillRuns(t *testing.T) {
	p := New(1, 0, func(ch chan struct{}) bool { close(ch); return false })
	p.Stop()
	ch := make(chan struct{})
	p.Go(ch)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a job after Stop did not run")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		runtime.Gosched()
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= want })
}
