package rest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/stoattest"
)

// scripted is a server that answers the n-th request (from 0) with answers[min(n, last)] and
// records what it received.
type scripted struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

type answer struct {
	status int
	body   string
	header map[string]string
	hangUp bool // close the connection without answering
}

func newScripted(t *testing.T, answers ...answer) *scripted {
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, r)
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		a := answers[min(n, len(answers)-1)]
		if a.hangUp {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		if a.status == 0 {
			a.status = 200
		}
		if a.body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *scripted) request(i int) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

const userJSON = `{"_id":"01FZB4GBHDVYY6KT8JH4RBX4KR","username":"Mecha","discriminator":"9862"}`
const messageJSON = `{"_id":"01J1W5QRYPK703Q3VNN6SC2F5F","channel":"C","author":"A","content":"hi"}`

func TestHeaders(t *testing.T) {
	s := newScripted(t, answer{body: messageJSON})
	ctx := testContext(t)

	bot := rest.New("the-bot-token", rest.WithBaseURL(s.URL))
	if _, err := bot.FetchSelf(ctx); err != nil {
		t.Fatal(err)
	}
	r := s.request(0)
	if r.Header.Get("X-Bot-Token") != "the-bot-token" || r.Header.Get("X-Session-Token") != "" {
		t.Errorf("bot token headers: %v", r.Header)
	}
	if ua := r.Header.Get("User-Agent"); ua != rest.DefaultUserAgent || !strings.Contains(ua, "ermine") || !strings.Contains(ua, "0.1.0") {
		t.Errorf("User-Agent %q", ua)
	}
	if r.Header.Get("Content-Type") != "" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("GET headers: %v", r.Header)
	}

	user := rest.New("a-session-token", rest.WithBaseURL(s.URL), rest.WithSessionToken(), rest.WithUserAgent("mybot/2"))
	if _, err := user.SendText(ctx, "C", "hi"); err != nil {
		t.Fatal(err)
	}
	r = s.request(1)
	if r.Header.Get("X-Session-Token") != "a-session-token" || r.Header.Get("X-Bot-Token") != "" {
		t.Errorf("session token headers: %v", r.Header)
	}
	if r.Header.Get("User-Agent") != "mybot/2" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("POST headers: %v", r.Header)
	}
}

// retryClient is a client of s whose waits pass at once, recorded by the returned clock.
func retryClient(s *scripted, opts ...rest.Option) (*rest.Client, *autoClock) {
	clk := newAutoClock()
	return rest.New("tok", append([]rest.Option{rest.WithBaseURL(s.URL), rest.WithClock(clk)}, opts...)...), clk
}

