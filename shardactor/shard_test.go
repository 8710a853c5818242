package shardactor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

var formats = []bonfire.Format{bonfire.JSON, bonfire.Msgpack}

// TestStream: connect → Authenticated → Ready, then pushed events (and a Bulk) reach the sink in
// wire order, each stamped with the shard's name, in both formats.
func TestStream(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			rec := newRecorder()
			cfg := steady(testConfig(srv, f, logger))
			sh := spawn(t, newSystem(t, logger), cfg, rec)

			evs := rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
			evs = withoutPongs(evs)
			if got := names(evs); got != "BeforeConnectEvent AfterConnectEvent AuthenticatedEvent ReadyEvent" {
				t.Fatalf("handshake events = %s", got)
			}
			ac := evs[1].(*stoatpb.AfterConnectEvent)
			if !strings.Contains(ac.GetUrl(), "token=REDACTED") || !strings.Contains(ac.GetUrl(), "format="+f.String()) ||
				strings.Contains(ac.GetUrl(), srv.Token()) {
				t.Errorf("AfterConnect URL = %q", ac.GetUrl())
			}
			// The actor learns of Ready from the reader, concurrently with the sink.
			eventually(t, "state ready", func() bool { return sh.Stats().State == shardactor.StateReady })

			const n = 300
			if err := srv.Push(typing(0, n)...); err != nil {
				t.Fatal(err)
			}
			if err := srv.PushBulk(typing(n, 3)...); err != nil {
				t.Fatal(err)
			}
			evs = rec.wait(t, "pushed events", func(evs []stoatpb.Event) bool {
				return count[*stoatpb.ChannelStartTypingEvent](evs) == n+3
			})
			i := 0
			for _, ev := range evs {
				if ev.GetShard() != "shard-test" {
					t.Fatalf("%T has shard %q", ev, ev.GetShard())
				}
				if e, ok := ev.(*stoatpb.ChannelStartTypingEvent); ok {
					if e.GetUserId() != userID(i) {
						t.Fatalf("typing event %d has user %s, want %s (out of order)", i, e.GetUserId(), userID(i))
					}
					i++
				}
			}
			// Events counts an event once the sink has returned.
			eventually(t, "the events counted", func() bool { return sh.Stats().Events >= n+7 })
			st := sh.Stats()
			if st.Connects != 1 || st.Readies != 1 || st.Frames < n+3 || st.Bytes == 0 || st.DecodeErrors != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestReconnect: a connection cut without a close frame, or closed with one, is replaced after a
// backoff by a new one that gets a fresh Ready; the stream resumes in order.
func TestReconnect(t *testing.T) {
	drops := map[string]func(*stoattest.Server){
		"cut":   (*stoattest.Server).Cut,
		"close": func(s *stoattest.Server) { s.CloseAll(websocket.StatusGoingAway, "restarting") },
	}
	for name, drop := range drops {
		for _, f := range formats {
			t.Run(name+"/"+f.String(), func(t *testing.T) {
				srv := stoattest.NewServer(t)
				logger, logs := newLogger(t)
				rec := newRecorder()
				sh := spawn(t, newSystem(t, logger), steady(testConfig(srv, f, logger)), rec)
				rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })

				drop(srv)
				evs := rec.wait(t, "a second Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 2 })
				evs = withoutPongs(evs)
				tail := names(evs[len(evs)-4:])
				if tail != "BeforeConnectEvent AfterConnectEvent AuthenticatedEvent ReadyEvent" {
					t.Errorf("reconnect events = %s", tail)
				}
				eventually(t, "stats of the second Ready", func() bool { return sh.Stats().Readies == 2 })
				st := sh.Stats()
				if st.Reconnects != 1 || st.Connects != 2 {
					t.Errorf("stats = %+v", st)
				}
				// A Ping written as the connection goes down may report the loss first.
				want := map[string]string{"cut": "dropped", "close": "closed the connection"}[name]
				if !strings.Contains(st.LastError, want) && !strings.Contains(st.LastError, "write") {
					t.Errorf("LastError = %q, want it to mention %q", st.LastError, want)
				}
				if !regexp.MustCompile(`connection lost; reconnecting.* backoff=\d`).MatchString(logs.String()) {
					t.Errorf("no reconnect log line with its backoff:\n%s", logs)
				}

				if err := srv.Push(typing(0, 5)...); err != nil {
					t.Fatal(err)
				}
				rec.wait(t, "events after the reconnect", func(evs []stoatpb.Event) bool {
					return count[*stoatpb.ChannelStartTypingEvent](evs) == 5
				})
			})
		}
	}
}

