// Package server is the benchmark's frame server: a real Bonfire WebSocket server on loopback
// that sends a pre-encoded stream (package stream) to one client at a time — Authenticated, then
// Ready, then the events — either as fast as the client reads (TCP backpressure paces it) or at
// a fixed rate. Each MessageCreate carries the server's clock at the moment its frame is written.
// It answers Pings with Pongs, as Stoat does. It runs in its own process (see package suite),
// so that it never shares a Go runtime with the bot under test.
package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/bench/internal/clock"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// chunk bounds one write: frames already due are coalesced into one system call up to this size,
// and a Pong waits for at most one chunk.
const chunk = 256 << 10

// Server serves one stream.
type Server struct {
	st   *stream.Stream
	clk  *clock.Clock
	log  *slog.Logger
	busy chan struct{} // held by the connection being served: stamps are written into shared frames
}

// New returns a server of st.
func New(st *stream.Stream, clk *clock.Clock, log *slog.Logger) *Server {
	return &Server{st: st, clk: clk, log: log, busy: make(chan struct{}, 1)}
}

// Handler serves GET / (the instance configuration, naming the events URL, as Stoat's API root
// does) and the events WebSocket at /events. The events URL takes Bonfire's format and token,
// plus rate (events per second; 0 or absent: as fast as the client reads) and events (how many
// of the stream's events to send; absent: all).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /events", s.events)
	return mux
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), BaseContext: func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = hs.Close() })
	defer stop()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"revolt": "0.8.8",
		"features": map[string]any{
			"captcha": map[string]any{"enabled": false, "key": ""}, "email": false, "invite_only": false,
			"autumn": map[string]any{"enabled": false, "url": ""}, "january": map[string]any{"enabled": false, "url": ""},
			"voso": map[string]any{"enabled": false, "url": "", "ws": ""},
		},
		"ws": "ws://" + r.Host + "/events", "app": "http://" + r.Host, "vapid": "",
		"build": map[string]string{"commit_sha": "ermine-bench", "commit_timestamp": "", "semver": "", "origin_url": "", "timestamp": ""},
	})
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := bonfire.JSON
	if q.Get("format") == "msgpack" {
		format = bonfire.Msgpack
	}
	if format != s.st.Spec.Format {
		http.Error(w, "this server streams "+s.st.Spec.Format.String(), http.StatusBadRequest)
		return
	}
	if q.Get("token") == "" {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	rate, err1 := intParam(q.Get("rate"), 0)
	n, err2 := intParam(q.Get("events"), s.st.Len())
	if err := errors.Join(err1, err2); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n = min(n, s.st.Len())

	select {
	case s.busy <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	defer func() { <-s.busy }()

	hw := &hijacker{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.log.Debug("server: upgrade failed", "err", err)
		return
	}
	defer ws.CloseNow()
	if hw.conn == nil { // Accept succeeds only after hijacking
		return
	}
	ws.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = ws.CloseNow() })
	defer stop()

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel() // the client left: stop writing
		s.answerPings(ctx, ws, hw.conn, format)
	}()
	start := time.Now()
	if err := s.write(ctx, hw.conn, rate, n); err != nil {
		s.log.Debug("server: stream ended early", "err", err)
	} else {
		s.log.Debug("server: stream written", "events", n, "rate", rate, "elapsed", time.Since(start))
	}
	// The client stops once its last handler has run; until then it may still send Pings.
	<-readDone
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad number %q", v)
	}
	return n, nil
}

// write sends the handshake, then events [0, n).
func (s *Server) write(ctx context.Context, w io.Writer, rate, n int) error {
	if _, err := w.Write(s.st.Handshake); err != nil {
		return fmt.Errorf("server: writing Authenticated and Ready: %w", err)
	}
	if rate <= 0 {
		for i := 0; i < n; {
			j := min(s.st.End(i, chunk), n)
			s.st.Stamp(i, j, s.clk.Now())
			if _, err := w.Write(s.st.Span(i, j)); err != nil {
				return fmt.Errorf("server: writing events %d–%d: %w", i, j, err)
			}
			i = j
		}
		return nil
	}
	// Paced: event i is due at start + i/rate. Whatever is due is stamped and written at once, so a
	// late timer makes a small burst, never a wrong stamp.
	interval := float64(time.Second) / float64(rate)
	start := s.clk.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; i < n; {
		now := s.clk.Now()
		due := min(n, int(float64(now-start)/interval)+1)
		if due <= i {
			timer.Reset(time.Duration(float64(i)*interval) - time.Duration(now-start))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		due = min(due, s.st.End(i, chunk))
		s.st.Stamp(i, due, s.clk.Now())
		if _, err := w.Write(s.st.Span(i, due)); err != nil {
			return fmt.Errorf("server: writing events %d–%d: %w", i, due, err)
		}
		i = due
	}
	return nil
}

// answerPings reads client frames until the connection ends, answering each Ping with a Pong
// that carries its data; other frames are ignored, as Stoat ignores them for bots.
func (s *Server) answerPings(ctx context.Context, ws *websocket.Conn, w io.Writer, f bonfire.Format) {
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		msg, err := bonfire.DecodeClientFrame(f, data)
		ping, ok := msg.(*stoatpb.PingFrame)
		if err != nil || !ok {
			continue
		}
		pong, err := bonfire.AppendFrame(nil, f, &stoatpb.PongEvent{Data: ping.GetData()})
		if err != nil {
			s.log.Error("server: encoding Pong", "err", err)
			continue
		}
		if _, err := w.Write(stream.AppendWSFrame(nil, stream.Opcode(f), pong)); err != nil {
			return
		}
	}
}

// lockedConn serialises writes to the socket: the stream writer, Pongs and coder/websocket's own
// control frames (the close handshake) each write whole frames under its lock.
type lockedConn struct {
	net.Conn
	mu sync.Mutex
}

// Write writes p whole before any other writer.
func (c *lockedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// hijacker hands coder/websocket a lockedConn when it hijacks the connection, so the server can
// write pre-encoded frames straight to the socket.
type hijacker struct {
	http.ResponseWriter
	conn *lockedConn
}

// Hijack hijacks the connection and wraps it.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: hijacking: %w", err)
	}
	h.conn = &lockedConn{Conn: nc}
	return h.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(h.conn)), nil
}

// Unwrap returns the wrapped ResponseWriter.
func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// ListenAndServe builds the stream of spec, listens on a loopback port, calls listening with the
// address, and serves until ctx ends.
func ListenAndServe(ctx context.Context, spec stream.Spec, log *slog.Logger, listening func(addr string)) error {
	st, err := stream.Build(spec)
	if err != nil {
		return err
	}
	clk, err := clock.New()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("server: listening: %w", err)
	}
	listening(ln.Addr().String())
	return New(st, clk, log).Serve(ctx, ln)
}
