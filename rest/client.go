package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ermine-rt/ermine/internal/handlerctx"
)

// DefaultBaseURL is the Stoat API.
const DefaultBaseURL = "https://api.stoat.chat"

// DefaultUserAgent names ermine and its version, as the User-Agent of every request.
const DefaultUserAgent = "ermine (https://github.com/ermine-rt/ermine, 0.1.0)"

// maxResponseBody bounds the body read from a response (a large server's member list is big).
const maxResponseBody = 256 << 20

// RetryPolicy says how often a request is tried again.
type RetryPolicy struct {
	// MaxRetries bounds the retries after a 5xx or a network error, for the requests that are
	// safe to repeat only: GET, PUT, DELETE, and message sends with an idempotency key or nonce.
	MaxRetries int
	// MaxRateLimitRetries bounds the retries of one call after 429s, for every request (a 429
	// means the request was not processed).
	MaxRateLimitRetries int
	// BaseDelay is the back-off before the first retry after a 5xx or a network error; it
	// doubles with each retry up to MaxDelay, with random jitter (each wait is between half and
	// all of the doubled delay).
	BaseDelay, MaxDelay time.Duration
}

// DefaultRetryPolicy is the RetryPolicy of a Client made without WithRetryPolicy.
var DefaultRetryPolicy = RetryPolicy{MaxRetries: 3, MaxRateLimitRetries: 10, BaseDelay: 250 * time.Millisecond, MaxDelay: 8 * time.Second}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the API's base URL (default DefaultBaseURL), e.g. "https://stoat.chat/api",
// "https://api.stoat.chat/0.8" or a self-hosted instance's.
func WithBaseURL(u string) Option { return func(c *Client) { c.baseURL = u } }

// WithSessionToken makes the client send its token as a user session token (X-Session-Token)
// rather than a bot token (X-Bot-Token).
func WithSessionToken() Option { return func(c *Client) { c.session = true } }

// WithHTTPClient sets the *http.Client requests are made with (default: a client of its own
// with a 30 s timeout). The Client uses a copy whose redirect policy also drops the token
// headers when a redirect leaves the API's host.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLogger makes the client log to log: each request at debug level, retries and 429s at
// warn level. Tokens never appear in the log.
func WithLogger(log *slog.Logger) Option { return func(c *Client) { c.log = log } }

// WithLimiter makes the client pace its requests with l, typically the one Limiter of the
// runtime, shared by all its Clients. Without it a Client makes a LocalLimiter of its own.
func WithLimiter(l Limiter) Option { return func(c *Client) { c.limiter = l } }

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithClock makes the client read and wait on clk (429 waits and retry back-off) instead of the
// system clock; the LocalLimiter it makes for itself, if any, uses it too. For tests.
func WithClock(clk Clock) Option { return func(c *Client) { c.clock = clk } }

// WithRetryPolicy sets how often requests are tried again (default DefaultRetryPolicy).
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// Client is a typed client of the Stoat REST API for bots. It is safe for concurrent use.
// Every call takes a context, which bounds the whole call including the waits for rate limits
// and retries; a call returns ctx's error (wrapped in an *Error) as soon as ctx is done.
type Client struct {
	baseURL   string
	base      string // baseURL without its trailing slash
	cfgErr    error
	token     *secret
	session   bool
	userAgent string
	http      *http.Client
	log       *slog.Logger
	limiter   Limiter
	clock     Clock
	retry     RetryPolicy
	scope     string

	stats *routeStats
}

// routeStats are a client's counters by route, behind a pointer so that a Client value holds no
// lock.
type routeStats struct {
	mu      sync.Mutex
	byRoute map[string]*RouteStats
}

// RouteStats counts a route's requests (each attempt, retries included) and the 429s they got.
type RouteStats struct {
	Route       string // the method and path template, "POST /channels/{channel}/messages"
	Requests    uint64
	RateLimited uint64
}

