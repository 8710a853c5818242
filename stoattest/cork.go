package stoattest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// maxBatch bounds the bytes a connection writer coalesces into one system call.
const maxBatch = 256 << 10

// corkConn is a hijacked events connection. Writes go to the socket at once, except while the
// connection's writer has corked it to coalesce a burst of queued frames into one system call
// (coder/websocket flushes every message): then they are buffered until uncork.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

// Write writes p, or buffers it while corked.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was buffered and stops buffering.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 4*maxBatch {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// corkingWriter hands coder/websocket a corkConn when it hijacks the connection.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkConn
}

// Hijack hijacks the underlying connection and wraps it in a corkConn.
func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("stoattest: hijacking: %w", err)
	}
	w.conn = &corkConn{Conn: nc}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(w.conn)), nil
}

// Unwrap returns the wrapped ResponseWriter.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
