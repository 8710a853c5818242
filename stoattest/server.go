package stoattest

import (
	"container/list"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// DefaultQueueSize is the default length of a connection's send queue, in frames. A connection
// whose queue is full when a frame is pushed has fallen too far behind and is dropped.
const DefaultQueueSize = 4096

// readLimit bounds the size of one client frame.
const readLimit = 16 << 20

// Option configures a Server.
type Option func(*config)

type config struct {
	world      *World
	logger     *slog.Logger
	now        func() time.Time
	queueSize  int
	rateLimits bool
	history    int
}

// WithWorld makes the server serve a deep copy of w (the default is SmallWorld(1)).
func WithWorld(w *World) Option { return func(c *config) { c.world = w } }

// WithLogger makes the server log connections, authentications and drops to l (the default
// discards everything).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock replaces time.Now for the rate limit windows, message ids and edit timestamps, so
// that a test can move time forward by itself. Pong and Ready delays and Stall durations always
// use the real clock.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithQueueSize sets the length of each connection's send queue (default DefaultQueueSize).
func WithQueueSize(n int) Option { return func(c *config) { c.queueSize = n } }

// WithHistoryLimit makes the server keep only the newest n messages of each channel's history
// (default 0: all of them, as the real server does); older ones are forgotten, as if deleted
// without an event. Long soaks use it so that the server's memory stays flat while messages keep
// coming; n must exceed what a client may fetch back, or the oldest of it is gone.
func WithHistoryLimit(n int) Option { return func(c *config) { c.history = n } }

// WithoutRateLimits turns the REST rate limiter off (its headers are still sent, with the
// bucket never running out). InjectRateLimit still works.
func WithoutRateLimits() Option { return func(c *config) { c.rateLimits = false } }

// Server is a fake Stoat server on loopback: the REST API and the Bonfire events WebSocket,
// speaking the real protocol, backed by a World, with controls for tests. All its methods are
// safe for concurrent use.
type Server struct {
	// URL is the API base URL, http://ip:port (the API is also served under /0.8).
	URL string

	addr      net.Addr
	log       *slog.Logger
	now       func() time.Time
	queueSize int
	history   int // WithHistoryLimit (0: unbounded)
	ids       *ulidGen
	http      *http.Server
	mux       *http.ServeMux
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stopWatch func() bool // stops watching Start's context
	closeOnce sync.Once
	done      chan struct{}

	// gate is closed while sending is allowed; Stall swaps in an open one.
	gate atomic.Pointer[chan struct{}]

	mu           sync.Mutex
	closed       bool
	world        *World
	ix           *index
	conns        map[*conn]struct{}
	nextConn     uint64
	stats        Stats
	changed      chan struct{}
	rejectTokens bool
	pongDelay    time.Duration
	dropPongs    bool
	readyDelay   time.Duration
	refuseStatus int // answers upgrades when non-zero (RefuseUpgrades)
	stalls       int
	rateLimits   bool
	buckets      map[uint64]*bucketEntry
	inject       struct {
		n          int
		retryAfter time.Duration
	}
	idempotency *lru
}

// NewServer starts a Server on a random loopback port for the test and closes it when the test
// ends. It fails the test if the server cannot start.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(t.Context(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("stoattest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server listening on addr (e.g. "127.0.0.1:0" for a random port) and returns
// once it accepts connections. It serves until ctx is done or Close is called.
func Start(ctx context.Context, addr string, opts ...Option) (*Server, error) {
	cfg := config{world: SmallWorld(1), now: time.Now, queueSize: DefaultQueueSize, rateLimits: true}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.queueSize < 1 {
		return nil, fmt.Errorf("stoattest: queue size %d, want at least 1", cfg.queueSize)
	}
	world := cfg.world.Clone()
	if world == nil {
		return nil, errors.New("stoattest: nil world")
	}
	ix, err := prepare(world)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stoattest: listening on %s: %w", addr, err)
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:])

	s := &Server{
		URL:         "http://" + ln.Addr().String(),
		addr:        ln.Addr(),
		log:         cfg.logger,
		now:         cfg.now,
		queueSize:   cfg.queueSize,
		history:     max(cfg.history, 0),
		ids:         newULIDGen(cfg.now, seed),
		mux:         http.NewServeMux(),
		done:        make(chan struct{}),
		world:       world,
		ix:          ix,
		conns:       map[*conn]struct{}{},
		changed:     make(chan struct{}),
		rateLimits:  cfg.rateLimits,
		buckets:     map[uint64]*bucketEntry{},
		idempotency: newLRU(1000),
	}
	s.stats.Received = map[string]int{}
	s.stats.Routes = map[string]int{}
	s.stats.ClientCloses = map[websocket.StatusCode]int{}
	open := make(chan struct{})
	close(open)
	s.gate.Store(&open)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.routes()
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("stoattest: serving", "err", err)
			go s.Close()
		}
	}()
	s.stopWatch = context.AfterFunc(ctx, s.Close)
	s.log.Info("stoattest: listening", "url", s.URL)
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// EventsURL returns the URL of the events WebSocket (ws://ip:port/events), as the API root
// advertises it. Clients add ?version=1&format=json|msgpack[&token=…].
func (s *Server) EventsURL() string { return "ws://" + s.addr.String() + "/events" }

