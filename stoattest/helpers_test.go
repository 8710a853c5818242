package stoattest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
	"google.golang.org/protobuf/proto"
)

// testCtx bounds one test's waits.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// frame is one message a client read, or the error that ended its connection.
type frame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// client is a Bonfire client for tests: a coder/websocket connection whose frames a goroutine
// reads into a channel, so that tests can wait with deadlines and check for absence without
// closing the connection (coder/websocket closes it when a Read's context ends).
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	format bonfire.Format
	frames chan frame
	done   chan struct{}
}

type dialOpts struct {
	format  bonfire.Format
	noToken bool   // authenticate with an Authenticate frame instead of the URL
	token   string // instead of the server's
	query   string // extra query string
}

// dial connects to the server's events URL.
func dial(t *testing.T, srv *stoattest.Server, o dialOpts) *client {
	t.Helper()
	q := url.Values{"version": {"1"}, "format": {o.format.String()}}
	if !o.noToken {
		tok := o.token
		if tok == "" {
			tok = srv.Token()
		}
		q.Set("token", tok)
	}
	u := srv.EventsURL() + "?" + q.Encode()
	if o.query != "" {
		u += "&" + o.query
	}
	ws, _, err := websocket.Dial(testCtx(t), u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &client{t: t, ws: ws, format: o.format, frames: make(chan frame, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := ws.Read(context.Background())
			c.frames <- frame{typ, data, err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ws.CloseNow()
		<-c.done
	})
	return c
}

// next returns the next frame; it fails the test on a read error or after the deadline.
func (c *client) next(ctx context.Context) frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		if f.err != nil {
			c.t.Fatalf("read: %v", f.err)
		}
		return f
	case <-ctx.Done():
		c.t.Fatalf("no frame: %v", ctx.Err())
	}
	return frame{}
}

// nextEvents decodes the next frame into its events (a Bulk gives several).
func (c *client) nextEvents(ctx context.Context) []stoatpb.Event {
	c.t.Helper()
	f := c.next(ctx)
	want := websocket.MessageText
	if c.format == bonfire.Msgpack {
		want = websocket.MessageBinary
	}
	if f.typ != want {
		c.t.Fatalf("frame type %v, want %v for %v", f.typ, want, c.format)
	}
	evs, err := bonfire.NewDecoder(c.format).Decode(f.data, nil)
	if err != nil {
		c.t.Fatalf("decode %q: %v", f.data, err)
	}
	return evs
}

// nextEvent returns the next frame's single event.
func (c *client) nextEvent(ctx context.Context) stoatpb.Event {
	c.t.Helper()
	evs := c.nextEvents(ctx)
	if len(evs) != 1 {
		c.t.Fatalf("got %d events in a frame, want 1", len(evs))
	}
	return evs[0]
}

// expect returns the next event, which must be a T.
func expect[T stoatpb.Event](ctx context.Context, c *client) T {
	c.t.Helper()
	ev := c.nextEvent(ctx)
	got, ok := ev.(T)
	if !ok {
		var want T
		c.t.Fatalf("got %T %v, want %T", ev, ev, want)
	}
	return got
}

// handshake reads Authenticated and Ready.
func (c *client) handshake(ctx context.Context) *stoatpb.ReadyEvent {
	c.t.Helper()
	expect[*stoatpb.AuthenticatedEvent](ctx, c)
	return expect[*stoatpb.ReadyEvent](ctx, c)
}

// send writes a client frame in the connection's format.
func (c *client) send(ctx context.Context, msg proto.Message) {
	c.t.Helper()
	b, err := bonfire.AppendFrame(nil, c.format, msg)
	if err != nil {
		c.t.Fatalf("encode %T: %v", msg, err)
	}
	c.sendRaw(ctx, b)
}

// sendRaw writes bytes as a frame of the connection's frame type.
func (c *client) sendRaw(ctx context.Context, b []byte) {
	c.t.Helper()
	typ := websocket.MessageText
	if c.format == bonfire.Msgpack {
		typ = websocket.MessageBinary
	}
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// ended waits for the connection to end and returns the read error.
func (c *client) ended(ctx context.Context) error {
	c.t.Helper()
	for {
		select {
		case f := <-c.frames:
			if f.err != nil {
				return f.err
			}
			c.t.Fatalf("got a frame %q, want the connection to end", f.data)
		case <-ctx.Done():
			c.t.Fatalf("the connection did not end: %v", ctx.Err())
		}
	}
}

// quiet fails if a frame is already waiting.
func (c *client) quiet() {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %q (err %v)", f.data, f.err)
	default:
	}
}

// dropped asserts that err is an abnormal end: no close frame was received.
func dropped(t *testing.T, err error) {
	t.Helper()
	if code := websocket.CloseStatus(err); code != -1 {
		t.Fatalf("connection ended with close frame %v (%v), want a dropped connection", code, err)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		t.Fatalf("got a close frame: %v", ce)
	}
}

// ping sends a Ping with a number and returns once the server has read it.
func ping(ctx context.Context, t *testing.T, srv *stoattest.Server, c *client, n uint64) {
	t.Helper()
	before := srv.Stats().Received["Ping"]
	c.send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: n}})
	if err := srv.WaitFor(ctx, func(s stoattest.Stats) bool { return s.Received["Ping"] > before }); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------------------------
// REST

type restResp struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body as JSON into a generic value.
func (r restResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends a REST request with the server's bot token (unless headers say otherwise).
func do(t *testing.T, srv *stoattest.Server, method, path string, body any, headers ...string) restResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Bot-Token", srv.Token())
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return restResp{res.StatusCode, res.Header, b}
}

// wantStatus fails unless the response has the status (and, for errors, the error type).
func wantStatus(t *testing.T, r restResp, status int, errType ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if len(errType) > 0 {
		if got := r.json(t)["type"]; got != errType[0] {
			t.Fatalf("error type %v, want %s; body %s", got, errType[0], r.body)
		}
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// channelID returns the id of a SmallWorld channel by name.
func channelID(t *testing.T, srv *stoattest.Server, name string) string {
	t.Helper()
	ch := srv.World().ChannelByName(name)
	if ch == nil {
		t.Fatalf("no channel %q", name)
	}
	return ch.Id
}

func userID(t *testing.T, srv *stoattest.Server, name string) string {
	t.Helper()
	u := srv.World().UserByName(name)
	if u == nil {
		t.Fatalf("no user %q", name)
	}
	return u.Id
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
