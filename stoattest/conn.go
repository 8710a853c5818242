package stoattest

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// outKind is what the writer does with a queued item.
type outKind uint8

const (
	outFrame outKind = iota // write data as a message of type typ
	outClose                // close with a close frame, then stop
	outDrop                 // drop the TCP connection without a close frame, then stop
)

// outItem is one entry of a connection's send queue.
type outItem struct {
	kind   outKind
	typ    websocket.MessageType
	data   []byte
	pong   bool // counted in Stats.PongsSent once written
	code   websocket.StatusCode
	reason string
}

// delayedPong is a Pong waiting for DelayPongs.
type delayedPong struct {
	due   time.Time
	frame []byte
}

// conn is one events WebSocket connection. Its reader runs in the HTTP handler's goroutine; a
// writer goroutine drains its bounded send queue, and a pong goroutine serves delayed Pongs.
type conn struct {
	s       *Server
	id      uint64
	ws      *websocket.Conn
	raw     *corkConn // the socket under ws
	format  bonfire.Format
	msgType websocket.MessageType
	fields  readyFields
	ctx     context.Context
	cancel  context.CancelFunc
	out     chan outItem
	pongs   chan delayedPong

	writerDone chan struct{}
	pongDone   chan struct{}

	// Guarded by s.mu.
	ready   bool // Ready was queued: the connection receives pushes
	gone    bool // cut, dropped or closing: nothing more is queued
	closing bool // the writer runs the close handshake, which ends the connection itself
}

// serveEvents serves the events WebSocket (Bonfire), reading version, format, token and ready
// from the query string like the real server (the path is ignored).
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format, msgType := bonfire.JSON, websocket.MessageText
	if q.Get("format") == "msgpack" {
		format, msgType = bonfire.Msgpack, websocket.MessageBinary
	}
	tokens, hasToken := q["token"]
	token := ""
	if hasToken {
		token = tokens[0]
	}
	s.mu.Lock()
	refuse := s.refuseStatus
	if refuse != 0 {
		s.stats.UpgradesRefused++
		s.notifyLocked()
	}
	s.mu.Unlock()
	if refuse != 0 {
		s.log.Debug("stoattest: WebSocket upgrade refused", "status", refuse)
		http.Error(w, http.StatusText(refuse), refuse)
		return
	}
	cw := &corkingWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // any Origin, like the real server
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("stoattest: WebSocket upgrade failed", "err", err)
		return
	}
	ws.SetReadLimit(readLimit)
	if cw.conn == nil { // cannot happen: Accept succeeds only after hijacking
		_ = ws.CloseNow()
		return
	}

	c := &conn{
		s:          s,
		ws:         ws,
		raw:        cw.conn,
		format:     format,
		msgType:    msgType,
		fields:     parseReadyFields(q["ready"]),
		out:        make(chan outItem, s.queueSize),
		pongs:      make(chan delayedPong, 64),
		writerDone: make(chan struct{}),
		pongDone:   make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	defer c.cancel()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.nextConn++
	c.id = s.nextConn
	s.conns[c] = struct{}{}
	s.stats.Accepted++
	s.wg.Add(1)
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Debug("stoattest: connection", "conn", c.id, "remote", r.RemoteAddr, "format", format)

	go c.writeLoop()
	go c.pongLoop()
	c.readLoop(hasToken, token)

	s.mu.Lock()
	s.cutLocked(c)
	s.mu.Unlock()
	<-c.writerDone
	<-c.pongDone
	s.mu.Lock()
	delete(s.conns, c)
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Debug("stoattest: connection ended", "conn", c.id)
	s.wg.Done()
}