// Token returns the token the server accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.world.Token
}

// Done is closed when the server has shut down.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close cuts every connection, stops the server and waits for its goroutines to end. It may be
// called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stopWatch()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			s.cutLocked(c)
		}
		s.mu.Unlock()
		s.cancel()
		_ = s.http.Close()
		s.wg.Wait()
		s.log.Info("stoattest: closed", "url", s.URL)
		close(s.done)
	})
	<-s.done
}

// serveHTTP routes a request: the events WebSocket, or the REST API behind the rate limiter.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/0.8" || strings.HasPrefix(path, "/0.8/") {
		path = strings.TrimPrefix(path, "/0.8")
		if path == "" {
			path = "/"
		}
	}
	if isWebSocketUpgrade(r) && (path == "/" || path == "/events" || path == "/ws") {
		s.serveEvents(w, r)
		return
	}
	s.mu.Lock()
	d := s.rateLimitLocked(r)
	s.stats.Requests++
	if d.limited {
		s.stats.RateLimited++
	}
	s.notifyLocked()
	s.mu.Unlock()
	d.setHeaders(w.Header())
	if d.limited {
		writeJSON(w, http.StatusTooManyRequests, fmt.Appendf(nil, `{"retry_after":%d}`, d.resetAfter.Milliseconds()))
		return
	}
	if path != r.URL.Path {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, ""
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// tokenValidLocked reports whether token is accepted now.
func (s *Server) tokenValidLocked(token string) bool {
	return !s.rejectTokens && token != "" && token == s.world.Token
}

// ---------------------------------------------------------------------------------------------
// Pushing events

// Push sends each event as one frame, in order, to every authenticated connection (each in its
// own format). It does not change the World (see PostMessage and Update). It fails, sending
// nothing, if an event cannot be encoded.
func (s *Server) Push(events ...stoatpb.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishLocked(events, false)
}

// PushBulk sends the events as one Bulk frame to every authenticated connection.
func (s *Server) PushBulk(events ...stoatpb.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishLocked(events, true)
}

// PushRaw sends data verbatim as one WebSocket message of type typ (websocket.MessageText or
// websocket.MessageBinary) to every authenticated connection, whatever its format: for
// malformed, unknown or wrongly typed frames.
func (s *Server) PushRaw(typ websocket.MessageType, data []byte) {
	data = append([]byte(nil), data...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.ready && !c.gone {
			s.enqueueLocked(c, outItem{typ: typ, data: data})
		}
	}
}

// publishLocked encodes the events once per format in use and queues them on every
// authenticated connection.
func (s *Server) publishLocked(events []stoatpb.Event, bulk bool) error {
	var need [2]bool
	need[bonfire.JSON] = true // always encode once, to report errors
	for c := range s.conns {
		if c.ready && !c.gone {
			need[c.format] = true
		}
	}
	var frames [2][][]byte
	for _, f := range []bonfire.Format{bonfire.JSON, bonfire.Msgpack} {
		if !need[f] {
			continue
		}
		if bulk {
			b, err := bonfire.AppendBulk(nil, f, events)
			if err != nil {
				return fmt.Errorf("stoattest: encoding a Bulk: %w", err)
			}
			frames[f] = [][]byte{b}
			continue
		}
		for _, ev := range events {
			b, err := bonfire.AppendFrame(nil, f, ev)
			if err != nil {
				return fmt.Errorf("stoattest: encoding %T: %w", ev, err)
			}
			frames[f] = append(frames[f], b)
		}
	}
	for c := range s.conns {
		if !c.ready || c.gone {
			continue
		}
		for _, b := range frames[c.format] {
			if !s.enqueueLocked(c, outItem{typ: c.msgType, data: b}) {
				break
			}
		}
	}
	return nil
}

// enqueueLocked queues an item on a connection without blocking. A connection whose queue is
// full has fallen too far behind: it is cut and counted in Stats.SlowDropped.
func (s *Server) enqueueLocked(c *conn, it outItem) bool {
	if c.gone {
		return false
	}
	select {
	case c.out <- it:
		return true
	default:
		s.stats.SlowDropped++
		s.log.Warn("stoattest: dropping a connection that fell behind", "conn", c.id, "queue", cap(c.out))
		s.cutLocked(c)
		return false
	}
}

// ---------------------------------------------------------------------------------------------
// Connection controls

// CloseAll closes every connection with a close frame (code and reason), after the frames
// already queued on it.
func (s *Server) CloseAll(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		s.enqueueLocked(c, outItem{kind: outClose, code: code, reason: reason})
	}
}