func TestRetries(t *testing.T) {
	ctx := testContext(t)
	fail := func(status int) answer { return answer{status: status, body: `{"type":"InternalError"}`} }

	t.Run("GET retried after 5xx", func(t *testing.T) {
		s := newScripted(t, fail(502), fail(500), answer{body: userJSON})
		c, clk := retryClient(s)
		u, err := c.FetchSelf(ctx)
		if err != nil || u.GetUsername() != "Mecha" {
			t.Fatal(u, err)
		}
		if s.count() != 3 {
			t.Errorf("%d attempts, want 3", s.count())
		}
		w := clk.waits()
		if len(w) != 2 || w[0] < 125*time.Millisecond || w[0] > 250*time.Millisecond || w[1] < 250*time.Millisecond || w[1] > 500*time.Millisecond {
			t.Errorf("back-off waits %v, want one in [125ms, 250ms] then one in [250ms, 500ms]", w)
		}
	})
	t.Run("GET gives up", func(t *testing.T) {
		s := newScripted(t, fail(503))
		c, _ := retryClient(s)
		_, err := c.FetchSelf(ctx)
		if !errors.Is(err, rest.ErrServer) || rest.ErrorType(err) != "InternalError" {
			t.Fatalf("err = %v", err)
		}
		if e, _ := rest.AsError(err); e.Status != 503 {
			t.Errorf("status %d", e.Status)
		}
		if s.count() != 1+rest.DefaultRetryPolicy.MaxRetries {
			t.Errorf("%d attempts, want %d", s.count(), 1+rest.DefaultRetryPolicy.MaxRetries)
		}
	})
	t.Run("501 not retried", func(t *testing.T) {
		s := newScripted(t, fail(501))
		c, _ := retryClient(s)
		if _, err := c.FetchSelf(ctx); err == nil || s.count() != 1 {
			t.Errorf("err %v after %d attempts", err, s.count())
		}
	})
	t.Run("POST without key not retried", func(t *testing.T) {
		s := newScripted(t, fail(500), answer{body: messageJSON})
		c, _ := retryClient(s)
		_, err := c.SendText(ctx, "C", "hi")
		if !errors.Is(err, rest.ErrServer) || s.count() != 1 {
			t.Errorf("err %v after %d attempts, want a 500 after 1", err, s.count())
		}
	})
	t.Run("PATCH not retried", func(t *testing.T) {
		s := newScripted(t, fail(502), answer{body: messageJSON})
		c, _ := retryClient(s)
		_, err := c.EditMessage(ctx, "C", "M", rest.EditMessage{Content: new("x")})
		if err == nil || s.count() != 1 {
			t.Errorf("err %v after %d attempts", err, s.count())
		}
	})
	t.Run("POST with Idempotency-Key retried", func(t *testing.T) {
		s := newScripted(t, fail(500), answer{hangUp: true}, answer{body: messageJSON})
		c, _ := retryClient(s)
		m, err := c.SendMessage(ctx, "C", rest.SendMessage{Content: "hi", IdempotencyKey: "same-key"})
		if err != nil || m.GetContent() != "hi" || s.count() != 3 {
			t.Fatalf("%v %v after %d attempts", m, err, s.count())
		}
		for i := range 3 {
			if k := s.request(i).Header.Get("Idempotency-Key"); k != "same-key" {
				t.Errorf("attempt %d: Idempotency-Key %q", i, k)
			}
			if s.bodies[i] != `{"content":"hi"}` {
				t.Errorf("attempt %d: body %s", i, s.bodies[i])
			}
		}
	})
	t.Run("POST with nonce retried", func(t *testing.T) {
		s := newScripted(t, fail(504), answer{body: messageJSON})
		c, _ := retryClient(s)
		if _, err := c.SendMessage(ctx, "C", rest.SendMessage{Content: "hi", Nonce: "n1"}); err != nil || s.count() != 2 {
			t.Errorf("err %v after %d attempts", err, s.count())
		}
	})
	t.Run("network error: GET retried, POST not", func(t *testing.T) {
		s := newScripted(t, answer{hangUp: true}, answer{body: userJSON})
		c, _ := retryClient(s)
		if _, err := c.FetchSelf(ctx); err != nil || s.count() != 2 {
			t.Errorf("GET: err %v after %d attempts", err, s.count())
		}
		s = newScripted(t, answer{hangUp: true}, answer{body: messageJSON})
		c, _ = retryClient(s)
		_, err := c.SendText(ctx, "C", "hi")
		e, ok := rest.AsError(err)
		if !ok || e.Status != 0 || e.Err == nil || s.count() != 1 {
			t.Errorf("POST: err %v after %d attempts", err, s.count())
		}
	})
	t.Run("503 Retry-After honoured", func(t *testing.T) {
		s := newScripted(t, answer{status: 503, header: map[string]string{"Retry-After": "4"}}, answer{body: userJSON})
		c, clk := retryClient(s)
		if _, err := c.FetchSelf(ctx); err != nil {
			t.Fatal(err)
		}
		if w := clk.waits(); len(w) != 1 || w[0] != 4*time.Second {
			t.Errorf("waits %v, want [4s]", w)
		}
	})
}

