package shardactor

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestScrubDialError: a real dial error embeds the URL with the token; scrub redacts it and keeps
// the cause reachable for errors.Is and errors.As.
func TestScrubDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	token := "tok+en/=="
	secrets := []string{token, url.QueryEscape(token)}
	raw := "ws://" + addr + "/?format=json&token=" + url.QueryEscape(token) + "&version=1"
	_, _, err = websocket.Dial(context.Background(), raw, nil)
	if err == nil || !strings.Contains(err.Error(), url.QueryEscape(token)) {
		t.Fatalf("dial error %v does not show the token; the test is blind", err)
	}
	got := scrub(err, secrets)
	if containsAny(got.Error(), secrets) || !strings.Contains(got.Error(), "token=REDACTED") {
		t.Errorf("scrubbed = %q", got)
	}
	var op *net.OpError
	if !errors.As(got, &op) {
		t.Errorf("scrubbed error lost its *net.OpError: %#v", got)
	}
	for e := got; e != nil; e = errors.Unwrap(e) {
		if containsAny(e.Error(), secrets) {
			t.Errorf("the chain still holds the token: %q", e)
		}
	}

	// A cancelled dial keeps context.Canceled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = websocket.Dial(ctx, raw, nil)
	if got := scrub(err, secrets); !errors.Is(got, context.Canceled) || containsAny(got.Error(), secrets) {
		t.Errorf("scrubbed cancelled dial = %v", got)
	}

	// Anything else holding the token is flattened to redacted text.
	if got := scrub(errors.New("bad "+token), secrets); got.Error() != "bad REDACTED" {
		t.Errorf("scrub(plain) = %q", got)
	}
	plain := errors.New("no secret here")
	if scrub(plain, secrets) != plain {
		t.Error("scrub changed an error without the token")
	}
}

func TestSettingsURL(t *testing.T) {
	s, err := Config{URL: "wss://events.stoat.chat/?ready=users&ready=servers", Token: "a b&c", WireFormat: 1}.settings()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.endpoint.dial)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("token") != "a b&c" || q.Get("format") != "msgpack" || q.Get("version") != "1" || len(q["ready"]) != 2 {
		t.Errorf("dial URL query = %v", q)
	}
	if strings.Contains(s.endpoint.redacted, "a+b") || !strings.Contains(s.endpoint.redacted, "token=REDACTED") {
		t.Errorf("redacted URL = %q", s.endpoint.redacted)
	}
	if s.Name != DefaultName || s.PingInterval != DefaultPingInterval || s.MaxFrameSize != DefaultMaxFrameSize {
		t.Errorf("defaults not applied: %+v", s.Config.LogValue())
	}
}