// Cut drops every connection at once, without a close frame, as a network failure or a crashed
// server would: clients see an abnormal closure (1006) or EOF.
func (s *Server) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		s.cutLocked(c)
	}
}

// cutLocked drops a connection without a close frame (unless its close handshake has begun,
// which then ends the connection by itself).
func (s *Server) cutLocked(c *conn) {
	if !c.gone {
		c.gone = true
		s.notifyLocked()
	}
	c.cancel()
	if !c.closing {
		_ = c.ws.CloseNow()
	}
}

// Logout sends Logout to every authenticated connection, after the frames already queued on
// it, then drops it without a close frame, as the real server does when a bot token is reset.
// Combine it with RejectTokens(true) to model the reset token.
func (s *Server) Logout() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.ready || c.gone {
			continue
		}
		b, err := bonfire.AppendFrame(nil, c.format, &stoatpb.LogoutEvent{})
		if err != nil {
			s.log.Error("stoattest: encoding Logout", "err", err)
			continue
		}
		if s.enqueueLocked(c, outItem{typ: c.msgType, data: b}) {
			s.enqueueLocked(c, outItem{kind: outDrop})
		}
	}
}

// Stall stops sending on every connection, new ones included: no frame queued from now on,
// Pongs, Ready, Logout and the close frames of CloseAll included, is written until d has passed
// (d > 0) or release is called; a frame queued before may still be written. Frames pushed
// meanwhile wait in the send queues (a full queue still drops its connection); reading goes on.
// Stalls nest; sending resumes when all are released. release may be called more than once.
func (s *Server) Stall(d time.Duration) (release func()) {
	s.mu.Lock()
	if s.stalls == 0 {
		closed := make(chan struct{})
		s.gate.Store(&closed)
	}
	s.stalls++
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.stalls--
			if s.stalls == 0 {
				close(*s.gate.Load())
			}
		})
	}
	if d > 0 {
		time.AfterFunc(d, release)
	}
	return release
}

// waitGate blocks while the server is stalled; it reports false if ctx ends first.
func (s *Server) waitGate(ctx context.Context) bool {
	select {
	case <-*s.gate.Load():
		return true
	case <-ctx.Done():
		return false
	}
}

