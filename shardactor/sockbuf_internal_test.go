package shardactor

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/coder/websocket"
)

// TestDialClient: without an HTTP client of its own, a shard dials with the buffered client;
// one of its own is used as it is.
func TestDialClient(t *testing.T) {
	own := &http.Client{}
	for _, tc := range []struct {
		name string
		dial *websocket.DialOptions
		want *http.Client
	}{
		{"nil", nil, bufferedClient()},
		{"no client", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"bot"}}}, bufferedClient()},
		{"own client", &websocket.DialOptions{HTTPClient: own}, own},
	} {
		s, err := Config{Token: "t", URL: "ws://example.invalid/", Dial: tc.dial}.settings()
		if err != nil {
			t.Fatal(err)
		}
		if s.Dial.HTTPClient != tc.want {
			t.Errorf("%s: dialled with %p, want %p", tc.name, s.Dial.HTTPClient, tc.want)
		}
	}
	if bufferedClient() == nil {
		t.Fatal("no buffered client with the standard http.DefaultTransport")
	}
}

// TestBufferedConn: the buffered client's connections are buffered, and return the bytes in
// order, in reads of any size.
func TestBufferedConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, 3*socketReadSize+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(data)
	}()
	tr := bufferedClient().Transport.(*http.Transport)
	c, err := tr.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*bufferedConn); !ok {
		t.Fatalf("dialled a %T, want a *bufferedConn", c)
	}
	var got bytes.Buffer
	buf := make([]byte, 1000)
	for {
		n, err := c.Read(buf[:1+got.Len()%len(buf)])
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, not the %d written", got.Len(), len(data))
	}
}
