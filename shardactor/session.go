package shardactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// closeGrace bounds the close handshake of a graceful stop; after it the socket is dropped.
const closeGrace = 3 * time.Second

// maxKeptBuffer is the largest read buffer always kept between frames; a bigger one (after a
// large Ready) is kept only while frames need most of it (see frameReader).
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
	// sessionUp: the WebSocket handshake succeeded with url (redacted).
	sessionUp struct {
		gen  uint64
		conn *websocket.Conn
		url  string
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
	runCtx context.Context // ends when the shard stops; the Sink's context
	sink   Sink
	self   *actor.PID
	log    *slog.Logger
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

// deliver hands one synthetic event to the Sink.
func (ss *session) deliver(ev stoatpb.Event) error { return ss.deliverSized(ev, 0) }

// deliverSized hands one event that took size bytes on the wire to the Sink.
func (ss *session) deliverSized(ev stoatpb.Event, size int) error {
	env := ss.env
	if err := env.runCtx.Err(); err != nil {
		return err // stopping: the Sink is not called any more
	}
	ev.SetShard(ss.sh.cfg.Name)
	if err := env.sink(env.runCtx, ev, size); err != nil {
		if cerr := env.runCtx.Err(); cerr != nil {
			return cerr
		}
		return &sinkError{err}
	}
	ss.sh.stats.events.Add(1)
	return nil
}

// connectAndRead is one connection attempt: discover the events URL (if it is discovered), dial,
// then read until the connection ends. A failed discovery fails the attempt like a failed dial.
func (ss *session) connectAndRead() error {
	cfg := ss.sh.cfg
	env := ss.env
	// The malformed frames and failed recording writes left out of the log since its last line
	// are counted when the connection ends, not lost.
	defer ss.flushMalformed()
	if rec := ss.sh.rec; rec != nil {
		defer rec.flush(env.log)
	}
	if err := ss.deliver(&stoatpb.BeforeConnectEvent{}); err != nil {
		return err
	}
	if err := ss.stopped(); err != nil {
		return err
	}
	ep, err := ss.endpoint()
	if err != nil {
		if serr := ss.stopped(); serr != nil {
			return serr
		}
		return err
	}
	env.log.Debug("connecting", "url", ep.redacted)
	dctx, cancel := context.WithTimeout(env.runCtx, cfg.HandshakeTimeout)
	unlink := context.AfterFunc(ss.ctx, cancel)
	conn, resp, err := websocket.Dial(dctx, ep.dial, cfg.Dial)
	unlink()
	cancel()
	if err != nil {
		if serr := ss.stopped(); serr != nil {
			return serr
		}
		return ss.dialError(resp, err, ep)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(cfg.MaxFrameSize)
	ss.sh.stats.connects.Add(1)
	if rec := ss.sh.rec; rec != nil {
		rec.connect(env.log)
	}
	ss.notify(&sessionUp{gen: ss.gen, conn: conn, url: ep.redacted})

	// A stop closes the socket with a close handshake, then drops it if the server does not
	// answer in time (cancelling ss.ctx makes the pending read close the connection).
	unwatch := context.AfterFunc(env.runCtx, func() {
		t := time.AfterFunc(closeGrace, ss.cancel)
		defer t.Stop()
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	defer unwatch()

	ss.busy.begin(ss.sh.now())
	if err := ss.deliver(&stoatpb.AfterConnectEvent{Url: ep.redacted}); err != nil {
		return err
	}
	ss.busy.end(ss.sh.now())
	return ss.readLoop(conn)
}

// endpoint returns the events URL of this attempt: Config.URL's, or what Config.Discover returns
// now. When discovery fails, the URL discovered last is dialled, if there is one; else the attempt
// fails with an error that says why, without the token.
func (ss *session) endpoint() (endpoint, error) {
	cfg := ss.sh.cfg
	if cfg.Discover == nil || cfg.URL != "" {
		return cfg.endpoint, nil
	}
	ctx, cancel := context.WithTimeout(ss.env.runCtx, cfg.HandshakeTimeout)
	defer cancel()
	defer context.AfterFunc(ss.ctx, cancel)()
	raw, err := cfg.Discover(ctx)
	var ep endpoint
	switch {
	case err == nil:
		if ep, err = cfg.newEndpoint(raw, "the discovered events URL"); err == nil {
			ss.sh.discovered.Store(&ep)
			return ep, nil
		}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		err = fmt.Errorf("shardactor: discovering the events URL: none within %s: %w",
			cfg.HandshakeTimeout, scrub(err, cfg.secrets))
	default:
		err = fmt.Errorf("shardactor: discovering the events URL: %w", scrub(err, cfg.secrets))
	}
	if last := ss.sh.discovered.Load(); last != nil && !fatal(err) && ss.stopped() == nil && ss.ctx.Err() == nil {
		ss.env.log.Warn("discovery failed; dialling the events URL discovered last", "err", err.Error(), "url", last.redacted)
		return *last, nil
	}
	return endpoint{}, err
}

// dialError classifies a failed WebSocket handshake with ep. The error never carries the token.
func (ss *session) dialError(resp *http.Response, err error, ep endpoint) error {
	cfg := ss.sh.cfg
	if resp != nil && resp.StatusCode != 0 && resp.StatusCode != http.StatusSwitchingProtocols {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return &AuthError{StatusCode: resp.StatusCode}
		}
		return &HandshakeError{StatusCode: resp.StatusCode, URL: ep.redacted}
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
	dec := bonfire.NewDecoder(cfg.WireFormat, cfg.decoderOpts...)
	rec := ss.sh.rec
	var (
		frames frameReader
		evs    []stoatpb.Event
		phase  = phaseAuth
		// skipLog paces the warnings of items lost to decoding. It is the connection's: its one
		// Ready is news, whatever the Ready of the connection before held.
		skipLog ratelog.Limiter
	)
	// Abandoning the session closes the socket, which ends a pending read. Reading with a
	// context that cannot be cancelled spares coder/websocket a context.AfterFunc per frame and
	// per Read (a fifth of the reader's CPU); this one AfterFunc serves the whole session.
	stop := context.AfterFunc(ss.ctx, func() { _ = conn.CloseNow() })
	defer stop()
	readCtx := context.WithoutCancel(ss.ctx)
	for {
		_, r, err := conn.Reader(readCtx)
		var frame []byte
		if err == nil {
			frame, err = frames.read(r)
		}
		if err != nil {
			return ss.readError(err)
		}
		at := ss.sh.now()
		ss.busy.begin(at)
		if rec != nil {
			rec.frame(frame, ss.env.log)
		}
		st.frames.Add(1)
		st.bytes.Add(uint64(len(frame)))

		var derr error
		evs, derr = dec.Decode(frame, evs[:0])
		if derr != nil {
			ss.malformedFrame(derr, len(frame))
		}
		if items, n := dec.Skipped(); n > 0 {
			ss.itemsSkipped(&skipLog, items, n)
		}
		// The events hold no reference to the frame: a big buffer it did not need goes now, not
		// after the events' delivery.
		frames.done(len(frame), ss.sh.now())
		share := 0
		if len(evs) > 0 {
			share = len(frame) / len(evs)
		}
		for i, ev := range evs {
			evs[i] = nil
			if err := ss.handle(ev, &phase, at, share); err != nil {
				return err
			}
		}
		ss.busy.end(ss.sh.now())
	}
}

// handle reports the frames that drive the state machine to the actor, before they are delivered
// (delivery may block), and delivers every event.
func (ss *session) handle(ev stoatpb.Event, phase *int, at time.Duration, size int) error {
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
		if err := ss.deliverSized(ev, size); err != nil {
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
		if err := ss.deliverSized(ev, size); err != nil {
			return err
		}
		return ErrLoggedOut
	default:
		if *phase == phaseAuth {
			return fmt.Errorf("shardactor: protocol error: expected Authenticated, got %s", eventName(ev))
		}
	}
	return ss.deliverSized(ev, size)
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

// malformedMsg is the log message of a malformed frame.
const malformedMsg = "malformed frame skipped"

// malformedFrame counts a frame that failed to decode, every one, and logs it through the shard's
// limiter: the first frames of each type in full, then a summary per RepeatLogInterval with the
// count left out. The log names the type, the size, the offset and the reason, never the frame's
// bytes.
func (ss *session) malformedFrame(err error, size int) {
	ss.sh.stats.decodeErrors.Add(1)
	cfg := ss.sh.cfg
	var fe *bonfire.FrameError
	typ := ""
	if errors.As(err, &fe) {
		typ = malformedKey(replaceAll(fe.Type, cfg.secrets))
	}
	full := func() []any {
		attrs := []any{"size", size}
		var se *bonfire.SyntaxError
		if errors.As(err, &se) {
			return append(attrs, "offset", se.Offset, "reason", se.Reason)
		}
		return append(attrs, "error", replaceAll(err.Error(), cfg.secrets))
	}
	ss.sh.malformed.Log(ss.env.log, slog.LevelWarn, typ, malformedMsg, full,
		"type", typ, "format", cfg.WireFormat.String())
}

// flushMalformed logs, per type, the malformed frames left out of the log since its last line.
func (ss *session) flushMalformed() {
	format := ss.sh.cfg.WireFormat.String()
	ss.sh.malformed.Flush(func(typ string, n uint64) {
		ss.env.log.Warn(malformedMsg+" (repeated; counted when the connection ended)",
			"type", typ, "format", format, "suppressed", n)
	})
}

// maxMalformedTypes bounds the frame types whose malformed frames are logged apart; the others
// share one entry.
const maxMalformedTypes = 64

// maxMalformedKey bounds the length of a frame type in the log and the limiter's table: the type
// comes from the server.
const maxMalformedKey = 64

// malformedKey returns typ cut to maxMalformedKey bytes (on a rune boundary).
func malformedKey(typ string) string {
	if len(typ) <= maxMalformedKey {
		return typ
	}
	cut := maxMalformedKey
	for cut > 0 && !utf8.RuneStart(typ[cut]) {
		cut--
	}
	return typ[:cut] + "…"
}

// eventName names an event for errors: its class, or the wire type of an unknown one.
func eventName(ev stoatpb.Event) string {
	if u, ok := ev.(*stoatpb.UnknownEvent); ok {
		return fmt.Sprintf("unknown frame type %q", u.GetType())
	}
	return ev.EventType().String()
}