// sending reports whether the server is not stalled.
func (s *Server) sending() bool {
	select {
	case <-*s.gate.Load():
		return true
	default:
		return false
	}
}

// DelayPongs makes the server answer each Ping d after reading it (0: at once, the default).
func (s *Server) DelayPongs(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pongDelay = d
}

// DropPongs makes the server read Pings without answering them (counted in
// Stats.PongsDropped), or answer them again.
func (s *Server) DropPongs(drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropPongs = drop
}

// RefuseUpgrades makes the events endpoint answer every later WebSocket upgrade with the HTTP
// status (a 3xx, 4xx or 5xx: 503 for an outage, 401 for a refused token…) and a short text body,
// as a proxy or a server that is down would, without upgrading; 0 accepts upgrades again. Open
// connections and REST are not affected. Each refusal is counted in Stats.UpgradesRefused.
func (s *Server) RefuseUpgrades(status int) {
	if status != 0 && (status < 300 || status > 599) {
		panic(fmt.Sprintf("stoattest: RefuseUpgrades(%d): want 0 or a 3xx, 4xx or 5xx status", status))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseStatus = status
}

// DelayReady makes the server wait d between Authenticated and Ready on new connections (the
// real server builds Ready from its database in that gap); 0 restores the default.
func (s *Server) DelayReady(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readyDelay = d
}

// RejectTokens makes every later authentication fail (the events socket answers
// Error{InvalidSession} and drops the connection; REST answers 401), or accept the token again.
// Connections already authenticated are not affected.
func (s *Server) RejectTokens(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectTokens = reject
}

// InjectRateLimit makes the next n REST requests fail with 429 and retry_after, whatever their
// bucket, without counting them against it.
func (s *Server) InjectRateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inject.n, s.inject.retryAfter = n, retryAfter
}

// ---------------------------------------------------------------------------------------------
// The world

// World returns a deep copy of the current world.
func (s *Server) World() *World {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.world.Clone()
}

// Update changes the world in place, without emitting any event (as if it happened while no
// client was looking): the change shows in later Readys and REST answers. fn runs under the
// server's lock, so it must not call the server's methods.
func (s *Server) Update(fn func(w *World)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.world)
	ix, err := prepare(s.world)
	if err != nil {
		return err
	}
	s.ix = ix
	return nil
}

// Restart simulates a server restart: every connection is cut, the world is replaced by a deep
// copy of w (nil keeps the current one), and the rate limiter and idempotency keys start
// afresh. Connections made after Restart returns get a Ready of the new world.
func (s *Server) Restart(w *World) error {
	var ix *index
	if w != nil {
		w = w.Clone()
		var err error
		if ix, err = prepare(w); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		s.cutLocked(c)
	}
	if w != nil {
		s.world, s.ix = w, ix
	}
	s.buckets = map[uint64]*bucketEntry{}
	s.inject.n = 0
	s.idempotency = newLRU(1000)
	s.log.Info("stoattest: restarted")
	return nil
}

// NewID returns a fresh ULID, as the server gives a new object: later than every id it gave
// before, for a World changed with Update (a message stored silently, say).
func (s *Server) NewID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids.New()
}

// PostMessage stores m in the world and sends its Message event, as if its author had sent it:
// the event embeds the author's user and, in server channels, member. An empty Id gets a fresh
// ULID, an empty Author is Self. It returns the message as sent in the event.
func (s *Server) PostMessage(m *stoatpb.Message) (*stoatpb.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m = cloneMsg(m)
	ch := s.ix.channels[m.GetChannel()]
	if ch == nil {
		return nil, fmt.Errorf("stoattest: posting a message: unknown channel %q", m.GetChannel())
	}
	if m.Id == "" {
		m.Id = s.ids.New()
	} else if s.ix.messages[m.Id] != nil {
		return nil, fmt.Errorf("stoattest: posting a message: id %s exists", m.Id)
	}
	if m.Author == "" {
		m.Author = s.world.Self.GetId()
	}
	m.User, m.Member = nil, nil
	s.storeMessageLocked(ch, m)
	sent := s.withAuthorLocked(m, ch)
	if err := s.publishLocked([]stoatpb.Event{&stoatpb.MessageCreateEvent{Message: sent}}, false); err != nil {
		return nil, err
	}
	return cloneMsg(sent), nil
}