// TestMissedPong: Pings that the server leaves unanswered, or answers too late, make the shard
// replace the connection.
func TestMissedPong(t *testing.T) {
	cases := map[string]struct{ break_, heal func(*stoattest.Server) }{
		"dropped": {
			func(s *stoattest.Server) { s.DropPongs(true) },
			func(s *stoattest.Server) { s.DropPongs(false) },
		},
		"delayed": {
			func(s *stoattest.Server) { s.DelayPongs(time.Second) },
			func(s *stoattest.Server) { s.DelayPongs(0) },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			rec := newRecorder()
			sh := spawn(t, newSystem(t, logger), testConfig(srv, bonfire.JSON, logger), rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
			eventually(t, "a measured latency", func() bool { return sh.Stats().Latency > 0 })

			tc.break_(srv)
			eventually(t, "a missed Pong", func() bool { return sh.Stats().PongsMissed >= 1 })
			tc.heal(srv)
			rec.wait(t, "a Ready on a new connection", func(evs []stoatpb.Event) bool {
				return count[*stoatpb.ReadyEvent](evs) >= 2
			})
			if st := sh.Stats(); !strings.Contains(st.LastError, "no Pong") || st.Reconnects < 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestBlockedSinkIsNotAMissedPong: while the sink holds the reader (backpressure), the Pong queued
// behind the held event cannot be read; that time does not count against PongTimeout.
func TestBlockedSinkIsNotAMissedPong(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	rec := newRecorder()
	held, release := make(chan struct{}), make(chan struct{})
	rec.hook = func(ctx context.Context, ev stoatpb.Event) error {
		if e, ok := ev.(*stoatpb.ChannelStartTypingEvent); ok && e.GetUserId() == "hold" {
			close(held)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	cfg := testConfig(srv, bonfire.JSON, logger)
	cfg.PongTimeout = 300 * time.Millisecond // short, with some headroom for a loaded machine
	sh := spawn(t, newSystem(t, logger), cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	eventually(t, "a measured latency", func() bool { return sh.Stats().Latency > 0 })

	if err := srv.Push(&stoatpb.ChannelStartTypingEvent{ChannelId: "c", UserId: "hold"}); err != nil {
		t.Fatal(err)
	}
	<-held
	// The stimulus is time itself: hold the sink for several PongTimeouts, with Pings due.
	time.Sleep(4 * cfg.PongTimeout)
	close(release)

	before := sh.Stats().PingsSent
	eventually(t, "the heartbeat to go on", func() bool { return sh.Stats().PingsSent >= before+3 })
	if st := sh.Stats(); st.PongsMissed != 0 || st.Reconnects != 0 || st.Readies != 1 {
		t.Errorf("a blocked sink cost the connection: %+v", st)
	}
}

// TestInvalidSession: a refused token ends the shard with *AuthError after the Error event, and is
// not retried.
func TestInvalidSession(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			srv.RejectTokens(true)
			logger, _ := newLogger(t)
			rec := newRecorder()
			sh := spawn(t, newSystem(t, logger), testConfig(srv, f, logger), rec)

			err := waitDone(t, sh)
			var ae *shardactor.AuthError
			if !errors.As(err, &ae) || ae.Reason != "InvalidSession" {
				t.Fatalf("Err = %v, want *AuthError InvalidSession", err)
			}
			evs := rec.events()
			if e, ok := evs[len(evs)-1].(*stoatpb.ErrorEvent); !ok || e.GetData().GetType() != "InvalidSession" {
				t.Errorf("last event = %s, want the ErrorEvent", names(evs))
			}
			if st := sh.Stats(); st.Reconnects != 0 || st.State != shardactor.StateStopped {
				t.Errorf("stats = %+v", st)
			}
			if st := srv.Stats(); st.Accepted != 1 || st.AuthFailures != 1 {
				t.Errorf("server saw %d connections, %d auth failures; want 1, 1", st.Accepted, st.AuthFailures)
			}
		})
	}
}

// TestLegacyInvalidSession: the legacy {"type":"Error","error":"InvalidSession"} shape is fatal too.
func TestLegacyInvalidSession(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)

	rec := newRecorder()
	sh := spawn(t, newSystem(t, logger), steady(testConfig(srv, bonfire.JSON, logger)), rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	srv.PushRaw(websocket.MessageText, []byte(`{"type":"Error","error":"InvalidSession"}`))
	var ae *shardactor.AuthError
	if err := waitDone(t, sh); !errors.As(err, &ae) || ae.Reason != "InvalidSession" {
		t.Fatalf("Err = %v, want *AuthError InvalidSession", err)
	}
}

// TestLogout: Logout is delivered, then the shard ends with ErrLoggedOut and does not reconnect.
func TestLogout(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			rec := newRecorder()
			cfg := testConfig(srv, f, logger)
			// No Ping in flight: the server drops the socket right after Logout, and a Ping it has
			// not read yet turns that into a TCP reset, which may discard the Logout frame.
			cfg.PingInterval = time.Hour
			sh := spawn(t, newSystem(t, logger), cfg, rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })

			srv.Logout()
			if err := waitDone(t, sh); !errors.Is(err, shardactor.ErrLoggedOut) {
				t.Fatalf("Err = %v, want ErrLoggedOut", err)
			}
			evs := rec.events()
			if _, ok := evs[len(evs)-1].(*stoatpb.LogoutEvent); !ok {
				t.Errorf("last event = %T, want LogoutEvent (%s)", evs[len(evs)-1], names(evs))
			}
			if st := sh.Stats(); st.Reconnects != 0 {
				t.Errorf("stats = %+v", st)
			}
			if st := srv.Stats(); st.Accepted != 1 {
				t.Errorf("server accepted %d connections, want 1", st.Accepted)
			}
		})
	}
}

