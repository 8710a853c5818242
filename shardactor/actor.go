package shardactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Messages to the shard actor besides those of sessions (session.go). Each timer message carries
// the generation of the connection it was armed for; a stale one is ignored.
type (
	// connectNow: the backoff is over.
	connectNow struct{ gen uint64 }
	// phaseDeadline: the handshake phase (authenticating or syncing) took too long.
	phaseDeadline struct {
		gen   uint64
		phase State
	}
	// pingTick: time for the next heartbeat Ping.
	pingTick struct{ gen uint64 }
	// pongDeadline: Ping n may have gone unanswered for PongTimeout.
	pongDeadline struct{ gen, n uint64 }
	// writeReq: Send asks for a frame to be written; the actor answers every one on reply.
	writeReq struct {
		data  []byte
		reply chan error
	}
	// stopReq: the shard's run context ended (Stop, or Spawn's ctx).
	stopReq struct{}
)

// shardActor is the connection state machine. All fields are owned by the actor.
type shardActor struct {
	sh      *Shard
	cfg     *settings
	runCtx  context.Context
	sink    Sink
	log     *slog.Logger
	self    *actor.PID
	unwatch func() bool // stops the run-context watch

	state    State
	gen      uint64 // generation of the current (or last) session
	sess     *session
	conn     *websocket.Conn
	attempts int   // connection attempts so far
	backoffN int   // exponent of the next backoff
	abort    error // why the actor is replacing the current connection
	stopping bool
	terminal error // overrides the stop error (internal failure)
	finished bool
	readyAt  time.Duration // shard clock at Ready on the current connection; -1 before

	phaseTimer, backoffTimer, pingTimer, pongTimer *time.Timer

	phaseDL     serverDeadline // of the current handshake phase
	pingSeq     uint64         // last Ping number sent; increases across connections
	outstanding uint64         // number of the unanswered Ping, 0 if none
	pongDL      serverDeadline // of the outstanding Ping; its start is when the Ping was sent
	wbuf        []byte
}

// serverDeadline is a wait on the server that does not count the time the reader spends busy
// (decoding, or blocked in the Sink): what the server sent meanwhile cannot be read yet.
type serverDeadline struct {
	start, busyAtStart, timeout time.Duration
}

// startDeadline starts a serverDeadline on the current session.
func (a *shardActor) startDeadline(timeout time.Duration) serverDeadline {
	now := a.sh.now()
	return serverDeadline{start: now, busyAtStart: a.sess.busy.total(now), timeout: timeout}
}

// remaining returns what is left of d; ≤ 0 means it has expired.
func (a *shardActor) remaining(d serverDeadline) time.Duration {
	now := a.sh.now()
	waited := now - d.start - (a.sess.busy.total(now) - d.busyAtStart)
	return d.timeout - waited
}

func newShardActor(sh *Shard, runCtx context.Context, sink Sink) *shardActor {
	return &shardActor{
		sh:      sh,
		cfg:     sh.cfg,
		runCtx:  runCtx,
		sink:    sink,
		log:     sh.cfg.Logger.With("shard", sh.cfg.Name),
		readyAt: -1,
	}
}

// Receive implements actor.Actor.
func (a *shardActor) Receive(c actor.Context) {
	defer a.recoverPanic()
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
		self, root := a.self, a.sh.root
		a.unwatch = context.AfterFunc(a.runCtx, func() { root.Send(self, &stopReq{}) })
		a.connect()
	case *connectNow:
		if m.gen == a.gen && a.state == StateBackoff && !a.stopping {
			a.connect()
		}
	case *sessionUp:
		a.onSessionUp(m)
	case *frameSeen:
		a.onFrameSeen(m)
	case *phaseDeadline:
		a.onPhaseDeadline(m)
	case *pingTick:
		if m.gen == a.gen && a.state == StateReady {
			a.ping()
		}
	case *pongDeadline:
		a.onPongDeadline(m)
	case *writeReq:
		m.reply <- a.write(m.data)
	case *sessionEnded:
		a.onSessionEnded(m)
	case *stopReq:
		a.onStop()
	case *actor.Stopping:
		a.onActorStopping()
	}
}

// recoverPanic turns a panic in the state machine into the end of the shard, logged with its
// stack (protoactor would otherwise restart the actor and log at INFO only).
func (a *shardActor) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	a.log.Error("panic in the shard actor", "panic", r, "stack", string(debug.Stack()))
	if a.finished {
		return
	}
	a.terminal = fmt.Errorf("shardactor: internal error: %v", r)
	a.sh.stop(a.terminal)
	a.onStop()
}

func (a *shardActor) setState(s State) {
	a.state = s
	a.sh.stats.state.Store(int32(s))
}

