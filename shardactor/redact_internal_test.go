package shardactor

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestConfigFormattingRedacts: a Config, a *Config and the settings built from one, formatted with
// fmt's verbs or logged with slog's handlers, never show the token (nor the dial URL that carries
// it) and do show the URL.
func TestConfigFormattingRedacts(t *testing.T) {
	const token = "s3cr3t+T0KEN/x"
	cfg := Config{Name: "shard-x", URL: "wss://events.example.test/?ready=users", Token: token}
	s, err := cfg.settings()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{token, url.QueryEscape(token)}
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"Config", cfg},
		{"*Config", &cfg},
		{"settings", *s},
		{"*settings", s},
		{"a struct holding a Config", struct{ C Config }{cfg}},
	} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, tc.v)
			if containsAny(out, secrets) {
				t.Errorf("%s with %s shows the token: %s", tc.name, verb, out)
			}
			if verb != "%x" && !strings.Contains(out, "events.example.test") {
				t.Errorf("%s with %s does not show the URL: %s", tc.name, verb, out)
			}
		}
		var buf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
			slog.New(h).Info("config", "cfg", tc.v)
		}
		if out := buf.String(); containsAny(out, secrets) || !strings.Contains(out, "events.example.test") {
			t.Errorf("%s logged: %s", tc.name, out)
		}
	}
	if got := fmt.Sprintf("%#v", cfg); !strings.HasPrefix(got, "shardactor.Config{") || !strings.Contains(got, `Token:"REDACTED"`) {
		t.Errorf("%%#v = %s", got)
	}
	if got := fmt.Sprintf("%v", Config{}); strings.Contains(got, redacted) {
		t.Errorf("an empty token shows as redacted: %s", got)
	}
}

// TestEndpointNeverShowsTheToken: an events URL (a discovered one comes from a server) that
// quotes the token outside the token parameter shows it neither in the errors nor in the
// redacted URL that logs and events carry.
func TestEndpointNeverShowsTheToken(t *testing.T) {
	const token = "s3cr3t-T0KEN"
	s, err := Config{URL: "wss://events.example.test/", Token: token}.settings()
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"ftp://events.example.test/?echo=" + token,
		"wss:///path?echo=" + token,
		"wss://user:" + token + "@/x",
	} {
		if _, err := s.newEndpoint(raw, "the discovered URL"); err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("newEndpoint(%q) = %v; want an error without the token", raw, err)
		}
	}
	e, err := s.newEndpoint("wss://events.example.test/"+token+"/?echo="+token, "the discovered URL")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.redacted, token) || !strings.Contains(e.dial, token) {
		t.Errorf("redacted %q, dial %q: the token belongs in the dial URL only", e.redacted, e.dial)
	}
}