// ---------------------------------------------------------------------------------------------
// Statistics and waiting

// Stats is a snapshot of what the server saw.
type Stats struct {
	// Live is the number of open WebSocket connections.
	Live int
	// LiveReady is the number of open connections that were sent Ready (they receive pushes).
	LiveReady int
	// Accepted counts WebSocket connections accepted so far.
	Accepted int
	// Authenticated counts successful authentications (Readys sent) so far.
	Authenticated int
	// AuthFailures counts connections rejected with InvalidSession.
	AuthFailures int
	// SlowDropped counts connections dropped for falling behind (a full send queue).
	SlowDropped int
	// FramesSent counts the frames written to clients (all connections; close frames excluded).
	FramesSent int
	// FramesReceived counts every WebSocket message clients sent.
	FramesReceived int
	// Undecodable counts the received frames the real server would not understand and so
	// ignores: malformed, of an unknown type, missing a field, or of the wrong frame type.
	Undecodable int
	// Received counts received frames by their "type" (whether understood or not).
	Received map[string]int
	// ClientCloses counts the close frames clients sent, by status code: a client closing the
	// connection, or answering the close of CloseAll (its code echoed, as clients do). A
	// connection dropped without a close frame is not counted.
	ClientCloses map[websocket.StatusCode]int
	// UpgradesRefused counts the WebSocket upgrades answered with an HTTP status
	// (RefuseUpgrades).
	UpgradesRefused int
	// PongsSent counts Pongs written to clients; PongsDropped those withheld by DropPongs.
	PongsSent, PongsDropped int
	// Requests counts REST requests; RateLimited those answered 429.
	Requests, RateLimited int
	// Routes counts routed REST requests by route pattern, e.g.
	// "POST /channels/{target}/messages".
	Routes map[string]int
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.Received = maps.Clone(s.stats.Received)
	st.Routes = maps.Clone(s.stats.Routes)
	st.ClientCloses = maps.Clone(s.stats.ClientCloses)
	st.Live, st.LiveReady = len(s.conns), 0
	for c := range s.conns {
		if c.ready && !c.gone {
			st.LiveReady++
		}
	}
	return st
}

// notifyLocked wakes the waiters of WaitFor.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor waits until cond holds for the server's Stats, or ctx ends.
func (s *Server) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st := s.statsLocked()
		changed := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("stoattest: condition not met (stats %+v): %w", st, ctx.Err())
		}
	}
}

// WaitConnections waits until at least n WebSocket connections are open.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return s.WaitFor(ctx, func(st Stats) bool { return st.Live >= n })
}

// WaitAuthenticated waits until at least n open connections have been sent Ready.
func (s *Server) WaitAuthenticated(ctx context.Context, n int) error {
	return s.WaitFor(ctx, func(st Stats) bool { return st.LiveReady >= n })
}

// ---------------------------------------------------------------------------------------------

// lru is a set of recently used keys (idempotency keys and nonces), evicting the oldest.
type lru struct {
	max   int
	order *list.List
	keys  map[string]*list.Element
}

func newLRU(max int) *lru { return &lru{max: max, order: list.New(), keys: map[string]*list.Element{}} }

// seen reports whether key is in the set, marking it most recently used.
func (l *lru) seen(key string) bool {
	if e, ok := l.keys[key]; ok {
		l.order.MoveToFront(e)
		return true
	}
	return false
}

// add puts key in the set.
func (l *lru) add(key string) {
	if l.seen(key) {
		return
	}
	l.keys[key] = l.order.PushFront(key)
	if l.order.Len() > l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.keys, oldest.Value.(string))
	}
}