// after sends msg to the actor after d.
func (a *shardActor) after(d time.Duration, msg any) *time.Timer {
	self, root := a.self, a.sh.root
	return time.AfterFunc(d, func() { root.Send(self, msg) })
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

func (a *shardActor) stopConnTimers() {
	stopTimer(&a.phaseTimer)
	stopTimer(&a.pingTimer)
	stopTimer(&a.pongTimer)
}

// connect starts a connection attempt on a new session goroutine.
func (a *shardActor) connect() {
	a.gen++
	if a.attempts > 0 {
		a.sh.stats.reconnects.Add(1)
	}
	a.attempts++
	a.readyAt = -1
	a.outstanding = 0
	a.abort = nil
	a.setState(StateConnecting)
	ctx, cancel := context.WithCancel(context.WithoutCancel(a.runCtx))
	a.sess = &session{
		gen:    a.gen,
		sh:     a.sh,
		ctx:    ctx,
		cancel: cancel,
		exited: make(chan struct{}),
		env: &sessionEnv{
			runCtx: a.runCtx,
			sink:   a.sink,
			self:   a.self,
			log:    a.log,
		},
	}
	go a.sess.run()
}

func (a *shardActor) onSessionUp(m *sessionUp) {
	if m.gen != a.gen || a.sess == nil {
		return
	}
	a.conn = m.conn
	if a.stopping || a.abort != nil {
		return
	}
	a.log.Debug("connected", "url", m.url, "attempt", a.attempts)
	a.setState(StateAuthenticating)
	a.phaseDL = a.startDeadline(a.cfg.HandshakeTimeout)
	a.phaseTimer = a.after(a.cfg.HandshakeTimeout, &phaseDeadline{gen: a.gen, phase: StateAuthenticating})
}

func (a *shardActor) onPhaseDeadline(m *phaseDeadline) {
	if m.gen != a.gen || a.state != m.phase || a.abort != nil || a.stopping {
		return
	}
	if left := a.remaining(a.phaseDL); left > 0 {
		a.phaseTimer = a.after(left, m)
		return
	}
	what := "Authenticated"
	if m.phase == StateSyncing {
		what = "Ready"
	}
	a.replace(fmt.Errorf("shardactor: no %s within %s", what, a.phaseDL.timeout))
}

func (a *shardActor) onFrameSeen(m *frameSeen) {
	if m.gen != a.gen || a.stopping || a.abort != nil {
		return
	}
	switch m.kind {
	case seenAuthenticated:
		if a.state != StateAuthenticating {
			return
		}
		stopTimer(&a.phaseTimer)
		a.setState(StateSyncing)
		a.phaseDL = a.startDeadline(a.cfg.ReadyTimeout)
		a.phaseTimer = a.after(a.cfg.ReadyTimeout, &phaseDeadline{gen: a.gen, phase: StateSyncing})
	case seenReady:
		if a.state != StateSyncing {
			return
		}
		stopTimer(&a.phaseTimer)
		a.setState(StateReady)
		a.readyAt = a.sh.now()
		a.sh.stats.readies.Add(1)
		a.log.Info("ready", "attempt", a.attempts)
		// The server answers Pings only after Ready: the heartbeat starts now.
		a.pingTimer = a.after(a.cfg.PingInterval, &pingTick{gen: a.gen})
	case seenPong:
		if a.outstanding != 0 && m.pong == a.outstanding {
			a.sh.stats.latency.Store(int64(max(m.at-a.pongDL.start, 0)))
			a.outstanding = 0
			stopTimer(&a.pongTimer)
			return
		}
		a.sh.stats.pongsIgnored.Add(1)
		a.log.Debug("ignored a Pong that matches no outstanding Ping", "data", m.pong, "outstanding", a.outstanding)
	}
}

// ping sends the next heartbeat Ping and arms its deadline and the next tick.
func (a *shardActor) ping() {
	a.pingTimer = a.after(a.cfg.PingInterval, &pingTick{gen: a.gen})
	if a.outstanding != 0 {
		return // its deadline is pending
	}
	n := a.pingSeq + 1
	var err error
	a.wbuf, err = bonfire.AppendFrame(a.wbuf[:0], a.cfg.WireFormat, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: n}})
	if err != nil {
		a.replace(fmt.Errorf("shardactor: encode Ping: %w", err))
		return
	}
	dl := a.startDeadline(a.cfg.PongTimeout)
	if err := a.write(a.wbuf); err != nil {
		return // write replaced the connection
	}
	a.pingSeq = n
	a.outstanding = n
	a.pongDL = dl
	a.sh.stats.pingsSent.Add(1)
	a.pongTimer = a.after(a.cfg.PongTimeout, &pongDeadline{gen: a.gen, n: n})
}

