package shardactor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// closeGrace bounds the close handshake of a graceful stop; after it the socket is dropped.
const closeGrace = 3 * time.Second

// maxKeptBuffer is the largest read buffer kept between frames; a bigger one (after a large Ready)
// is released.
const maxKeptBuffer = 1 << 20

// session is one connection attempt: its goroutine dials, then reads, decodes and delivers frames
// until the connection ends. Sessions of a shard run one after another, never overlapping, so the
// Sink sees one ordered stream.
type session struct {
	gen uint64
	sh  *Shard
	env *sessionEnv
	// ctx is the session's own context. The actor cancels it to abandon the connection; it is not
	// a child of the shard's run context, so that a stop can close the socket gracefully.
	ctx    context.Context
	cancel context.CancelFunc
	exited chan struct{}

	// busy measures the time the reader spends away from the socket: decoding, and blocked in
	// the Sink. Deadlines that wait on the server (Authenticated, Ready, Pong) do not count it.
	busy busyClock
}

// busyClock accumulates the time its owner spends busy. The owner calls begin and end; any
// goroutine may call total.
type busyClock struct {
	since atomic.Int64 // shard clock (ns) when the current busy period began; 0 when idle
	done  atomic.Int64 // sum of the finished periods (ns)
}

func (b *busyClock) begin(now time.Duration) { b.since.Store(int64(max(now, 1))) }

func (b *busyClock) end(now time.Duration) {
	if since := b.since.Load(); since != 0 {
		b.done.Add(int64(now) - since) // before clearing since: briefly over-counting is safe
		b.since.Store(0)
	}
}

// total returns the busy time up to now, the current period included.
func (b *busyClock) total(now time.Duration) time.Duration {
	t := time.Duration(b.done.Load())
	if since := b.since.Load(); since != 0 {
		t += now - time.Duration(since)
	}
	return t
}

// Messages from a session to its actor. gen identifies the session; stale ones are ignored.
type (
	// sessionUp: the WebSocket handshake succeeded.
	sessionUp struct {
		gen  uint64
		conn *websocket.Conn
	}
	// frameSeen: the reader read a frame the state machine cares about. at is the shard clock
	// when the frame was read.
	frameSeen struct {
		gen  uint64
		kind seenKind
		pong uint64 // the Pong's data, when kind is seenPong
		at   time.Duration
	}
	// sessionEnded: the session's goroutine returned; err says why.
	sessionEnded struct {
		gen uint64
		err error
	}
)

type seenKind uint8

const (
	seenAuthenticated seenKind = iota + 1
	seenReady
	seenPong
)

// handshake phases as the reader sees them.
const (
	phaseAuth  = iota // waiting for Authenticated
	phaseReady        // waiting for Ready
	phaseLive
)

// sessionEnv is what a session needs from its shard actor.
type sessionEnv struct {
	runCtx    context.Context // ends when the shard stops; the Sink's context
	sink      Sink
	self      *actor.PID
	log       *slog.Logger
	malformed *malformedLog
}

func (ss *session) notify(msg any) { ss.sh.root.Send(ss.env.self, msg) }

// run is the session goroutine.
func (ss *session) run() {
	err := ss.runCatching()
	ss.cancel()
	ss.notify(&sessionEnded{gen: ss.gen, err: err})
	close(ss.exited)
}

// runCatching runs the session and turns a panic (in the Sink) into an error that ends the shard.
func (ss *session) runCatching() (err error) {
	defer func() {
		if r := recover(); r != nil {
			ss.env.log.Error("panic in the shard's reader", "panic", r, "stack", string(debug.Stack()))
			err = &sinkError{fmt.Errorf("panic: %v", r)}
		}
	}()
	return ss.connectAndRead()
}

// stopped returns the run context's error if the shard is stopping.
func (ss *session) stopped() error { return ss.env.runCtx.Err() }