// TestMalformedFrame: each malformed frame is counted and (the first ones of a type) logged in
// full, without its bytes; an unknown type arrives as UnknownEvent; the stream goes on.
func TestMalformedFrame(t *testing.T) {
	cases := []struct {
		f   bonfire.Format
		typ websocket.MessageType
		bad []byte
	}{
		{bonfire.JSON, websocket.MessageText, []byte(`{"type":"Message","_id":"SECRETBYTES","channel":`)},
		// msgpack {"type":"Message","_id":"SECRETBYTES", "channel": <missing>}
		{bonfire.Msgpack, websocket.MessageBinary, append([]byte{0x83, 0xa4}, "type\xa7Message\xa3_id\xabSECRETBYTES\xa7channel"...)},
	}
	for _, tc := range cases {
		t.Run(tc.f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, logs := newLogger(t)
			rec := newRecorder()
			cfg := steady(testConfig(srv, tc.f, logger))
			sh := spawn(t, newSystem(t, logger), cfg, rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })

			unknown, err := bonfire.AppendFrame(nil, tc.f, &stoatpb.ChannelStartTypingEvent{ChannelId: "c", UserId: "u"})
			if err != nil {
				t.Fatal(err)
			}
			unknown = []byte(strings.Replace(string(unknown), "ChannelStartTyping", "SomethingNewTyping", 1)) // same length
			srv.PushRaw(tc.typ, tc.bad)
			srv.PushRaw(tc.typ, tc.bad)
			srv.PushRaw(tc.typ, unknown)
			if err := srv.Push(typing(0, 1)...); err != nil {
				t.Fatal(err)
			}
			evs := withoutPongs(rec.wait(t, "the event after the bad frames", func(evs []stoatpb.Event) bool {
				return count[*stoatpb.ChannelStartTypingEvent](evs) == 1
			}))
			u, ok := evs[len(evs)-2].(*stoatpb.UnknownEvent)
			if !ok || u.GetType() != "SomethingNewTyping" {
				t.Errorf("events = %s, want UnknownEvent SomethingNewTyping before the typing event", names(evs))
			}
			st := sh.Stats()
			if st.DecodeErrors != 2 || st.Reconnects != 0 {
				t.Errorf("stats = %+v", st)
			}
			out := logs.String()
			if n := strings.Count(out, "malformed frame"); n != 2 {
				t.Errorf("%d malformed-frame log lines, want 2:\n%s", n, out)
			}
			if !regexp.MustCompile(`malformed frame.*shard=shard-test.*type=Message.*offset=\d+`).MatchString(out) {
				t.Errorf("malformed-frame log line lacks shard, type or offset:\n%s", out)
			}
			if strings.Contains(out, "SECRETBYTES") {
				t.Errorf("the log holds the frame's bytes:\n%s", out)
			}
		})
	}
}

