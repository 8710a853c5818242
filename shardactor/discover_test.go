package shardactor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// discoverer is a Config.Discover whose answers the test sets: an error, or the URL.
type discoverer struct {
	calls atomic.Int64
	fail  atomic.Pointer[error]
	url   string
}

func (d *discoverer) discover(ctx context.Context) (string, error) {
	d.calls.Add(1)
	if err := d.fail.Load(); err != nil {
		return "", *err
	}
	return d.url, nil
}

func (d *discoverer) failWith(err error) {
	if err == nil {
		d.fail.Store(nil)
		return
	}
	d.fail.Store(&err)
}

// TestDiscover: without a URL, every attempt discovers it; a failed discovery goes through the
// backoff with its error (scrubbed of the token) in Stats and the logs; once a URL was found, a
// failed discovery falls back to it, so the shard reconnects while the API is down.
func TestDiscover(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, logs := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	d := &discoverer{url: srv.EventsURL()}
	cfg.URL, cfg.Discover = "", d.discover
	d.failWith(fmt.Errorf("the API root answered 503 (token %s)", srv.Token()))
	rec := newRecorder()
	sh := spawn(t, newSystem(t, logger), cfg, rec)

	eventually(t, "failed discoveries", func() bool { return sh.Stats().Reconnects >= 3 })
	st := sh.Stats()
	if st.Connects != 0 || !strings.Contains(st.LastError, "discovering the events URL: the API root answered 503") ||
		strings.Contains(st.LastError, srv.Token()) || !strings.Contains(st.LastError, "REDACTED") {
		t.Errorf("stats = %+v", st)
	}
	d.failWith(nil)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })
	var ac *stoatpb.AfterConnectEvent
	for _, ev := range rec.events() {
		if e, ok := ev.(*stoatpb.AfterConnectEvent); ok {
			ac = e
		}
	}
	if ac == nil || !strings.Contains(ac.GetUrl(), "/events?format=json&token=REDACTED&version=1") {
		t.Errorf("AfterConnect = %v, want the discovered URL, redacted", ac)
	}

	// The API goes down: the reconnect dials the URL discovered last.
	d.failWith(errors.New("connection refused"))
	calls := d.calls.Load()
	srv.Cut()
	rec.wait(t, "a second Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 2 })
	if d.calls.Load() == calls {
		t.Error("the reconnect did not try to discover the URL again")
	}
	if !strings.Contains(logs.String(), "dialling the events URL discovered last") {
		t.Error("the fallback to the last URL is not logged")
	}
	if strings.Contains(logs.String(), srv.Token()) {
		t.Error("the token appears in the logs")
	}
}

// TestDiscoverBadURLIsRetried: a discovered URL that is not a usable events URL fails the attempt
// (retried), with an error that says so.
func TestDiscoverBadURLIsRetried(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	d := &discoverer{url: "ftp://127.0.0.1/"}
	cfg.URL, cfg.Discover = "", d.discover
	sh := spawn(t, newSystem(t, logger), cfg, newRecorder())
	eventually(t, "failed attempts", func() bool { return sh.Stats().Reconnects >= 2 })
	if le := sh.Stats().LastError; !strings.Contains(le, `the discovered events URL "ftp://127.0.0.1/": the scheme must be ws or wss`) {
		t.Errorf("LastError = %q", le)
	}
}

// TestDiscoverFatalError: a discovery error that wraps *AuthError ends the shard with it.
func TestDiscoverFatalError(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	d := &discoverer{}
	d.failWith(fmt.Errorf("refused: %w", &shardactor.AuthError{StatusCode: 401}))
	cfg.URL, cfg.Discover = "", d.discover
	sh := spawn(t, newSystem(t, logger), cfg, newRecorder())
	var ae *shardactor.AuthError
	if err := waitDone(t, sh); !errors.As(err, &ae) {
		t.Fatalf("Err = %v, want *AuthError", err)
	}
}

// TestDiscoverIsBounded: a Discover that never returns is cut by HandshakeTimeout and retried; a
// stop during a discovery ends the shard at once.
func TestDiscoverIsBounded(t *testing.T) {
	srv := stoattest.NewServer(t)
	logger, _ := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	cfg.HandshakeTimeout = 50 * time.Millisecond
	var calls atomic.Int64
	cfg.URL = ""
	cfg.Discover = func(ctx context.Context) (string, error) {
		calls.Add(1)
		<-ctx.Done()
		return "", ctx.Err()
	}
	sh := spawn(t, newSystem(t, logger), cfg, newRecorder())
	eventually(t, "timed-out discoveries", func() bool { return calls.Load() >= 2 })
	if le := sh.Stats().LastError; !strings.Contains(le, "none within 50ms") {
		t.Errorf("LastError = %q", le)
	}
	eventually(t, "a discovery under way", func() bool { return sh.Stats().State == shardactor.StateConnecting })
	start := time.Now()
	sh.Stop()
	if err := waitDone(t, sh); !errors.Is(err, shardactor.ErrStopped) {
		t.Errorf("Err = %v, want ErrStopped", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the stop took %v", d)
	}
}
