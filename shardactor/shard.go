package shardactor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Sink receives the shard's events, one at a time and in wire order, on the shard's reader
// goroutine. Each event has its shard set (ev.GetShard() is Config.Name) and belongs to the Sink.
//
// Besides the decoded frames (Bulk flattened, unknown types as *stoatpb.UnknownEvent), the Sink
// sees the synthetic *stoatpb.BeforeConnectEvent and *stoatpb.AfterConnectEvent of every attempt,
// and the heartbeat's *stoatpb.PongEvent, matched or not.
//
// The Sink may block; the shard reads nothing from the socket meanwhile (backpressure), and such
// time does not count against PongTimeout. It must return once ctx is done (the shard stops). A
// non-nil error ends the shard with that error, unless the shard is already stopping.
//
// size is what the event took on the wire: its frame's length, shared evenly among the events of
// a Bulk frame; 0 for synthetic events. The runtime's in-flight budget counts it.
type Sink func(ctx context.Context, ev stoatpb.Event, size int) error

// Shard is a handle to one shard actor. Its methods are safe for concurrent use.
type Shard struct {
	cfg     *settings
	root    *actor.RootContext
	pid     *actor.PID
	parent  context.Context
	stop    context.CancelCauseFunc
	stats   counters
	epoch   time.Time // origin of the monotonic clock shared with reader goroutines
	done    chan struct{}
	endOnce sync.Once
	err     error // set before done is closed

	// malformed paces the log of malformed frames, per frame type, across connections.
	malformed ratelog.Limiter
	// discovered is the last events URL Config.Discover returned (nil before one), dialled
	// when a later discovery fails.
	discovered atomic.Pointer[endpoint]
	// rec writes Config.Record; nil without one.
	rec *recorder
}

// Spawn validates cfg and starts a shard actor in system, which connects at once. The shard runs
// until ctx ends, Stop is called, or a fatal error (see the package documentation); then Done is
// closed and Err reports why.
//
// The actor is named "shardactor/<Name>", so two shards of one system need distinct names. The
// shard logs through Config.Logger; protoactor itself logs through the system's logger (set it
// with actor.WithLoggerFactory when creating the system).
func Spawn(ctx context.Context, system *actor.ActorSystem, cfg Config, sink Sink) (*Shard, error) {
	if sink == nil {
		return nil, fmt.Errorf("shardactor: Spawn: nil Sink")
	}
	st, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	s := &Shard{
		cfg:    st,
		root:   system.Root,
		parent: ctx,
		stop:   cancel,
		epoch:  time.Now(),
		done:   make(chan struct{}),
		// Frame types come from the server: bound the table a junk stream can grow.
		malformed: ratelog.Limiter{Interval: st.RepeatLogInterval, MaxKeys: maxMalformedTypes},
	}
	if st.Record != nil {
		s.rec = newRecorder(s)
	}
	a := newShardActor(s, runCtx, sink)
	props := actor.PropsFromProducer(func() actor.Actor { return a })
	pid, err := system.Root.SpawnNamed(props, "shardactor/"+st.Name)
	if err != nil {
		cancel(err)
		return nil, fmt.Errorf("shardactor: spawn %s: %w", st.Name, err)
	}
	s.pid = pid
	return s, nil
}

// Name returns the shard's name.
func (s *Shard) Name() string { return s.cfg.Name }

// PID returns the shard actor's PID, e.g. to Watch it.
func (s *Shard) PID() *actor.PID { return s.pid }

// Stop ends the shard: the connection is closed with StatusNormalClosure and Err becomes
// ErrStopped (or ctx's error if Spawn's ctx ended first). It does not wait; use Wait or Done.
// Calling Stop more than once, or after the shard ended, does nothing.
func (s *Shard) Stop() { s.stop(ErrStopped) }

// Done is closed when the shard has ended: its connection is closed and the Sink will not be
// called again.
func (s *Shard) Done() <-chan struct{} { return s.done }

// Err returns why the shard ended, or nil while it runs: ctx.Err() when Spawn's ctx ended,
// ErrStopped after Stop, *AuthError, ErrLoggedOut, *HandshakeError, or a Sink's error.
func (s *Shard) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Wait blocks until the shard has ended and returns Err.
func (s *Shard) Wait() error {
	<-s.done
	return s.err
}

// Stats returns a snapshot of the shard's counters.
func (s *Shard) Stats() Stats { return s.stats.snapshot(s.cfg.Name) }

// Send writes a client frame (*stoatpb.BeginTypingFrame, *stoatpb.EndTypingFrame,
// *stoatpb.SubscribeFrame…) on the shard's connection, through the actor. It returns once the
// frame is written, or with ErrNotReady when the shard has no Ready connection (frames are not
// queued across reconnects), or with ctx's error. A frame whose Send returned ctx's error may
// still be written. Ping, Pong and Authenticate frames are refused with ErrReservedFrame.
func (s *Shard) Send(ctx context.Context, frame proto.Message) error {
	switch frame.(type) {
	case *stoatpb.PingFrame, *stoatpb.PongFrame, *stoatpb.AuthenticateFrame:
		return fmt.Errorf("shardactor: send %T: %w", frame, ErrReservedFrame)
	}
	data, err := bonfire.AppendFrame(nil, s.cfg.WireFormat, frame)
	if err != nil {
		return fmt.Errorf("shardactor: send %T: %w", frame, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.done:
		return fmt.Errorf("shardactor: send %T: %w", frame, ErrNotReady)
	default:
	}
	req := &writeReq{data: data, reply: make(chan error, 1)}
	s.root.Send(s.pid, req)
	select {
	case err := <-req.reply:
		if err != nil {
			return fmt.Errorf("shardactor: send %T: %w", frame, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		// The actor answers every request it receives before it ends; prefer that answer.
		select {
		case err := <-req.reply:
			if err != nil {
				return fmt.Errorf("shardactor: send %T: %w", frame, err)
			}
			return nil
		default:
			return fmt.Errorf("shardactor: send %T: %w", frame, ErrNotReady)
		}
	}
}

// now returns the time since the shard's epoch on the monotonic clock.
func (s *Shard) now() time.Duration { return time.Since(s.epoch) }
