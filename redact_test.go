package ermine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// secretToken is a token that no formatting may show.
const secretToken = "s3cr3t-T0KEN-value"

// TestFormattingRedactsTheToken formats every value that holds the token, with each fmt verb and
// both slog handlers, and checks that the token never shows while something useful does.
func TestFormattingRedactsTheToken(t *testing.T) {
	const api = "https://api.example.test"
	cfg := ermine.Config{
		Token:      secretToken,
		APIURL:     api,
		EventsURL:  "wss://events.example.test/",
		WireFormat: bonfire.Msgpack,
	}
	bot, err := ermine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bot.Close(context.Background()) })

	// A server that echoes the token in its error's location and body.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		tok := r.Header.Get("X-Bot-Token")
		b, _ := json.Marshal(map[string]string{"type": "InvalidOperation", "location": "guard: " + tok, "echo": tok})
		_, _ = w.Write(b)
	}))
	t.Cleanup(echo.Close)
	restBot, err := ermine.New(ermine.Config{Token: secretToken, APIURL: echo.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restBot.Close(context.Background()) })
	_, restErr := restBot.REST().FetchSelf(context.Background())
	if restErr == nil {
		t.Fatal("the echo server's 400 was not an error")
	}

	allVerbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%t", "%o"}
	values := []struct {
		name   string
		v      any
		useful string // must appear in every output
		verbs  []string
	}{
		{"Config", cfg, api, allVerbs},
		{"*Config", &cfg, api, allVerbs},
		// encoding/json cannot marshal it (func fields): the JSON handler shows an error instead.
		{"a struct holding a Config", struct{ C ermine.Config }{cfg}, api, allVerbs},
		{"*Bot", bot, api, allVerbs},
		{"*rest.Client", bot.REST(), api, allVerbs},
		{"shardactor.Config", shardactor.Config{Token: secretToken, URL: "wss://events.example.test/"}, "events.example.test", allVerbs},
		{"rest error", restErr, "/users/@me", allVerbs},
		{"wrapped rest error", fmt.Errorf("fetching: %w", restErr), "/users/@me", allVerbs},
	}
	for _, tc := range values {
		for _, verb := range tc.verbs {
			out := fmt.Sprintf(verb, tc.v)
			if strings.Contains(out, secretToken) {
				t.Errorf("%s with %s shows the token: %s", tc.name, verb, out)
			}
			if (verb == "%v" || verb == "%+v" || verb == "%s" || verb == "%#v") && !strings.Contains(out, tc.useful) {
				t.Errorf("%s with %s does not show %q: %s", tc.name, verb, tc.useful, out)
			}
		}
		for _, h := range []struct {
			name string
			new  func(*testlog.Buffer) slog.Handler
		}{
			{"text", func(b *testlog.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
			{"json", func(b *testlog.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		} {
			var buf testlog.Buffer
			logger := slog.New(h.new(&buf))
			logger.Info("value", "v", tc.v)
			logger.Info("any", slog.Any("v", tc.v))
			logger.With("v", tc.v).Info("with")
			out := buf.String()
			if strings.Contains(out, secretToken) {
				t.Errorf("%s logged by the %s handler shows the token: %s", tc.name, h.name, out)
			}
			if !strings.Contains(out, tc.useful) && !(h.name == "json" && strings.HasPrefix(tc.name, "a struct")) {
				t.Errorf("%s logged by the %s handler does not show %q: %s", tc.name, h.name, tc.useful, out)
			}
		}
	}
}

// TestPanicWithTheBotDoesNotLeakTheToken: a handler that panics with the formatted bot, config
// and context puts none of the token into the runtime's ERROR line.
func TestPanicWithTheBotDoesNotLeakTheToken(t *testing.T) {
	r := runBot(t, bonfire.JSON) // its cleanup searches the logs for the token
	panicked := make(chan struct{}, 1)
	ermine.Handle(r.bot, func(ctx *ermine.Context, ev *stoatpb.ReadyEvent) error {
		defer func() {
			select {
			case panicked <- struct{}{}:
			default:
			}
		}()
		panic(fmt.Sprintf("bot %v / %+v / %#v; ctx %+v", ctx.Bot(), ctx.Bot(), ctx.Bot(), ctx))
	})
	r.waitReady(t)
	select {
	case <-panicked:
	default:
		// The bot was already running: its first Ready may have come before the handler. A
		// reconnect brings another.
		r.srv.Cut()
		select {
		case <-panicked:
		case <-time.After(15 * time.Second):
			t.Fatal("the handler did not run")
		}
	}
	// The panic is counted, then logged: wait for its line.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.logs.String(), "ermine.Bot{APIURL:") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line names the bot (panics counted: %d):\n%s", r.bot.Stats().HandlerPanics, r.logs)
		}
		time.Sleep(time.Millisecond)
	}
	if logs := r.logs.String(); strings.Contains(logs, r.srv.Token()) {
		t.Fatal("the panic put the token into the logs")
	}
}

// TestFormattingRedactsURLPasswords: a password in the API or events URL is not shown either.
func TestFormattingRedactsURLPasswords(t *testing.T) {
	cfg := ermine.Config{Token: "t0k", APIURL: "https://bot:pa55w0rd@api.example.test", EventsURL: "wss://bot:pa55w0rd@events.example.test/"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, "pa55w0rd") || !strings.Contains(out, "api.example.test") {
			t.Errorf("%s = %s", verb, out)
		}
	}
}
