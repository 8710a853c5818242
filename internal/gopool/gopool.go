// Package gopool runs short jobs on a few reused goroutines. A goroutine started per job spends
// much of its life growing a fresh stack (38 % of the pipeline's CPU once), and thousands of
// jobs made ready at once (a burst over 10k channels, each one owner's mailbox) do not run
// faster on thousands of goroutines than on as many as there are cores: they queue, in order,
// for a fixed set of parked goroutines.
//
// A job that blocks must not hold the queue up: when jobs wait StallAfter while no job finishes
// (every goroutine may be blocked), the pool starts more goroutines — as many as it has, up to
// one per waiting job — and again after each further StallAfter. Those extra goroutines end once
// the queue is empty.
package gopool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/internal/fifo"
)

// DefaultStallAfter is how long queued jobs wait, with no job finishing, before the pool adds
// goroutines.
const DefaultStallAfter = time.Millisecond

// Pool runs func(T) jobs. The zero value is not usable; see New.
type Pool[T any] struct {
	run        func(T)
	workers    int
	stallAfter time.Duration

	finished atomic.Uint64 // jobs finished, the progress the stall guard looks for

	mu      sync.Mutex
	wake    sync.Cond // signalled (under mu) for each job an idle goroutine should take
	queue   fifo.Queue[T]
	alive   int // the pool's goroutines
	idle    int // goroutines waiting on wake and not yet signalled
	stopped bool
	guard   *time.Timer
	armed   bool
	mark    uint64 // finished when the guard was armed
}

// New returns a pool that runs run(job) for each job given to Go on at most workers goroutines
// while jobs finish, and more when they stall (see the package doc).
func New[T any](workers int, stallAfter time.Duration, run func(T)) *Pool[T] {
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	p := &Pool[T]{run: run, workers: max(workers, 1), stallAfter: stallAfter}
	p.wake.L = &p.mu
	return p
}

// Go queues job to run on one of the pool's goroutines. It never blocks.
func (p *Pool[T]) Go(job T) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		go p.run(job)
		return
	}
	p.queue.Push(job)
	switch {
	case p.idle > 0:
		p.idle--
		p.wake.Signal()
	case p.alive < p.workers:
		p.alive++
		go p.loop()
	default:
		p.armGuard()
	}
	p.mu.Unlock()
}

// loop is a pool goroutine: it runs queued jobs, waits for more while it is one of the first
// workers, and ends otherwise.
func (p *Pool[T]) loop() {
	p.mu.Lock()
	for {
		for p.queue.Len() == 0 {
			if p.stopped || p.alive > p.workers {
				p.alive--
				p.mu.Unlock()
				return
			}
			p.idle++
			p.wake.Wait() // whoever wakes us took us off idle
		}
		job, _ := p.queue.Pop()
		p.mu.Unlock()
		p.run(job)
		p.finished.Add(1)
		p.mu.Lock()
	}
}

// armGuard starts the stall guard's timer unless it runs (mu held).
func (p *Pool[T]) armGuard() {
	if p.armed {
		return
	}
	p.armed, p.mark = true, p.finished.Load()
	if p.guard == nil {
		p.guard = time.AfterFunc(p.stallAfter, p.checkStall)
	} else {
		p.guard.Reset(p.stallAfter)
	}
}

// checkStall adds goroutines if jobs waited a whole StallAfter with none finishing, and watches
// again while jobs wait.
func (p *Pool[T]) checkStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	waiting := p.queue.Len()
	if p.stopped || waiting == 0 {
		return
	}
	if p.finished.Load() == p.mark {
		for range min(max(p.alive, 1), waiting) {
			p.alive++
			go p.loop()
		}
	}
	p.armGuard()
}

// Stop ends the waiting goroutines; those running a job end after it, and the queued jobs
// still run first. Jobs given to Go after Stop still run, each on a goroutine of its own that
// ends with it.
func (p *Pool[T]) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.idle = 0
	p.wake.Broadcast()
	if p.guard != nil {
		p.guard.Stop()
	}
}
