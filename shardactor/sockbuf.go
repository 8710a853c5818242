package shardactor

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
)

// socketReadSize is the size of the reads from the socket. coder/websocket reads through a
// 4 KiB bufio.Reader of its own, which makes a system call per 4 KiB (about four small frames);
// a bigger buffer below it takes what the kernel holds, up to this size, in one call. On a
// loopback stream of 900-byte MessageCreate frames that halves the reader's time outside
// decoding (BenchmarkReader).
const socketReadSize = 64 << 10

// bufferedClient returns the HTTP client the WebSocket is dialled with when Config.Dial names
// none: a clone of http.DefaultTransport (its proxy, TLS and timeouts) whose connections are read
// through a socketReadSize buffer; nil, for the defaults as they are, if http.DefaultTransport
// is not an *http.Transport.
var bufferedClient = sync.OnceValue(func() *http.Client {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil
	}
	t := base.Clone()
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, socketReadSize)}, nil
	}
	return &http.Client{Transport: t}
})

// bufferedConn is a net.Conn read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