// TestTokenNeverLeaks drives a shard through connects, a cut, a malformed frame, a handshake
// refused at the network level and an auth failure, and searches every log line (shard and
// protoactor, at debug level), error and stats string for the token, raw or URL-escaped.
func TestTokenNeverLeaks(t *testing.T) {
	w := stoattest.SmallWorld(1)
	w.Token = "s3cr3t+T0k/en=="
	srv := stoattest.NewServer(t, stoattest.WithWorld(w))
	logger, logs := newLogger(t)
	sys := newSystem(t, logger)
	secrets := []string{w.Token, url.QueryEscape(w.Token)}
	check := func(what, s string) {
		t.Helper()
		for _, x := range secrets {
			if strings.Contains(s, x) {
				t.Errorf("%s holds the token: %s", what, s)
			}
		}
	}

	rec := newRecorder()
	var recording bytes.Buffer // written by the reader only, read once the shard is Done
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	cfg.Record = &recording
	sh := spawn(t, sys, cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	srv.PushRaw(websocket.MessageText, []byte(`{"type":"Message","_id":`))
	srv.Cut()
	rec.wait(t, "a second Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 2 })
	srv.RejectTokens(true)
	srv.Cut()
	err := waitDone(t, sh)
	var ae *shardactor.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Err = %v, want *AuthError", err)
	}
	check("Err", fmt.Sprintf("%v %+v %#v", err, err, err))
	check("Stats", fmt.Sprintf("%+v", sh.Stats()))
	check("the recording", recording.String())
	if !strings.Contains(recording.String(), `"InvalidSession"`) {
		t.Errorf("the recording lacks the last connection's frames; is the check blind?\n%s", recording.String())
	}
	for _, ev := range rec.events() {
		if ac, ok := ev.(*stoatpb.AfterConnectEvent); ok {
			check("AfterConnectEvent", ac.GetUrl())
		}
	}

	// Dial errors embed the URL: a refused TCP connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg = testConfig(srv, bonfire.JSON, logger)
	cfg.Name, cfg.URL = "shard-refused", "ws://"+addr+"/events?ready=users"
	refused := spawn(t, sys, cfg, newRecorder())
	eventually(t, "two failed reconnects", func() bool { return refused.Stats().Reconnects >= 2 })
	st := refused.Stats()
	check("Stats of the refused shard", fmt.Sprintf("%+v", st))
	if !strings.Contains(st.LastError, "token=REDACTED") || !strings.Contains(st.LastError, "ready=users") {
		t.Errorf("LastError = %q, want the redacted URL", st.LastError)
	}
	refused.Stop()
	if err := waitDone(t, refused); !errors.Is(err, shardactor.ErrStopped) {
		t.Errorf("Err after Stop = %v, want ErrStopped", err)
	}

	out := logs.String()
	check("the logs", out)
	if !strings.Contains(out, "token=REDACTED") {
		t.Errorf("the logs never show the redacted URL; is the check blind?\n%s", out)
	}
}

// TestHandshakeStatus: a handshake refused with 401/403 ends the shard with *AuthError, another
// 4xx with *HandshakeError, both at once; a 5xx is retried with backoff.
func TestHandshakeStatus(t *testing.T) {
	for _, status := range []int{401, 403, 404, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, "no", status)
			}))
			t.Cleanup(ts.Close)
			logger, logs := newLogger(t)
			cfg := shardactor.Config{
				URL:     "ws://" + ts.Listener.Addr().String() + "/",
				Token:   "handshake-token",
				Backoff: shardactor.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond},
				Logger:  logger,
			}
			sh := spawn(t, newSystem(t, logger), cfg, newRecorder())

			if status == 503 {
				eventually(t, "retries", func() bool { return hits.Load() >= 3 })
				if st := sh.Stats(); !strings.Contains(st.LastError, "503") {
					t.Errorf("LastError = %q", st.LastError)
				}
				sh.Stop()
				if err := waitDone(t, sh); !errors.Is(err, shardactor.ErrStopped) {
					t.Errorf("Err = %v, want ErrStopped", err)
				}
				return
			}
			err := waitDone(t, sh)
			var ae *shardactor.AuthError
			var he *shardactor.HandshakeError
			switch {
			case status == 404 && errors.As(err, &he) && he.StatusCode == 404:
				if strings.Contains(he.Error(), "handshake-token") || !strings.Contains(he.URL, "token=REDACTED") {
					t.Errorf("HandshakeError = %v", he)
				}
			case status != 404 && errors.As(err, &ae) && ae.StatusCode == status:
			default:
				t.Fatalf("Err = %v", err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d handshakes, want 1 (no retry)", n)
			}
			if strings.Contains(logs.String(), "handshake-token") {
				t.Errorf("token in logs:\n%s", logs)
			}
		})
	}
}

