// Package gopool runs short jobs on reused goroutines. A goroutine started per job spends much of
// its life growing a fresh stack (38 % of the pipeline's CPU once); a parked one keeps its stack.
// The pool is elastic: when no goroutine is parked a new one is started, so a job that blocks
// never holds up another, and at most MaxIdle goroutines stay parked.
package gopool

import "sync"

// Pool runs func(T) jobs. The zero value is not usable; see New.
type Pool[T any] struct {
	run  func(T)
	idle chan *worker[T]

	mu      sync.Mutex // guards parking against Stop
	stopped bool
}

type worker[T any] struct{ jobs chan T }

// New returns a pool that runs run(job) for each job given to Go, keeping at most maxIdle
// goroutines parked between jobs.
func New[T any](maxIdle int, run func(T)) *Pool[T] {
	return &Pool[T]{run: run, idle: make(chan *worker[T], max(maxIdle, 1))}
}

// Go runs run(job) on a parked goroutine, or on a new one when none is parked. It never blocks.
func (p *Pool[T]) Go(job T) {
	select {
	case w := <-p.idle:
		w.jobs <- job // buffered, and only the one who took w from idle sends: never blocks
	default:
		w := &worker[T]{jobs: make(chan T, 1)}
		w.jobs <- job
		go w.loop(p)
	}
}

func (w *worker[T]) loop(p *Pool[T]) {
	for job := range w.jobs {
		p.run(job)
		if !p.park(w) {
			return
		}
	}
}

func (p *Pool[T]) park(w *worker[T]) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	select {
	case p.idle <- w:
		return true
	default:
		return false // enough parked already
	}
}

// Stop ends the parked goroutines; those running a job end after it. Jobs given to Go after Stop
// still run, each on a goroutine of its own that ends with it.
func (p *Pool[T]) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for {
		select {
		case w := <-p.idle:
			close(w.jobs)
		default:
			return
		}
	}
}