// readLoop authenticates the connection, then reads client frames until it ends.
func (c *conn) readLoop(hasToken bool, token string) {
	if !hasToken {
		for {
			msg, ok := c.read()
			if !ok {
				return
			}
			if a, isAuth := msg.(*stoatpb.AuthenticateFrame); isAuth {
				token = a.GetToken()
				break
			}
		}
	}
	if !c.authenticate(token) {
		// Let the writer send the Error frame and drop the connection.
		select {
		case <-c.writerDone:
		case <-c.ctx.Done():
		}
		return
	}
	for {
		msg, ok := c.read()
		if !ok {
			return
		}
		switch m := msg.(type) {
		case *stoatpb.PingFrame:
			c.s.pong(c, m.GetData())
		case *stoatpb.BeginTypingFrame:
			c.s.typing(m.GetChannel(), true)
		case *stoatpb.EndTypingFrame:
			c.s.typing(m.GetChannel(), false)
		}
		// Authenticate (already authenticated) and Subscribe (bots are always subscribed)
		// have no effect.
	}
}

// read reads one frame and counts it. msg is nil for a frame the real server would ignore;
// ok is false once the connection has ended.
func (c *conn) read() (msg proto.Message, ok bool) {
	typ, data, err := c.ws.Read(c.ctx)
	if err != nil {
		c.s.log.Debug("stoattest: read ended", "conn", c.id, "err", err)
		if code := websocket.CloseStatus(err); code != -1 {
			c.s.mu.Lock()
			c.s.stats.ClientCloses[code]++
			c.s.notifyLocked()
			c.s.mu.Unlock()
		}
		return nil, false
	}
	var frameType string
	understood := false
	if typ == c.msgType { // JSON needs text frames, msgpack binary ones
		frameType, msg, understood = decodeClientFrame(c.format, data)
	}
	s := c.s
	s.mu.Lock()
	s.stats.FramesReceived++
	if frameType != "" {
		s.stats.Received[frameType]++
	}
	if !understood {
		s.stats.Undecodable++
		msg = nil
	}
	s.notifyLocked()
	s.mu.Unlock()
	return msg, true
}

// authenticate answers Authenticated then Ready for a valid token, or Error{InvalidSession}
// followed by a dropped connection.
func (c *conn) authenticate(token string) bool {
	s := c.s
	s.mu.Lock()
	if !s.tokenValidLocked(token) {
		s.stats.AuthFailures++
		s.notifyLocked()
		ev := &stoatpb.ErrorEvent{Data: &stoatpb.ErrorData{Type: "InvalidSession", Location: "stoattest: authentication"}}
		if b, err := bonfire.AppendFrame(nil, c.format, ev); err == nil && s.enqueueLocked(c, outItem{typ: c.msgType, data: b}) {
			s.enqueueLocked(c, outItem{kind: outDrop})
		}
		s.mu.Unlock()
		s.log.Debug("stoattest: invalid token", "conn", c.id)
		return false
	}
	b, err := bonfire.AppendFrame(nil, c.format, &stoatpb.AuthenticatedEvent{})
	if err != nil || !s.enqueueLocked(c, outItem{typ: c.msgType, data: b}) {
		s.mu.Unlock()
		return false
	}
	delay := s.readyDelay
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	b, err = appendReady(nil, c.format, s.readyLocked(), c.fields, s.world.Self.GetBot() != nil)
	if err != nil {
		s.log.Error("stoattest: encoding Ready", "err", err)
		s.cutLocked(c)
		return false
	}
	if !s.enqueueLocked(c, outItem{typ: c.msgType, data: b}) {
		return false
	}
	c.ready = true
	s.stats.Authenticated++
	s.notifyLocked()
	s.log.Debug("stoattest: authenticated", "conn", c.id, "ready_bytes", len(b))
	return true
}

// pong answers a Ping with a Pong carrying the same data, unless Pongs are dropped or delayed.
func (s *Server) pong(c *conn, data *stoatpb.PingData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropPongs {
		s.stats.PongsDropped++
		s.notifyLocked()
		return
	}
	b, err := bonfire.AppendFrame(nil, c.format, &stoatpb.PongEvent{Data: data})
	if err != nil {
		s.log.Error("stoattest: encoding Pong", "err", err)
		return
	}
	if s.pongDelay > 0 {
		select {
		case c.pongs <- delayedPong{due: time.Now().Add(s.pongDelay), frame: b}:
		default: // 64 Pongs already waiting: this one is lost
			s.stats.PongsDropped++
			s.notifyLocked()
		}
		return
	}
	s.enqueueLocked(c, outItem{typ: c.msgType, data: b, pong: true})
}

