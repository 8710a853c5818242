package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/ermine-rt/ermine/internal/fifo"
	"github.com/ermine-rt/ermine/internal/gopool"
)

// ownerMailbox is an owner actor's mailbox: protoactor's default mailbox (system messages
// first, suspension, a yield every Throughput messages, scheduled on the dispatcher when it goes
// from idle to busy) with two changes the owners need.
//
//   - The owner's own messages go straight to the owner (ownerActor.handle): they are the owner
//     protocol's, and protoactor's context has nothing to do with them. protoactor's own user
//     messages (PoisonPill and the like) still go through the actor context.
//   - The owner can move on to another goroutine while a message is in hand (handOff): a handler
//     that blocks keeps the goroutine it runs on, and a new goroutine becomes the mailbox's
//     runner, finishing that message and going on with the next ones. Handlers can thus run on
//     the owner's goroutine (no goroutine per event) and still never hold the owner up.
//
// At most one goroutine runs the mailbox at a time: the runner. A goroutine that handed the
// mailbox off (it is running a detached handler) notices it when the message in hand returns
// (runID changed) and leaves without touching the mailbox or the owner again.
type ownerMailbox struct {
	owner      *ownerActor
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	// pool is the owners' pool when dispatcher is a pooledDispatcher (its jobs report a hand-off).
	pool *gopool.Pool[func() (left bool)]

	mu   sync.Mutex
	user fifo.Queue[any]
	sys  fifo.Queue[any]

	status    atomic.Int32 // mailboxIdle or mailboxRunning
	userN     atomic.Int32
	sysN      atomic.Int32
	suspended atomic.Bool
	// runID names the current runner; handOff changes it.
	runID atomic.Uint64
}

const (
	mailboxIdle int32 = iota
	mailboxRunning
)

func newOwnerMailbox(o *ownerActor) actor.MailboxProducer {
	return func() actor.Mailbox {
		o.mb = &ownerMailbox{owner: o}
		return o.mb
	}
}

// PostUserMessage implements actor.Mailbox.
func (m *ownerMailbox) PostUserMessage(msg any) { m.post(&m.user, &m.userN, msg) }

// PostSystemMessage implements actor.Mailbox.
func (m *ownerMailbox) PostSystemMessage(msg any) { m.post(&m.sys, &m.sysN, msg) }

// post queues msg (counted after it is in the queue, so that a count never runs ahead of it)
// and makes sure a runner will see it.
func (m *ownerMailbox) post(q *fifo.Queue[any], n *atomic.Int32, msg any) {
	m.mu.Lock()
	q.Push(msg)
	m.mu.Unlock()
	n.Add(1)
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox.
func (m *ownerMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
	if d, ok := dispatcher.(*pooledDispatcher); ok {
		m.pool = d.pool
	}
}

// Start implements actor.Mailbox.
func (m *ownerMailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *ownerMailbox) UserMessageCount() int { return int(m.userN.Load()) }

func (m *ownerMailbox) schedule() {
	if m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.scheduleJob(m.process)
	}
}

// scheduleJob runs job on the dispatcher; job reports whether its goroutine was handed off
// (see handOff), which the owners' pool needs to know (pooledDispatcher).
func (m *ownerMailbox) scheduleJob(job func() (handedOff bool)) {
	if m.pool != nil {
		m.pool.Go(job)
		return
	}
	m.dispatcher.Schedule(func() { job() })
}

func (m *ownerMailbox) process() bool { return m.processAs(m.runID.Load()) }

// processAs runs the mailbox as runner id until it is empty (or suspended), unless it is handed
// off meanwhile (handedOff).
func (m *ownerMailbox) processAs(id uint64) (handedOff bool) {
	for {
		runner, yielded := m.run(id)
		if !runner {
			return true // the new runner owns the status
		}
		if yielded {
			// Throughput messages in a row: the mailbox goes to the back of the dispatcher's
			// queue (still running), so that the other busy owners get their turn.
			m.scheduleJob(func() bool { return m.runID.Load() == id && m.processAs(id) })
			return false
		}
		m.status.Store(mailboxIdle)
		// Messages posted after the loop saw the queues empty but before the status was idle
		// did not schedule: look again.
		if m.sysN.Load() == 0 && (m.suspended.Load() || m.userN.Load() == 0) {
			return false
		}
		if !m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
			return false // another post scheduled a runner
		}
	}
}

// handOff makes a new goroutine the mailbox's runner, while the current runner is in a message
// (called by the runner itself, or by a timer while the runner is blocked): the new runner calls
// first — the rest of that message — then goes on with the next messages. It reports the new
// runner's id to first, so that first can tell whether it was handed off in turn.
//
// The goroutine in the message stays there (its handler blocks, or has detached): on the owners'
// pool it leaves the count of workers at once, so that the new runner, and every other owner,
// find a worker without waiting for it.
func (m *ownerMailbox) handOff(first func(id uint64)) {
	id := m.runID.Add(1)
	if m.pool != nil {
		m.pool.Leave()
	}
	m.scheduleJob(func() bool {
		first(id)
		if m.runID.Load() != id {
			return true // handed off again, in first
		}
		return m.processAs(id)
	})
}

// run handles messages until the mailbox is empty or suspended (runner), until it handled
// Throughput messages (runner and yielded), or until it was handed off to another runner (not
// runner).
func (m *ownerMailbox) run(id uint64) (runner, yielded bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			// As protoactor's mailbox: the supervisor decides, and the mailbox goes on.
			m.invoker.EscalateFailure(r, msg)
			runner, yielded = m.runID.Load() == id, false
		}
	}()
	for i, t := 0, m.dispatcher.Throughput(); ; i++ {
		if i == t {
			return true, true
		}
		if m.sysN.Load() > 0 {
			m.mu.Lock()
			msg, _ = m.sys.Pop()
			m.mu.Unlock()
			m.sysN.Add(-1)
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			if m.runID.Load() != id {
				return false, false
			}
			continue
		}
		if m.suspended.Load() || m.userN.Load() == 0 {
			return true, false
		}
		m.mu.Lock()
		msg, _ = m.user.Pop()
		m.mu.Unlock()
		m.userN.Add(-1)
		switch msg.(type) {
		case actor.AutoReceiveMessage, actor.SystemMessage, *actor.MessageEnvelope:
			m.invoker.InvokeUserMessage(msg)
		default:
			m.owner.handle(msg, id)
		}
		if m.runID.Load() != id {
			return false, false
		}
	}
}