// Stats returns the counters of every route called so far, sorted by route.
func (c *Client) Stats() []RouteStats {
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	out := make([]RouteStats, 0, len(c.stats.byRoute))
	for _, st := range c.stats.byRoute {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b RouteStats) int { return strings.Compare(a.Route, b.Route) })
	return out
}

// count records one response of route (limited: a 429).
func (c *Client) count(route string, limited bool) {
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	st := c.stats.byRoute[route]
	if st == nil {
		st = &RouteStats{Route: route}
		c.stats.byRoute[route] = st
	}
	st.Requests++
	if limited {
		st.RateLimited++
	}
}

// secret holds a token behind a pointer, so that printing a Client (even with %#v) shows an
// address and never the token.
type secret struct{ v string }

func (s *secret) String() string   { return "[redacted]" }
func (s *secret) GoString() string { return "[redacted]" }

// New returns a Client that authenticates with token: a bot token, or a session token with
// WithSessionToken. A base URL that cannot be used makes every call fail with the reason.
func New(token string, opts ...Option) *Client {
	c := &Client{
		baseURL:   DefaultBaseURL,
		token:     &secret{token},
		userAgent: DefaultUserAgent,
		log:       slog.New(slog.DiscardHandler),
		clock:     SystemClock{},
		retry:     DefaultRetryPolicy,
		stats:     &routeStats{byRoute: map[string]*RouteStats{}},
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	c.http = withoutTokenOnRedirect(c.http)
	if c.limiter == nil {
		c.limiter = NewLimiter(WithLimiterClock(c.clock), WithLimiterLogger(c.log))
	}
	c.base = strings.TrimRight(c.baseURL, "/")
	u, err := url.Parse(c.base)
	switch {
	case err != nil:
		c.cfgErr = fmt.Errorf("invalid base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.cfgErr = fmt.Errorf("invalid base URL %q: want http(s)://host[/path]", c.base)
	case u.RawQuery != "" || u.Fragment != "":
		c.cfgErr = fmt.Errorf("invalid base URL %q: it has a query or fragment", c.base)
	}
	c.scope = c.base
	if c.session {
		sum := sha256.Sum256([]byte(token))
		c.scope += " session:" + hex.EncodeToString(sum[:8])
	}
	return c
}

// String describes the client without its token.
func (c *Client) String() string {
	kind := "bot"
	if c.session {
		kind = "session"
	}
	return fmt.Sprintf("rest.Client{%s, %s token}", c.shownBase(), kind)
}

// shownBase is the base URL as logs and formatted values show it: no password, no token.
func (c *Client) shownBase() string {
	shown := c.base
	if u, err := url.Parse(c.base); err == nil {
		shown = u.Redacted()
	}
	return redact(shown, []string{c.token.v, url.QueryEscape(c.token.v)})
}

// withoutTokenOnRedirect returns a copy of h that drops the token headers when a redirect
// leaves the API's host (net/http does so for Authorization and cookies, not for custom
// headers), then applies h's own redirect policy.
func withoutTokenOnRedirect(h *http.Client) *http.Client {
	hc := *h
	next := h.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && req.URL.Host != via[0].URL.Host {
			req.Header.Del("X-Bot-Token")
			req.Header.Del("X-Session-Token")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &hc
}

// BaseURL returns the API base URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// Limiter returns the client's Limiter.
func (c *Client) Limiter() Limiter { return c.limiter }

// call describes one API request.
type call struct {
	method string
	route  string   // template with {name} placeholders
	args   []string // the placeholders' values, in order
	secret string   // the placeholder whose value is a secret (redacted in errors and logs)
	query  url.Values
	body   any    // JSON-encoded when non-nil
	key    string // Idempotency-Key header
	retry  bool   // safe to repeat after a 5xx or a network error
	noAuth bool   // no token header (webhook-token routes authenticate by their URL)
}

// get, put… return a call with the method's retry safety.
func get(route string, args ...string) *call {
	return &call{method: "GET", route: route, args: args, retry: true}
}
func put(route string, args ...string) *call {
	return &call{method: "PUT", route: route, args: args, retry: true}
}
func del(route string, args ...string) *call {
	return &call{method: "DELETE", route: route, args: args, retry: true}
}
func post(route string, args ...string) *call { return &call{method: "POST", route: route, args: args} }
func patch(route string, args ...string) *call {
	return &call{method: "PATCH", route: route, args: args}
}

func (k *call) withBody(b any) *call { k.body = b; return k }
func (k *call) withQuery(q url.Values) *call {
	if len(q) > 0 {
		k.query = q
	}
	return k
}

// paths expands the template: the path to request, the path to show (secrets redacted), the
// major id, and the secret values.
func (k *call) paths() (raw, shown, major string, secrets []string, err error) {
	var rb, sb strings.Builder
	rest := k.route
	i := 0
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			rb.WriteString(rest)
			sb.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}') + open
		name := rest[open+1 : end]
		rb.WriteString(rest[:open])
		sb.WriteString(rest[:open])
		if i >= len(k.args) {
			return "", "", "", nil, fmt.Errorf("missing %s", name)
		}
		v := k.args[i]
		if v == "" {
			return "", "", "", nil, fmt.Errorf("empty %s", name)
		}
		if i == 0 && (strings.HasPrefix(k.route, "/channels/{") || strings.HasPrefix(k.route, "/servers/{")) {
			major = v
		}
		rb.WriteString(url.PathEscape(v))
		if name == k.secret {
			sb.WriteString(rest[open : end+1])
			secrets = append(secrets, v, url.PathEscape(v))
		} else {
			sb.WriteString(url.PathEscape(v))
		}
		rest = rest[end+1:]
		i++
	}
	return rb.String(), sb.String(), major, secrets, nil
}

// do runs a call: it waits for the rate limiter, sends, retries as the policy allows, and
// decodes a successful answer's body with decode (nil: the body is ignored).
func (c *Client) do(ctx context.Context, k *call, decode func([]byte) error) error {
	handlerctx.Detach(ctx) // a handler waiting for the network must not hold its owner up
	raw, shown, major, secrets, err := k.paths()
	if err != nil {
		return &Error{Method: k.method, Path: k.route, Route: k.route, Err: err}
	}
	fail := func(status int, cause error) *Error {
		return &Error{Status: status, Method: k.method, Path: shown, Route: k.route, Err: cause}
	}
	if c.cfgErr != nil {
		return fail(0, c.cfgErr)
	}
	secrets = append(secrets, c.token.v)
	target := c.base + raw
	if k.query != nil {
		target += "?" + k.query.Encode()
	}
	var body []byte
	if k.body != nil {
		if body, err = json.Marshal(k.body); err != nil {
			return fail(0, fmt.Errorf("encoding the request body: %w", err))
		}
	}
	route := Route{Method: k.method, Path: k.route, Major: major, Scope: c.scope}
	log := c.log.With("method", k.method, "path", shown)

	var retries, limited int
	var notBefore time.Time // a 429's retry_after, enforced whatever the Limiter does
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fail(0, err)
		}
		p, err := c.limiter.Wait(ctx, route)
		if err != nil {
			return fail(0, err)
		}
		if !notBefore.IsZero() {
			if err := sleep(ctx, c.clock, notBefore.Sub(c.clock.Now())); err != nil {
				p.Done(Observation{})
				return fail(0, err)
			}
		}
		req, err := c.newRequest(ctx, k, target, body)
		if err != nil {
			p.Done(Observation{})
			return fail(0, redactErr(err, secrets))
		}
		start := c.clock.Now()
		resp, err := c.http.Do(req)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
			resp.Body.Close()
		}
		if err != nil {
			p.Done(Observation{})
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fail(0, ctxErr)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // its message holds the URL
			}
			err = redactErr(err, secrets)
			if k.retry && retries < c.retry.MaxRetries {
				retries++
				d := c.backoff(retries)
				log.Warn("rest: request failed, retrying", "error", err.Error(), "attempt", attempt, "backoff", d)
				if err := sleep(ctx, c.clock, d); err != nil {
					return fail(0, err)
				}
				continue
			}
			log.Warn("rest: request failed", "error", err.Error(), "attempt", attempt)
			return fail(0, err)
		}
		obs := observe(resp, data)
		p.Done(obs)
		c.count(k.method+" "+k.route, resp.StatusCode == http.StatusTooManyRequests)
		log.Debug("rest: response", "status", resp.StatusCode, "attempt", attempt,
			"took", c.clock.Now().Sub(start), "bucket", obs.Bucket, "remaining", obs.Remaining,
			"reset_after", obs.ResetAfter)

		switch status := resp.StatusCode; {
		case status == http.StatusTooManyRequests:
			if limited >= c.retry.MaxRateLimitRetries {
				e := fail(status, nil)
				e.parseBody(data, secrets)
				e.RetryAfter = obs.RetryAfter
				return e
			}
			limited++
			notBefore = c.clock.Now().Add(obs.RetryAfter)
			log.Warn("rest: rate limited, waiting", "retry_after", obs.RetryAfter, "bucket", obs.Bucket)
			continue
		case status >= 500 && k.retry && retries < c.retry.MaxRetries && status != 501 && status != 505:
			retries++
			d := max(c.backoff(retries), retryAfterHeader(resp.Header, c.clock.Now()))
			log.Warn("rest: server error, retrying", "status", status, "attempt", attempt, "backoff", d)
			if err := sleep(ctx, c.clock, d); err != nil {
				return fail(0, err)
			}
			continue
		case status < 200 || status >= 300:
			e := fail(status, nil)
			e.parseBody(data, secrets)
			return e
		}
		notBefore = time.Time{}
		if decode == nil {
			return nil
		}
		if err := decode(data); err != nil {
			return fail(resp.StatusCode, fmt.Errorf("decoding the response: %w", err))
		}
		return nil
	}
}