// pongLoop queues delayed Pongs when they are due.
func (c *conn) pongLoop() {
	defer close(c.pongDone)
	for {
		select {
		case p := <-c.pongs:
			t := time.NewTimer(time.Until(p.due))
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			}
			c.s.mu.Lock()
			c.s.enqueueLocked(c, outItem{typ: c.msgType, data: p.frame, pong: true})
			c.s.mu.Unlock()
		case <-c.ctx.Done():
			return
		}
	}
}

// typing publishes ChannelStartTyping/StopTyping for Self, to every connection (the sender
// included), if Self can see the channel; otherwise the frame has no effect.
func (s *Server) typing(channel string, start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.ix.channels[channel]
	if ch == nil || !s.canSeeLocked(ch) {
		return
	}
	self := s.world.Self.GetId()
	var ev stoatpb.Event = &stoatpb.ChannelStartTypingEvent{ChannelId: channel, UserId: self}
	if !start {
		ev = &stoatpb.ChannelStopTypingEvent{ChannelId: channel, UserId: self}
	}
	if err := s.publishLocked([]stoatpb.Event{ev}, false); err != nil {
		s.log.Error("stoattest: publishing typing", "err", err)
	}
}

// writeLoop writes the queued items in order, waiting while the server is stalled. It
// coalesces the frames already queued into one system call (up to maxBatch bytes).
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var pending *outItem // dequeued during a batch while the server was stalled
	for {
		var it outItem
		if pending != nil {
			it, pending = *pending, nil
		} else {
			select {
			case it = <-c.out:
			case <-c.ctx.Done():
				return
			}
		}
		if !c.s.waitGate(c.ctx) {
			return
		}
		c.raw.cork()
		size, frames, pongs := 0, 0, 0
	batch:
		for {
			if it.kind != outFrame {
				if c.flush(frames, pongs) {
					c.finish(it)
				}
				return
			}
			// No per-write context: a blocked write ends when the connection is cut (CloseNow), and
			// a context would cost an AfterFunc registration per frame.
			if err := c.ws.Write(context.Background(), it.typ, it.data); err != nil {
				c.s.log.Debug("stoattest: write failed", "conn", c.id, "err", err)
				c.cancel()
				return
			}
			frames++
			if it.pong {
				pongs++
			}
			if size += len(it.data); size >= maxBatch {
				break
			}
			select {
			case next := <-c.out:
				if !c.s.sending() {
					pending = &next
					break batch
				}
				it = next
			default:
				break batch
			}
		}
		if !c.flush(frames, pongs) {
			return
		}
	}
}

// flush writes the coalesced frames and counts them, and the Pongs among them.
func (c *conn) flush(frames, pongs int) bool {
	if err := c.raw.uncork(); err != nil {
		c.s.log.Debug("stoattest: write failed", "conn", c.id, "err", err)
		c.cancel()
		return false
	}
	if frames > 0 {
		c.s.mu.Lock()
		c.s.stats.FramesSent += frames
		c.s.stats.PongsSent += pongs
		c.s.notifyLocked()
		c.s.mu.Unlock()
	}
	return true
}

// finish ends the connection for a close or drop item.
func (c *conn) finish(it outItem) {
	switch it.kind {
	case outClose:
		c.s.mu.Lock()
		if !c.gone {
			c.gone = true
			c.s.notifyLocked()
		}
		c.closing = true
		c.s.mu.Unlock()
		_ = c.ws.Close(it.code, it.reason)
		c.cancel()
	case outDrop:
		c.s.mu.Lock()
		c.s.cutLocked(c)
		c.s.mu.Unlock()
	}
}
