package ermine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// discoveryBot is a bot whose API root is apiURL, with a fast backoff whose jitter is counted.
type discoveryBot struct {
	bot     *ermine.Bot
	logs    *testlog.Buffer
	ready   chan struct{}
	err     chan error
	stop    context.CancelFunc
	jitters atomic.Int64
}

// startDiscoveryBot runs a bot that discovers its events URL from apiURL; the bot is stopped
// when the test ends.
func startDiscoveryBot(t *testing.T, token, apiURL string) *discoveryBot {
	t.Helper()
	d := &discoveryBot{logs: &testlog.Buffer{}, ready: make(chan struct{}, 16), err: make(chan error, 1)}
	b, err := ermine.New(ermine.Config{
		Token:  token,
		APIURL: apiURL,
		Logger: slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Connection: ermine.Connection{
			Backoff: ermine.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, ResetAfter: time.Minute,
				Jitter: func() float64 { d.jitters.Add(1); return 0.5 }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.bot = b
	ermine.Handle(b, func(*ermine.Context, *stoatpb.ReadyEvent) error {
		d.ready <- struct{}{}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go func() { d.err <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.err:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		if strings.Contains(d.logs.String(), token) {
			t.Error("the token appears in the logs")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", d.logs)
		}
	})
	return d
}

// waitReady waits for Ready; Run must not end first.
func (d *discoveryBot) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-d.ready:
	case err := <-d.err:
		d.err <- err
		t.Fatalf("Run ended before Ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatalf("no Ready; stats %+v", d.bot.Stats().Shard)
	}
}

// waitStats polls the bot's connection counters until cond holds; Run must not end first.
func (d *discoveryBot) waitStats(t *testing.T, what string, cond func(shardactor.Stats) bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond(d.bot.Stats().Shard) {
		select {
		case err := <-d.err:
			d.err <- err
			t.Fatalf("Run ended while waiting for %s: %v", what, err)
		case <-deadline:
			t.Fatalf("timed out waiting for %s; stats %+v", what, d.bot.Stats().Shard)
		case <-tick.C:
		}
	}
}

// rootOf returns the JSON of an API root that names ws as its events URL.
func rootOf(ws string) string { return fmt.Sprintf(`{"revolt":"0.15.1","ws":%q,"app":"x"}`, ws) }

// TestDiscoveryRetriesAnOutage: an API root that answers 500 twice, then garbage, then JSON without
// "ws", then a good root does not end Run: each failed discovery goes through the shard's backoff
// (jitter, stats, logs) like a failed dial, with a clear error, and the bot connects. Discovery
// sends ermine's User-Agent and not the token.
func TestDiscoveryRetriesAnOutage(t *testing.T) {
	srv := stoattest.NewServer(t)
	var hits atomic.Int64
	var badUA, sawToken atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("User-Agent") != "ermine (https://github.com/ermine-rt/ermine, "+ermine.Version+")" {
			badUA.Store(true)
		}
		if r.Header.Get("X-Bot-Token") != "" || r.Header.Get("X-Session-Token") != "" {
			sawToken.Store(true)
		}
		w.Header().Set("Content-Type", "application/json")
		switch hits.Add(1) {
		case 1, 2:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"type":"InternalError"}`))
		case 3:
			_, _ = w.Write([]byte("<html>garbage"))
		case 4:
			_, _ = w.Write([]byte(`{"revolt":"0.15.1","app":"x"}`))
		default:
			_, _ = w.Write([]byte(rootOf(srv.EventsURL())))
		}
	}))
	t.Cleanup(api.Close)

	d := startDiscoveryBot(t, srv.Token(), api.URL)
	d.waitReady(t)
	st := d.bot.Stats().Shard
	if n := hits.Load(); n != 5 {
		t.Errorf("the API root was asked %d times, want 5", n)
	}
	if st.Reconnects != 4 || st.Connects != 1 || st.State != shardactor.StateReady {
		t.Errorf("stats = %+v, want 4 reconnects and 1 connect", st)
	}
	if n := d.jitters.Load(); n < 4 {
		t.Errorf("the backoff's jitter was drawn %d times, want ≥ 4", n)
	}
	if badUA.Load() {
		t.Error("discovery did not send ermine's User-Agent")
	}
	if sawToken.Load() {
		t.Error("discovery sent the token, which GET / does not need")
	}
	logs := d.logs.String()
	if n := strings.Count(logs, "reconnecting"); n != 4 {
		t.Errorf("%d reconnect warnings, want 4", n)
	}
	for _, want := range []string{"500", "decoding the response", `no events URL`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs do not explain a failed discovery with %q", want)
		}
	}
	if strings.Contains(logs, "<nil>") {
		t.Error("a discovery error ends in <nil>")
	}
}

// TestDiscoveryClosedPortThenOpened: while nothing listens on the API's port, the bot keeps
// retrying; once the API comes up, it connects.
func TestDiscoveryClosedPortThenOpened(t *testing.T) {
	srv := stoattest.NewServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	d := startDiscoveryBot(t, srv.Token(), "http://"+addr)
	d.waitStats(t, "failed discoveries", func(st shardactor.Stats) bool {
		return st.Reconnects >= 3 && st.State == shardactor.StateBackoff
	})
	if st := d.bot.Stats().Shard; !strings.Contains(st.LastError, "refused") {
		t.Errorf("LastError = %q, want the refused connection", st.LastError)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(rootOf(srv.EventsURL())))
	}))
	api.Listener.Close()
	api.Listener = ln
	api.Start()
	t.Cleanup(api.Close)
	d.waitReady(t)
}

// TestDiscoveryThenRefusedToken: a refused token still ends Run with *shardactor.AuthError.
func TestDiscoveryThenRefusedToken(t *testing.T) {
	srv := stoattest.NewServer(t)
	srv.RejectTokens(true)
	d := startDiscoveryBot(t, srv.Token(), srv.URL)
	select {
	case err := <-d.err:
		var ae *shardactor.AuthError
		if !errors.As(err, &ae) {
			t.Errorf("Run = %v, want *shardactor.AuthError", err)
		}
		d.err <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run kept going after the token was refused")
	}
}

// stopGracefully cancels Run's context and expects Run to return nil, promptly.
func (d *discoveryBot) stopGracefully(t *testing.T) {
	t.Helper()
	d.stop()
	select {
	case err := <-d.err:
		if err != nil {
			t.Errorf("Run = %v, want nil after a cancel", err)
		}
		d.err <- err
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return promptly after its context ended")
	}
}

// TestDiscoveryCancelled: cancelling Run's context while discovery is being retried returns nil,
// promptly.
func TestDiscoveryCancelled(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(api.Close)
	d := startDiscoveryBot(t, "tok-en", api.URL)
	d.waitStats(t, "failed discoveries", func(st shardactor.Stats) bool { return st.Reconnects >= 2 })
	d.stopGracefully(t)
}

// TestDiscoveryCancelledWhileTheRootHangs: a cancel ends a discovery request in flight.
func TestDiscoveryCancelledWhileTheRootHangs(t *testing.T) {
	hanging := make(chan struct{}, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hanging <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(api.Close)
	d := startDiscoveryBot(t, "tok-en", api.URL)
	select {
	case <-hanging:
	case err := <-d.err:
		t.Fatalf("Run ended before discovery: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no discovery request")
	}
	d.stopGracefully(t)
}