func (c *Client) newRequest(ctx context.Context, k *call, target string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, rd)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("User-Agent", c.userAgent)
	h.Set("Accept", "application/json")
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if !k.noAuth {
		if c.session {
			h.Set("X-Session-Token", c.token.v)
		} else {
			h.Set("X-Bot-Token", c.token.v)
		}
	}
	if k.key != "" {
		h.Set("Idempotency-Key", k.key)
	}
	return req, nil
}

// backoff is the wait before retry n (from 1): BaseDelay·2^(n-1), capped at MaxDelay, with
// jitter between half and all of it.
func (c *Client) backoff(n int) time.Duration {
	d := c.retry.BaseDelay
	for i := 1; i < n && d < c.retry.MaxDelay; i++ {
		d *= 2
	}
	if c.retry.MaxDelay > 0 {
		d = min(d, c.retry.MaxDelay)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// observe reads what a response says about its rate limit bucket.
func observe(resp *http.Response, body []byte) Observation {
	h := resp.Header
	o := Observation{Status: resp.StatusCode, Bucket: h.Get("X-RateLimit-Bucket")}
	limit, errL := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	remaining, errR := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	resetAfter, okA := millis(h.Get("X-RateLimit-Reset-After"))
	if errL == nil && errR == nil && okA {
		o.HasLimits, o.Limit, o.Remaining, o.ResetAfter = true, limit, remaining, resetAfter
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		var b struct {
			RetryAfter json.Number `json:"retry_after"`
		}
		if json.Unmarshal(body, &b) == nil {
			o.RetryAfter, _ = millis(b.RetryAfter.String())
		}
		if o.RetryAfter <= 0 {
			o.RetryAfter = retryAfterHeader(h, time.Now())
		}
		if o.RetryAfter <= 0 && okA {
			o.RetryAfter = resetAfter
		}
		if o.RetryAfter <= 0 {
			o.RetryAfter = time.Second
		}
	}
	return o
}

// millis parses a number of milliseconds (possibly fractional).
func millis(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1e12 {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

// retryAfterHeader parses an HTTP Retry-After header: seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