// TestHandshakeTimeouts: no Authenticated within HandshakeTimeout, or no Ready within
// ReadyTimeout, replaces the connection.
func TestHandshakeTimeouts(t *testing.T) {
	t.Run("Authenticated", func(t *testing.T) {
		srv := stoattest.NewServer(t)
		release := srv.Stall(0)
		logger, _ := newLogger(t)
		cfg := testConfig(srv, bonfire.JSON, logger)
		cfg.HandshakeTimeout = 100 * time.Millisecond
		rec := newRecorder()
		sh := spawn(t, newSystem(t, logger), cfg, rec)
		eventually(t, "a handshake timeout", func() bool { return strings.Contains(sh.Stats().LastError, "no Authenticated") })
		release()
		rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	})
	t.Run("Ready", func(t *testing.T) {
		srv := stoattest.NewServer(t)
		srv.DelayReady(time.Hour)
		logger, _ := newLogger(t)
		cfg := testConfig(srv, bonfire.JSON, logger)
		cfg.ReadyTimeout = 100 * time.Millisecond
		rec := newRecorder()
		sh := spawn(t, newSystem(t, logger), cfg, rec)
		eventually(t, "a Ready timeout", func() bool { return strings.Contains(sh.Stats().LastError, "no Ready") })
		srv.DelayReady(0)
		rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	})
}