// deliver hands one event to the Sink.
func (ss *session) deliver(ev stoatpb.Event) error {
	env := ss.env
	if err := env.runCtx.Err(); err != nil {
		return err // stopping: the Sink is not called any more
	}
	ev.SetShard(ss.sh.cfg.Name)
	if err := env.sink(env.runCtx, ev); err != nil {
		if cerr := env.runCtx.Err(); cerr != nil {
			return cerr
		}
		return &sinkError{err}
	}
	ss.sh.stats.events.Add(1)
	return nil
}

func (ss *session) connectAndRead() error {
	cfg := ss.sh.cfg
	env := ss.env
	if err := ss.deliver(&stoatpb.BeforeConnectEvent{}); err != nil {
		return err
	}
	if err := ss.stopped(); err != nil {
		return err
	}
	env.log.Debug("connecting", "url", cfg.redactedURL)
	dctx, cancel := context.WithTimeout(env.runCtx, cfg.HandshakeTimeout)
	unlink := context.AfterFunc(ss.ctx, cancel)
	conn, resp, err := websocket.Dial(dctx, cfg.dialURL, cfg.Dial)
	unlink()
	cancel()
	if err != nil {
		if serr := ss.stopped(); serr != nil {
			return serr
		}
		return ss.dialError(resp, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(cfg.MaxFrameSize)
	ss.sh.stats.connects.Add(1)
	ss.notify(&sessionUp{gen: ss.gen, conn: conn})

	// A stop closes the socket with a close handshake, then drops it if the server does not
	// answer in time (cancelling ss.ctx makes the pending read close the connection).
	unwatch := context.AfterFunc(env.runCtx, func() {
		t := time.AfterFunc(closeGrace, ss.cancel)
		defer t.Stop()
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	defer unwatch()

	ss.busy.begin(ss.sh.now())
	if err := ss.deliver(&stoatpb.AfterConnectEvent{Url: cfg.redactedURL}); err != nil {
		return err
	}
	ss.busy.end(ss.sh.now())
	return ss.readLoop(conn)
}

// dialError classifies a failed WebSocket handshake. The error never carries the token.
func (ss *session) dialError(resp *http.Response, err error) error {
	cfg := ss.sh.cfg
	if resp != nil && resp.StatusCode != 0 && resp.StatusCode != http.StatusSwitchingProtocols {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return &AuthError{StatusCode: resp.StatusCode}
		}
		return &HandshakeError{StatusCode: resp.StatusCode, URL: cfg.redactedURL}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shardactor: no WebSocket handshake within %s: %w", cfg.HandshakeTimeout,
			scrub(err, cfg.secrets))
	}
	return fmt.Errorf("shardactor: connect: %w", scrub(err, cfg.secrets))
}

func (ss *session) readLoop(conn *websocket.Conn) error {
	cfg := ss.sh.cfg
	st := &ss.sh.stats
	dec := bonfire.NewDecoder(cfg.Format, cfg.decoderOpts...)
	var (
		buf   bytes.Buffer
		evs   []stoatpb.Event
		phase = phaseAuth
	)
	for {
		_, r, err := conn.Reader(ss.ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return ss.readError(err)
		}
		at := ss.sh.now()
		ss.busy.begin(at)
		frame := buf.Bytes()
		st.frames.Add(1)
		st.bytes.Add(uint64(len(frame)))

		var derr error
		evs, derr = dec.Decode(frame, evs[:0])
		if derr != nil {
			ss.malformedFrame(derr, len(frame))
		}
		for i, ev := range evs {
			evs[i] = nil
			if err := ss.handle(ev, &phase, at); err != nil {
				return err
			}
		}
		ss.busy.end(ss.sh.now())
		if buf.Cap() > maxKeptBuffer {
			buf = bytes.Buffer{}
		}
	}
}

// handle reports the frames that drive the state machine to the actor, before they are delivered
// (delivery may block), and delivers every event.
func (ss *session) handle(ev stoatpb.Event, phase *int, at time.Duration) error {
	switch e := ev.(type) {
	case *stoatpb.AuthenticatedEvent:
		if *phase == phaseAuth {
			*phase = phaseReady
			ss.notify(&frameSeen{gen: ss.gen, kind: seenAuthenticated, at: at})
		}
	case *stoatpb.ReadyEvent:
		switch *phase {
		case phaseAuth:
			return errors.New("shardactor: protocol error: Ready before Authenticated")
		case phaseReady:
			*phase = phaseLive
			ss.notify(&frameSeen{gen: ss.gen, kind: seenReady, at: at})
		}
	case *stoatpb.PongEvent:
		ss.notify(&frameSeen{gen: ss.gen, kind: seenPong, pong: e.GetData().GetNumber(), at: at})
	case *stoatpb.ErrorEvent:
		kind := e.GetData().GetType()
		if kind == "" {
			kind = e.GetError()
		}
		if err := ss.deliver(ev); err != nil {
			return err
		}
		switch {
		case kind == "InvalidSession" || kind == "OnboardingNotFinished":
			return &AuthError{Reason: kind}
		case *phase != phaseLive:
			return fmt.Errorf("shardactor: server error %q during the handshake", kind)
		}
		return nil
	case *stoatpb.LogoutEvent:
		if err := ss.deliver(ev); err != nil {
			return err
		}
		return ErrLoggedOut
	default:
		if *phase == phaseAuth {
			return fmt.Errorf("shardactor: protocol error: expected Authenticated, got %s", eventName(ev))
		}
	}
	return ss.deliver(ev)
}

// errAbandoned ends a session whose connection the actor abandoned; the actor knows why.
var errAbandoned = errors.New("shardactor: connection abandoned")

// readError explains why reading stopped.
func (ss *session) readError(err error) error {
	if serr := ss.stopped(); serr != nil {
		return serr
	}
	if ss.ctx.Err() != nil {
		return errAbandoned
	}
	secrets := ss.sh.cfg.secrets
	switch {
	case websocket.CloseStatus(err) != -1:
		return fmt.Errorf("shardactor: the server closed the connection: %w", scrub(err, secrets))
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fmt.Errorf("shardactor: a frame exceeded MaxFrameSize (%d bytes): %w",
			ss.sh.cfg.MaxFrameSize, scrub(err, secrets))
	}
	return fmt.Errorf("shardactor: the connection dropped: %w", scrub(err, secrets))
}

// malformedFrame counts a frame that failed to decode and logs the first one of each type. The
// log names the type, the offset and the reason, never the frame's bytes.
func (ss *session) malformedFrame(err error, size int) {
	ss.sh.stats.decodeErrors.Add(1)
	var fe *bonfire.FrameError
	typ := ""
	if errors.As(err, &fe) {
		typ = replaceAll(fe.Type, ss.sh.cfg.secrets)
	}
	if !ss.env.malformed.first(typ) {
		return
	}
	attrs := []any{"type", typ, "format", ss.sh.cfg.Format.String(), "size", size}
	var se *bonfire.SyntaxError
	if errors.As(err, &se) {
		attrs = append(attrs, "offset", se.Offset, "reason", se.Reason)
	} else {
		attrs = append(attrs, "error", replaceAll(err.Error(), ss.sh.cfg.secrets))
	}
	ss.env.log.Warn("malformed frame skipped (logged once per type)", attrs...)
}

// malformedLog remembers which frame types already had a malformed frame logged.
type malformedLog struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// maxMalformedTypes bounds the memory a server sending junk types can make the log take.
const maxMalformedTypes = 64

// first reports whether typ is logged for the first time, and records it.
func (m *malformedLog) first(typ string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[typ]; ok {
		return false
	}
	if m.seen == nil {
		m.seen = make(map[string]struct{})
	}
	if len(m.seen) >= maxMalformedTypes {
		return false
	}
	m.seen[typ] = struct{}{}
	return true
}

// eventName names an event for errors: its class, or the wire type of an unknown one.
func eventName(ev stoatpb.Event) string {
	if u, ok := ev.(*stoatpb.UnknownEvent); ok {
		return fmt.Sprintf("unknown frame type %q", u.GetType())
	}
	return ev.EventType().String()
}
