package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Discard measures the server's own ceiling: a client that does the WebSocket handshake by hand,
// then only reads frame headers and skips payloads, so almost all the time goes to the server and
// loopback. It reads the two handshake frames (Authenticated, Ready), then events data frames,
// and returns the events per second between the end of Ready and the last event.
func Discard(ctx context.Context, eventsURL string, events int) (float64, error) {
	u, err := url.Parse(eventsURL)
	if err != nil {
		return 0, fmt.Errorf("discard: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return 0, fmt.Errorf("discard: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	u.Scheme = "http"
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("discard: %w", err)
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "ZXJtaW5lLWJlbmNoLWtleQ==")
	if err := req.Write(conn); err != nil {
		return 0, fmt.Errorf("discard: sending the handshake: %w", err)
	}
	br := bufio.NewReaderSize(conn, 1<<20)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, fmt.Errorf("discard: reading the handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return 0, fmt.Errorf("discard: handshake answered %s", resp.Status)
	}
	var start time.Time
	for n := -2; n < events; {
		op, size, err := readHeader(br)
		if err != nil {
			return 0, fmt.Errorf("discard: after %d events: %w", max(n, 0), err)
		}
		if _, err := br.Discard(int(size)); err != nil {
			return 0, fmt.Errorf("discard: after %d events: %w", max(n, 0), err)
		}
		if op == 1 || op == 2 { // data frames; control frames are not events
			if n++; n == 0 {
				start = time.Now()
			}
		}
	}
	return float64(events) / time.Since(start).Seconds(), nil
}

// readHeader reads a server frame's header (unmasked, RFC 6455 §5.2).
func readHeader(r *bufio.Reader) (op byte, size uint64, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	op, size = h[0]&0x0f, uint64(h[1]&0x7f)
	var ext [8]byte
	switch size {
	case 126:
		if _, err := io.ReadFull(r, ext[:2]); err != nil {
			return 0, 0, err
		}
		size = uint64(binary.BigEndian.Uint16(ext[:2]))
	case 127:
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, 0, err
		}
		size = binary.BigEndian.Uint64(ext[:])
	}
	if size > 1<<31 {
		return 0, 0, fmt.Errorf("frame of %d bytes", size)
	}
	return op, size, nil
}