// TestSend: client frames written through the actor reach the server, which understands them.
func TestSend(t *testing.T) {
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			rec := newRecorder()
			sh := spawn(t, newSystem(t, logger), steady(testConfig(srv, f, logger)), rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
			ctx := ctxT(t)

			ch := srv.World().ChannelByName("general").GetId()
			if err := sh.Send(ctx, &stoatpb.BeginTypingFrame{Channel: ch}); err != nil {
				t.Fatal(err)
			}
			if err := sh.Send(ctx, &stoatpb.EndTypingFrame{Channel: ch}); err != nil {
				t.Fatal(err)
			}
			if err := sh.Send(ctx, &stoatpb.PingFrame{Data: &stoatpb.PingData{Number: 1}}); !errors.Is(err, shardactor.ErrReservedFrame) {
				t.Errorf("Send(Ping) = %v, want ErrReservedFrame", err)
			}
			err := srv.WaitFor(ctx, func(st stoattest.Stats) bool {
				return st.Received["BeginTyping"] == 1 && st.Received["EndTyping"] == 1 && st.Received["Ping"] >= 1
			})
			if err != nil {
				t.Fatalf("server counts %v: %v", srv.Stats().Received, err)
			}
			if st := srv.Stats(); st.Undecodable != 0 {
				t.Errorf("the server could not decode %d of our frames", st.Undecodable)
			}
			sh.Stop()
			waitDone(t, sh)
			if err := sh.Send(ctx, &stoatpb.BeginTypingFrame{Channel: ch}); !errors.Is(err, shardactor.ErrNotReady) {
				t.Errorf("Send after Stop = %v, want ErrNotReady", err)
			}
		})
	}
}

// TestSendBeforeReady: frames are refused, not queued, while the shard has no Ready connection.
func TestSendBeforeReady(t *testing.T) {
	srv := stoattest.NewServer(t)
	srv.DelayReady(time.Hour)
	logger, _ := newLogger(t)
	sh := spawn(t, newSystem(t, logger), testConfig(srv, bonfire.JSON, logger), newRecorder())
	eventually(t, "syncing", func() bool { return sh.Stats().State == shardactor.StateSyncing })
	if err := sh.Send(ctxT(t), &stoatpb.BeginTypingFrame{Channel: "c"}); !errors.Is(err, shardactor.ErrNotReady) {
		t.Errorf("Send while syncing = %v, want ErrNotReady", err)
	}
}

// TestContextCancel: cancelling Spawn's ctx ends the shard with ctx's error and closes the socket.
func TestContextCancel(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh, err := shardactor.Spawn(ctx, newSystem(t, logger), testConfig(srv, bonfire.JSON, logger), rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	cancel()
	if err := waitDone(t, sh); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", err)
	}
	if err := srv.WaitFor(ctxT(t), func(st stoattest.Stats) bool { return st.Live == 0 }); err != nil {
		t.Fatalf("the server still has live connections: %v", err)
	}
	n := len(rec.events())
	if st := sh.Stats(); st.State != shardactor.StateStopped {
		t.Errorf("state = %v", st.State)
	}
	if m := len(rec.events()); m != n {
		t.Errorf("the sink was called after Done")
	}
}

// TestSinkError: an error from the sink ends the shard with that error; a blocked sink is released
// by Stop.
func TestSinkError(t *testing.T) {
	logger, _ := newLogger(t)
	srv := stoattest.NewServer(t, stoattest.WithLogger(logger.With("side", "server")))
	boom := errors.New("boom")
	rec := newRecorder()
	rec.hook = func(ctx context.Context, ev stoatpb.Event) error {
		if _, ok := ev.(*stoatpb.ChannelStartTypingEvent); ok {
			return boom
		}
		return nil
	}
	sh := spawn(t, newSystem(t, logger), steady(testConfig(srv, bonfire.JSON, logger)), rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	if err := srv.Push(typing(0, 1)...); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, sh); !errors.Is(err, boom) {
		t.Fatalf("Err = %v, want boom", err)
	}

	// A sink blocked forever is released by Stop through its context.
	rec2 := newRecorder()
	rec2.hook = func(ctx context.Context, ev stoatpb.Event) error {
		if _, ok := ev.(*stoatpb.ReadyEvent); ok {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	cfg := testConfig(srv, bonfire.JSON, logger)
	cfg.Name = "shard-blocked"
	sh2 := spawn(t, newSystem(t, logger), cfg, rec2)
	eventually(t, "Ready read", func() bool { return sh2.Stats().Readies == 1 })
	sh2.Stop()
	if err := waitDone(t, sh2); !errors.Is(err, shardactor.ErrStopped) {
		t.Fatalf("Err = %v, want ErrStopped", err)
	}
}

// TestBackoffSequence: with a fixed jitter, the delays the shard waits grow twofold per failed
// connection and stop at Max; a connection that stays Ready for ResetAfter resets them.
func TestBackoffSequence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset time.Duration
		want  string
	}{
		{"grows", time.Hour, "5ms 10ms 20ms 40ms 50ms 50ms"},
		{"resets", time.Nanosecond, "5ms 5ms 5ms 5ms 5ms 5ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, logs := newLogger(t)
			cfg := steady(testConfig(srv, bonfire.JSON, logger))
			cfg.Backoff.ResetAfter = tc.reset
			cfg.Jitter = func() float64 { return 0.5 }
			rec := newRecorder()
			spawn(t, newSystem(t, logger), cfg, rec)
			for i := 1; i <= 6; i++ {
				rec.wait(t, fmt.Sprintf("Ready %d", i), func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == i })
				srv.Cut()
			}
			rec.wait(t, "Ready 7", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 7 })
			var got []string
			for _, m := range regexp.MustCompile(`reconnecting.* backoff=(\S+)`).FindAllStringSubmatch(logs.String(), -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("backoffs = %v, want %s", got, tc.want)
			}
		})
	}
}