func Test429(t *testing.T) {
	ctx := testContext(t)
	for _, tc := range []struct {
		name string
		a    answer
		want time.Duration
	}{
		{"retry_after in the body", answer{status: 429, body: `{"retry_after":1500}`,
			header: map[string]string{"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1500", "X-RateLimit-Bucket": "b"}}, 1500 * time.Millisecond},
		{"Retry-After header", answer{status: 429, header: map[string]string{"Retry-After": "2"}}, 2 * time.Second},
		{"Reset-After only", answer{status: 429, body: `{}`,
			header: map[string]string{"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "700"}}, 700 * time.Millisecond},
		{"nothing", answer{status: 429}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A POST without idempotency key: a 429 is retried whatever the method.
			s := newScripted(t, tc.a, answer{body: messageJSON})
			c, clk := retryClient(s)
			if _, err := c.SendText(ctx, "C", "hi"); err != nil {
				t.Fatal(err)
			}
			if s.count() != 2 {
				t.Errorf("%d attempts, want 2", s.count())
			}
			if st := c.Stats(); len(st) != 1 || st[0] != (rest.RouteStats{Route: "POST /channels/{channel}/messages", Requests: 2, RateLimited: 1}) {
				t.Errorf("Stats() = %+v", st)
			}
			var total time.Duration
			for _, w := range clk.waits() {
				total += w
			}
			if total < tc.want || total > tc.want+100*time.Millisecond {
				t.Errorf("waited %v (%v), want %v", total, clk.waits(), tc.want)
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		s := newScripted(t, answer{status: 429, body: `{"retry_after":250}`})
		c, _ := retryClient(s, rest.WithRetryPolicy(rest.RetryPolicy{MaxRateLimitRetries: 2}))
		_, err := c.FetchSelf(ctx)
		e, ok := rest.AsError(err)
		if !ok || !rest.IsRateLimited(err) || e.RetryAfter != 250*time.Millisecond || s.count() != 3 {
			t.Fatalf("err %v after %d attempts", err, s.count())
		}
	})
}

func TestErrorTyping(t *testing.T) {
	ctx := testContext(t)
	for _, tc := range []struct {
		name  string
		a     answer
		check func(t *testing.T, err error)
	}{
		{"MissingPermission", answer{status: 403, body: `{"type":"MissingPermission","permission":"ManageMessages","location":"crates/x.rs:1:2"}`},
			func(t *testing.T, err error) {
				e, _ := rest.AsError(err)
				perm, ok := rest.MissingPermission(err)
				if !rest.IsForbidden(err) || !errors.Is(err, rest.ErrForbidden) || rest.IsNotFound(err) || !ok || perm != "ManageMessages" ||
					e.Location != "crates/x.rs:1:2" || string(e.Fields["permission"]) != `"ManageMessages"` {
					t.Errorf("%#v", e)
				}
				if want := "rest: DELETE /channels/C/messages/M: 403 MissingPermission (ManageMessages)"; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			}},
		{"NotFound types", answer{status: 404, body: `{"type":"UnknownChannel"}`}, func(t *testing.T, err error) {
			if !rest.IsNotFound(err) || rest.ErrorType(err) != "UnknownChannel" {
				t.Errorf("%v", err)
			}
		}},
		{"FailedValidation", answer{status: 400, body: `{"type":"FailedValidation","error":"content: too long"}`}, func(t *testing.T, err error) {
			if e, _ := rest.AsError(err); e.Detail != "content: too long" || !strings.Contains(err.Error(), "400 FailedValidation (content: too long)") {
				t.Errorf("%v", err)
			}
		}},
		{"TooManyReplies", answer{status: 400, body: `{"type":"TooManyReplies","max":5}`}, func(t *testing.T, err error) {
			if e, _ := rest.AsError(err); e.Max != 5 || !strings.HasSuffix(err.Error(), "(max 5)") {
				t.Errorf("%v", err)
			}
		}},
		{"Unauthorized", answer{status: 401, body: `{"type":"InvalidSession"}`}, func(t *testing.T, err error) {
			if !errors.Is(err, rest.ErrUnauthorized) {
				t.Errorf("%v", err)
			}
		}},
		{"not JSON", answer{status: 400, body: `<html>bad gateway</html>`}, func(t *testing.T, err error) {
			if e, _ := rest.AsError(err); e.Type != "" || string(e.Body) != "<html>bad gateway</html>" || err.Error() != "rest: DELETE /channels/C/messages/M: 400" {
				t.Errorf("%v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, tc.a)
			c, _ := retryClient(s)
			err := c.DeleteMessage(ctx, "C", "M")
			if _, ok := rest.AsError(err); !ok {
				t.Fatalf("err = %v, want a *rest.Error", err)
			}
			tc.check(t, err)
		})
	}
	t.Run("undecodable answer", func(t *testing.T) {
		s := newScripted(t, answer{body: `{"_id": 12`})
		c, _ := retryClient(s)
		_, err := c.FetchSelf(ctx)
		e, ok := rest.AsError(err)
		if !ok || e.Status != 200 || e.Err == nil || !strings.Contains(err.Error(), "decoding") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestSecretsNeverLeak makes every kind of failure with a bot token, a session token and a
// webhook token, logging at debug level, and looks for the secrets in errors, logs and
// printed clients.
func TestSecretsNeverLeak(t *testing.T) {
	const botToken, sessionToken, hookToken = "BOT-SECRET-7f3a9c", "SESSION-SECRET-2b8d1e", "HOOK-SECRET-c4e5f6"
	ctx := testContext(t)
	var logs syncBuffer
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
			if e, ok := rest.AsError(err); ok {
				texts = append(texts, fmt.Sprintf("%+v %#v", *e, *e), e.Path, string(e.Body))
			}
		}
	}

	s := newScripted(t,
		answer{status: 404, body: `{"type":"NotFound"}`},
		answer{status: 429, body: `{"retry_after":10}`},
		answer{status: 500, body: `{"type":"InternalError"}`},
		answer{hangUp: true},
	)
	for _, c := range []*rest.Client{
		rest.New(botToken, rest.WithBaseURL(s.URL), rest.WithLogger(debugLogger(&logs)), rest.WithClock(newAutoClock())),
		rest.New(sessionToken, rest.WithSessionToken(), rest.WithBaseURL(s.URL), rest.WithLogger(debugLogger(&logs)), rest.WithClock(newAutoClock())),
	} {
		texts = append(texts, fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%+v %#v", *c, *c))
		_, err := c.FetchSelf(ctx)
		record(err)
		_, err = c.SendText(ctx, "C", "hi")
		record(err)
		_, err = c.ExecuteWebhook(ctx, "W", hookToken, rest.SendMessage{Content: "hook", IdempotencyKey: "k"})
		record(err)
		_, err = c.ExecuteWebhook(ctx, "W", hookToken, rest.SendMessage{Content: "hook"})
		record(err)
	}
	// A server that is gone: the transport's error would quote the URL.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	c := rest.New(botToken, rest.WithBaseURL(gone.URL), rest.WithLogger(debugLogger(&logs)), rest.WithClock(newAutoClock()))
	_, err := c.ExecuteWebhook(ctx, "W", hookToken, rest.SendMessage{Content: "hook", IdempotencyKey: "k"})
	record(err)
	if e, ok := rest.AsError(err); !ok || e.Path != "/webhooks/W/{token}" || e.Err == nil {
		t.Errorf("err = %#v", err)
	}
	_, err = c.FetchSelf(ctx)
	record(err)

	texts = append(texts, logs.String())
	if !strings.Contains(logs.String(), "rest: response") || !strings.Contains(logs.String(), "/webhooks/W/{token}") {
		t.Errorf("the debug log lacks the requests:\n%s", logs.String())
	}
	for _, text := range texts {
		for _, secret := range []string{botToken, sessionToken, hookToken} {
			if strings.Contains(text, secret) {
				t.Errorf("%s leaked in %q", secret, text)
			}
		}
	}
	if s.count() < 8 {
		t.Errorf("only %d requests were made", s.count())
	}
}

func TestCallsThatCannotBeMade(t *testing.T) {
	ctx := testContext(t)
	var requests atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(s.Close)

	for _, base := range []string{"ftp://example.com", "not a url", "https://", "https://x.example/api?x=1"} {
		_, err := rest.New("t", rest.WithBaseURL(base)).FetchSelf(ctx)
		if e, ok := rest.AsError(err); !ok || !strings.Contains(err.Error(), "base URL") || e.Status != 0 {
			t.Errorf("base %q: %v", base, err)
		}
	}
	c := rest.New("t", rest.WithBaseURL(s.URL))
	if _, err := c.SendText(ctx, "", "hi"); err == nil || !strings.Contains(err.Error(), "empty channel") {
		t.Errorf("empty channel: %v", err)
	}
	if err := c.DeleteMessages(ctx, "C", nil); err == nil {
		t.Error("bulk delete of no message: no error")
	}
	if err := c.DeleteMessages(ctx, "C", make([]string, 101)); err == nil {
		t.Error("bulk delete of 101 messages: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.FetchSelf(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests were sent", n)
	}
}

// TestSharedLimiter runs two clients on one limiter: together they stay within the bucket that
// the server counts for both (bots are counted per IP address).
func TestSharedLimiter(t *testing.T) {
	clk := newManualClock()
	srv := stoattest.NewServer(t, stoattest.WithClock(clk.Now))
	ctx := testContext(t)
	lim := rest.NewLimiter(rest.WithLimiterClock(clk))
	a := rest.New(srv.Token(), rest.WithBaseURL(srv.URL), rest.WithLimiter(lim), rest.WithClock(clk))
	b := rest.New(srv.Token(), rest.WithBaseURL(srv.URL), rest.WithLimiter(lim), rest.WithClock(clk))
	if a.Limiter() != b.Limiter() {
		t.Fatal("the clients do not share the limiter")
	}
	lab := srv.World().ServerByName("Ermine Lab")
	for range 5 { // the servers bucket: 5 per window
		if _, err := a.FetchServer(ctx, lab.Id); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := b.FetchMembers(ctx, lab.Id); done <- err }()
	p := clk.waitPending(t, 1)
	clk.Advance(p[0])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.RateLimited != 0 {
		t.Errorf("%d requests were answered 429", st.RateLimited)
	}
}

func TestNoTokenOnRedirectToAnotherHost(t *testing.T) {
	ctx := testContext(t)
	other := newScripted(t, answer{body: userJSON})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/users/@me" {
			// 127.0.0.1 and localhost are different hosts to the redirect policy.
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, userJSON)
	}))
	t.Cleanup(api.Close)
	for _, opts := range [][]rest.Option{nil, {rest.WithSessionToken()}, {rest.WithHTTPClient(&http.Client{})}} {
		c := rest.New("the-token", append(opts, rest.WithBaseURL(api.URL))...)
		if _, err := c.FetchSelf(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range other.count() {
		if h := other.request(i).Header; h.Get("X-Bot-Token") != "" || h.Get("X-Session-Token") != "" {
			t.Errorf("the token followed a redirect to another host: %v", h)
		}
	}
	if other.count() != 3 {
		t.Errorf("%d redirected requests, want 3", other.count())
	}
}