func (a *shardActor) onPongDeadline(m *pongDeadline) {
	if m.gen != a.gen || a.state != StateReady || a.outstanding != m.n {
		return
	}
	// The Pong may be waiting behind events the Sink has not accepted yet.
	if left := a.remaining(a.pongDL); left > 0 {
		a.pongTimer = a.after(left, m)
		return
	}
	a.sh.stats.pongsMissed.Add(1)
	a.replace(fmt.Errorf("shardactor: no Pong for Ping %d within %s", m.n, a.cfg.PongTimeout))
}

// write writes one frame on the connection; a failed write replaces the connection.
func (a *shardActor) write(data []byte) error {
	if a.state != StateReady || a.conn == nil || a.abort != nil || a.stopping {
		return ErrNotReady
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.WriteTimeout)
	defer cancel()
	if err := a.conn.Write(ctx, a.cfg.msgType, data); err != nil {
		err = fmt.Errorf("shardactor: write: %w", scrub(err, a.cfg.secrets))
		a.replace(err)
		return err
	}
	return nil
}

// replace abandons the current connection for reason; a reconnect follows once its session ends.
// The socket is dropped without a close handshake: it is presumed dead or misbehaving.
func (a *shardActor) replace(reason error) {
	if a.sess == nil || a.abort != nil || a.stopping {
		return
	}
	a.abort = reason
	a.stopConnTimers()
	a.setState(StateClosing)
	a.sess.cancel()
}

func (a *shardActor) onSessionEnded(m *sessionEnded) {
	if m.gen != a.gen || a.sess == nil {
		return
	}
	a.stopConnTimers()
	reason := m.err
	if a.abort != nil && (reason == nil || errors.Is(reason, errAbandoned)) {
		reason = a.abort
	}
	healthy := a.readyAt >= 0 && a.sh.now()-a.readyAt >= a.cfg.Backoff.ResetAfter
	a.sess, a.conn, a.abort, a.outstanding = nil, nil, nil, 0

	if a.stopping || a.runCtx.Err() != nil {
		a.finish(a.stopErr())
		return
	}
	if reason == nil { // a session always ends with a reason; be safe
		reason = errors.New("shardactor: the connection ended")
	}
	msg := reason.Error()
	a.sh.stats.lastError.Store(&msg)
	if fatal(reason) {
		a.log.Error("shard stopped", "err", msg)
		a.finish(reason)
		return
	}
	if healthy {
		a.backoffN = 0
	}
	d := a.cfg.Backoff.Delay(a.backoffN, a.cfg.Jitter())
	a.backoffN++
	a.setState(StateBackoff)
	a.log.Warn("connection lost; reconnecting", "err", msg, "backoff", d, "attempt", a.attempts+1)
	a.backoffTimer = a.after(d, &connectNow{gen: a.gen})
}

func (a *shardActor) onStop() {
	if a.stopping || a.finished {
		return
	}
	a.stopping = true
	a.stopConnTimers()
	stopTimer(&a.backoffTimer)
	if a.sess == nil {
		a.finish(a.stopErr())
		return
	}
	// The session sees the run context end: it aborts a dial, leaves the Sink, closes the socket
	// with StatusNormalClosure, and reports sessionEnded.
	a.setState(StateClosing)
}

// onActorStopping handles the actor being stopped from outside (e.g. the system shutting down).
func (a *shardActor) onActorStopping() {
	if a.finished {
		return
	}
	a.sh.stop(ErrStopped)
	a.stopping = true
	a.stopConnTimers()
	stopTimer(&a.backoffTimer)
	a.finished = true
	a.setState(StateStopped)
	if a.unwatch != nil {
		a.unwatch()
	}
	err := a.stopErr()
	if a.sess == nil {
		a.sh.end(err)
		return
	}
	exited := a.sess.exited
	go func() {
		<-exited
		a.sh.end(err)
	}()
}

// stopErr is the shard's error when it stops on request.
func (a *shardActor) stopErr() error {
	if a.terminal != nil {
		return a.terminal
	}
	if context.Cause(a.runCtx) == ErrStopped {
		return ErrStopped
	}
	if err := a.sh.parent.Err(); err != nil {
		return err
	}
	return ErrStopped
}

// finish ends the shard: no session is running any more.
func (a *shardActor) finish(err error) {
	if a.finished {
		return
	}
	a.finished = true
	a.stopConnTimers()
	stopTimer(&a.backoffTimer)
	if a.unwatch != nil {
		a.unwatch()
	}
	a.sh.stop(err)
	a.setState(StateStopped)
	a.log.Info("shard ended", "err", err)
	a.sh.end(err)
	a.sh.root.Stop(a.self)
}

// end records err and closes done, once.
func (s *Shard) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}