// TestBackoffDelay: full jitter, u·min(Max, Base·2ⁿ), capped and overflow-free.
func TestBackoffDelay(t *testing.T) {
	b := shardactor.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	ms := time.Millisecond
	for _, tc := range []struct {
		n    int
		u    float64
		want time.Duration
	}{
		{0, 0.5, 5 * ms}, {1, 0.5, 10 * ms}, {2, 0.5, 20 * ms}, {3, 0.5, 40 * ms},
		{4, 0.5, 50 * ms}, {5, 0.5, 50 * ms}, {1000, 0.5, 50 * ms}, {1 << 30, 0.5, 50 * ms},
		{0, 0, 0}, {10, 0, 0},
		{0, 0.999, 9990 * time.Microsecond}, {3, 0.999, 79920 * time.Microsecond}, {60, 0.999, 99900 * time.Microsecond},
		{0, 1, 10 * ms}, {70, 1, 100 * ms}, // u is documented in [0,1); 1 is clamped to the ceiling
	} {
		if got := b.Delay(tc.n, tc.u); got != tc.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tc.n, tc.u, got, tc.want)
		}
	}
	huge := shardactor.Backoff{Base: time.Duration(1) << 61, Max: time.Duration(1<<63 - 1)}
	if got := huge.Delay(10, 0.5); got <= 0 {
		t.Errorf("Delay overflowed: %v", got)
	}
}

// TestConfigErrors: invalid configs are refused without echoing the token.
func TestConfigErrors(t *testing.T) {
	logger, _ := newLogger(t)
	sys := newSystem(t, logger)
	sink := newRecorder().sink
	for _, cfg := range []shardactor.Config{
		{URL: "ws://127.0.0.1:1/"},
		{URL: "ftp://127.0.0.1:1/", Token: "tok-en"},
		{URL: "ws:///nohost", Token: "tok-en"},
		{URL: "ws://127.0.0.1:1/?token=tok-en", Token: "tok-en"},
		{URL: "ws://127.0.0.1:1/", Token: "tok-en", WireFormat: 9},
	} {
		_, err := shardactor.Spawn(context.Background(), sys, cfg, sink)
		if err == nil {
			t.Errorf("Spawn(%+v) succeeded", cfg.LogValue())
			continue
		}
		if strings.Contains(err.Error(), "tok-en") {
			t.Errorf("error holds the token: %v", err)
		}
	}
	if _, err := shardactor.Spawn(context.Background(), sys, shardactor.Config{URL: "ws://127.0.0.1:1/", Token: "t"}, nil); err == nil {
		t.Error("Spawn with a nil sink succeeded")
	}
}

