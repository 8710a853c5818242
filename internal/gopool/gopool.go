// Package gopool runs short jobs on a few reused goroutines. A goroutine started per job spends
// much of its life growing a fresh stack (38 % of the pipeline's CPU once), and thousands of
// jobs made ready at once (a burst over 10k channels, each one owner's mailbox) do not run
// faster on thousands of goroutines than on as many as there are cores: they queue, in order,
// for a fixed set of parked goroutines.
//
// A job that blocks must not hold the queue up. A job that knows it will (an owner's handler that
// detaches) calls Leave: its goroutine stops counting as a worker at once, and ends or rejoins
// when the job returns. For a job that blocks unannounced, a stall guard: when jobs wait
// StallAfter while no job finishes (every goroutine may be blocked), the pool starts more
// goroutines — as many as it has, up to one per waiting job — and again after each further
// StallAfter. Those extra goroutines end once the queue is empty.
package gopool

import (
	"sync"
	"time"

	"github.com/ermine-rt/ermine/internal/fifo"
)

// DefaultStallAfter is how long queued jobs wait, with no job finishing, before the pool adds
// goroutines.
const DefaultStallAfter = time.Millisecond

// Pool runs func(T) jobs. The zero value is not usable; see New.
type Pool[T any] struct {
	run        func(T) (left bool)
	workers    int
	stallAfter time.Duration

	mu       sync.Mutex
	finished uint64        // jobs finished, the progress the stall guard looks for
	queue    fifo.Queue[T] // jobs waiting for a goroutine: never while one is parked
	parked   []*worker[T]  // goroutines waiting for a job, the last parked first
	spares   []*worker[T]  // goroutines that left (Leave), parked to serve instead of new ones
	alive    int           // the pool's goroutines, parked or running a job
	stopped  bool
	guard    *time.Timer
	armed    bool
	mark     uint64 // finished when the guard was armed
}

// A worker is a pool goroutine; a parked one waits on jobs (buffered: one job handed over).
type worker[T any] struct{ jobs chan T }

// New returns a pool that runs run(job) for each job given to Go on at most workers goroutines
// while jobs finish, and more when they stall (see the package doc). run reports whether the job
// called Leave.
func New[T any](workers int, stallAfter time.Duration, run func(T) (left bool)) *Pool[T] {
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	return &Pool[T]{run: run, workers: max(workers, 1), stallAfter: stallAfter}
}

// Go runs job on a parked goroutine, or queues it for the next free one. It never blocks.
func (p *Pool[T]) Go(job T) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		go func() { p.run(job) }()
		return
	}
	if n := len(p.parked); n > 0 {
		w := p.parked[n-1]
		p.parked = p.parked[:n-1]
		p.mu.Unlock()
		w.jobs <- job // buffered, and only the one who unparked w sends: never blocks
		return
	}
	p.queue.Push(job)
	if p.alive < p.workers {
		p.start()
	} else {
		p.armGuard()
	}
	p.mu.Unlock()
}

// maxSpares bounds the goroutines kept parked after they left: a handler that detaches leaves
// its goroutine with each event, and restarting one per event would cost a fresh stack each.
const maxSpares = 1024

// start adds a worker for the queue's first job (mu held, queue not empty): a spare goroutine
// if one is parked, else a new one.
func (p *Pool[T]) start() {
	p.alive++
	if n := len(p.spares); n > 0 {
		w := p.spares[n-1]
		p.spares = p.spares[:n-1]
		job, _ := p.queue.Pop()
		w.jobs <- job // buffered, and only the one who took w sends: never blocks
		return
	}
	go p.loop(&worker[T]{jobs: make(chan T, 1)})
}

// loop is a pool goroutine: it runs queued jobs, parks for more while it is one of the first
// workers, and ends otherwise.
func (p *Pool[T]) loop(w *worker[T]) {
	var left bool
	for ran := false; ; ran = true {
		p.mu.Lock()
		if ran {
			p.finished++
			if left {
				// Out of the count since Leave: rejoin if the pool lacks a worker, else wait
				// as a spare (or end).
				switch {
				case !p.stopped && p.alive < p.workers:
					p.alive++
				case !p.stopped && len(p.spares) < maxSpares:
					p.spares = append(p.spares, w)
					p.mu.Unlock()
					if job, ok := <-w.jobs; ok { // start counted it in again
						left = p.run(job)
						continue
					}
					return
				default:
					p.mu.Unlock()
					return
				}
			}
		}
		job, ok := p.queue.Pop()
		if !ok {
			if p.stopped || p.alive > p.workers {
				p.alive--
				p.mu.Unlock()
				return
			}
			p.parked = append(p.parked, w)
			p.mu.Unlock()
			if job, ok = <-w.jobs; !ok {
				return // stopped (Stop counted it out)
			}
		} else {
			p.mu.Unlock()
		}
		left = p.run(job)
	}
}

// Leave takes the goroutine of a running job out of the pool's count of workers, because the job
// is about to block (or does): a queued job gets a goroutine at once. The job must then report
// that it left (run's result). Called once per job at most, from the job or on its behalf.
func (p *Pool[T]) Leave() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.alive--
	if !p.stopped && p.queue.Len() > 0 && p.alive < p.workers {
		p.start() // nobody is parked while jobs are queued
	}
}

// armGuard starts the stall guard's timer unless it runs (mu held).
func (p *Pool[T]) armGuard() {
	if p.armed {
		return
	}
	p.armed, p.mark = true, p.finished
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
	if p.finished == p.mark {
		for range min(max(p.alive, 1), waiting) {
			p.start()
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
	for _, w := range p.parked {
		close(w.jobs)
		p.alive--
	}
	for _, w := range p.spares {
		close(w.jobs)
	}
	p.parked, p.spares = nil, nil
	if p.guard != nil {
		p.guard.Stop()
	}
}
