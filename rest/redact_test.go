package rest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/rest"
)

// TestErrorRedactsEchoedSecrets: a server that echoes the bot token (in its error's location, in
// another field and in the body) and a webhook token yields an *Error that no fmt verb and no slog
// handler shows them in, while its status, type and path still show.
func TestErrorRedactsEchoedSecrets(t *testing.T) {
	const token, webhookToken = "b0t-T0KEN-secret", "w3bh00k-T0KEN"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Bot-Token") + " " + r.URL.Path
		b, _ := json.Marshal(map[string]any{"type": "InvalidOperation", "location": "guard: " + tok,
			"error": tok, "echo": map[string]string{"token": tok}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b)
	}))
	t.Cleanup(echo.Close)
	c := rest.New(token, rest.WithBaseURL(echo.URL))
	ctx := testContext(t)
	_, errSelf := c.FetchSelf(ctx)
	_, errHook := c.ExecuteWebhook(ctx, "01HOOK", webhookToken, rest.SendMessage{Content: "x"})
	for _, err := range []error{errSelf, errHook} {
		e, ok := rest.AsError(err)
		if !ok || e.Status != http.StatusBadRequest || e.Type != "InvalidOperation" {
			t.Fatalf("err = %v, want the 400 InvalidOperation", err)
		}
		if !strings.Contains(e.Location, "[redacted]") || !strings.Contains(string(e.Body), "[redacted]") {
			t.Errorf("location %q, body %q: the echoed token is not redacted", e.Location, e.Body)
		}
		values := []any{e, *e, fmt.Errorf("wrapped: %w", err), errors.Join(err)}
		for i, v := range values {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
				out := fmt.Sprintf(verb, v)
				if strings.Contains(out, token) || strings.Contains(out, webhookToken) {
					t.Errorf("%s of %T shows a token: %s", verb, v, out)
				}
				// %#v of a wrapper shows the *Error's address only.
				if (verb == "%v" || verb == "%#v" && i < 2) && !strings.Contains(out, "400") {
					t.Errorf("%s of %T does not show the status: %s", verb, v, out)
				}
			}
			var buf syncBuffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("failed", "err", v)
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("failed", "err", v)
			if out := buf.String(); strings.Contains(out, token) || strings.Contains(out, webhookToken) || !strings.Contains(out, "InvalidOperation") {
				t.Errorf("slog of %T: %s", v, out)
			}
		}
	}
}

// TestClientFormatting: a Client formatted or logged shows its base URL and never its token.
func TestClientFormatting(t *testing.T) {
	const token = "b0t-T0KEN-secret"
	c := rest.New(token, rest.WithBaseURL("https://api.example.test"))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%t", "%e"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, token) {
			t.Errorf("%s shows the token: %s", verb, out)
		}
		if !strings.Contains(out, "https://api.example.test") {
			t.Errorf("%s does not show the base URL: %s", verb, out)
		}
	}
	var buf syncBuffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("client", "c", c)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("client", "c", c)
	if out := buf.String(); strings.Contains(out, token) || strings.Count(out, "https://api.example.test") != 2 {
		t.Errorf("logged: %s", out)
	}
}

// TestTransportErrorRedacts: a network failure of a webhook call (whose path holds the webhook's
// token) and of a call with the bot token, formatted with any verb, shows neither token, even
// through a wrapper.
func TestTransportErrorRedacts(t *testing.T) {
	const token, webhookToken = "b0t-T0KEN-secret", "w3bh00k-T0KEN"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := rest.New(token, rest.WithBaseURL("http://"+addr), rest.WithRetryPolicy(rest.RetryPolicy{}))
	ctx := testContext(t)
	_, errHook := c.ExecuteWebhook(ctx, "01HOOK", webhookToken, rest.SendMessage{Content: "x"})
	_, errSelf := c.FetchSelf(ctx)
	for _, err := range []error{errHook, errSelf} {
		if err == nil {
			t.Fatal("a call to a closed port succeeded")
		}
		values := []any{fmt.Errorf("wrapped: %w", err)}
		// Every error of the chain down to the original (which errors.As may still reach).
		for e := err; e != nil && !strings.Contains(e.Error(), token) && !strings.Contains(e.Error(), webhookToken); e = errors.Unwrap(e) {
			values = append(values, e)
		}
		for _, v := range values {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%t", "%x"} {
				if out := fmt.Sprintf(verb, v); strings.Contains(out, token) || strings.Contains(out, webhookToken) {
					t.Errorf("%s of %T shows a token: %s", verb, v, out)
				}
			}
		}
		if !strings.Contains(err.Error(), "refused") {
			t.Errorf("err = %v, want the refused connection", err)
		}
	}
}