// TestBlockedSinkDuringHandshake: a sink that holds AfterConnect or Authenticated (backpressure
// left over from the last connection) does not make the handshake time out.
func TestBlockedSinkDuringHandshake(t *testing.T) {
	for _, hold := range []string{"AfterConnectEvent", "AuthenticatedEvent"} {
		t.Run(hold, func(t *testing.T) {
			srv := stoattest.NewServer(t)
			logger, _ := newLogger(t)
			cfg := testConfig(srv, bonfire.JSON, logger)
			cfg.HandshakeTimeout = 100 * time.Millisecond
			cfg.ReadyTimeout = 100 * time.Millisecond
			rec := newRecorder()
			rec.hook = func(ctx context.Context, ev stoatpb.Event) error {
				if ev.EventType().String() == hold {
					// The stimulus is time itself: hold the reader for several timeouts.
					select {
					case <-time.After(4 * cfg.HandshakeTimeout):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}
			sh := spawn(t, newSystem(t, logger), cfg, rec)
			rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
			if st := sh.Stats(); st.Reconnects != 0 {
				t.Errorf("the held sink cost a reconnect: %+v", st)
			}
		})
	}
}

// TestSinkPanic: a panicking sink ends the shard with an error instead of crashing the process.
func TestSinkPanic(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, logs := newLogger(t)
	rec := newRecorder()
	rec.hook = func(ctx context.Context, ev stoatpb.Event) error {
		if _, ok := ev.(*stoatpb.ReadyEvent); ok {
			panic("sink bug")
		}
		return nil
	}
	sh := spawn(t, newSystem(t, logger), testConfig(srv, bonfire.JSON, logger), rec)
	if err := waitDone(t, sh); err == nil || !strings.Contains(err.Error(), "sink bug") {
		t.Fatalf("Err = %v, want the panic", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the panic was not logged at ERROR:\n%s", logs)
	}
}

// TestStopClosesNormally: Stop closes the socket with a close frame carrying StatusNormalClosure.
// stoattest does not report the close status a client sent, so a minimal Bonfire endpoint stands
// in: Authenticated, Ready, then read until the client closes.
func TestStopClosesNormally(t *testing.T) {
	status := make(chan websocket.StatusCode, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, ev := range []stoatpb.Event{&stoatpb.AuthenticatedEvent{}, &stoatpb.ReadyEvent{}} {
			b, _ := bonfire.AppendFrame(nil, bonfire.JSON, ev)
			if err := c.Write(r.Context(), websocket.MessageText, b); err != nil {
				return
			}
		}
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				status <- websocket.CloseStatus(err)
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	logger, _ := newLogger(t)
	rec := newRecorder()
	cfg := shardactor.Config{URL: "ws://" + ts.Listener.Addr().String() + "/", Token: "t", Logger: logger}
	sh := spawn(t, newSystem(t, logger), cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	sh.Stop()
	if err := waitDone(t, sh); !errors.Is(err, shardactor.ErrStopped) {
		t.Fatalf("Err = %v", err)
	}
	select {
	case got := <-status:
		if got != websocket.StatusNormalClosure {
			t.Errorf("close status = %v, want StatusNormalClosure", got)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the server saw no close")
	}
}

// TestSkip: skipped types never reach the sink, but the frames the shard needs are never skipped.
func TestSkip(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.Msgpack, logger))
	cfg.Skip = func(typ string) bool { return typ != "ChannelStopTyping" } // everything else
	rec := newRecorder()
	sh := spawn(t, newSystem(t, logger), cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	if err := srv.Push(typing(0, 3)...); err != nil {
		t.Fatal(err)
	}
	if err := srv.PushBulk(append(typing(3, 2), &stoatpb.ChannelStopTypingEvent{ChannelId: "c", UserId: "u"})...); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "the stop-typing event", func(evs []stoatpb.Event) bool {
		return count[*stoatpb.ChannelStopTypingEvent](evs) == 1
	})
	if n := count[*stoatpb.ChannelStartTypingEvent](evs); n != 0 {
		t.Errorf("%d skipped events reached the sink", n)
	}
	eventually(t, "heartbeat", func() bool { return sh.Stats().Latency > 0 })
}
