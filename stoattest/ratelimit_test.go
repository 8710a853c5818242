package stoattest_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/stoattest"
)

// rl reads the X-RateLimit-* headers of a response.
type rl struct {
	limit, remaining int
	bucket           string
	resetAfter       int64 // ms
}

func rateHeaders(t *testing.T, r restResp) rl {
	t.Helper()
	atoi := func(k string) int64 {
		v := r.header.Get(k)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("header %s = %q: %v", k, v, err)
		}
		return n
	}
	h := rl{limit: int(atoi("X-RateLimit-Limit")), remaining: int(atoi("X-RateLimit-Remaining")),
		bucket: r.header.Get("X-RateLimit-Bucket"), resetAfter: atoi("X-RateLimit-Reset-After")}
	if _, err := strconv.ParseUint(h.bucket, 10, 64); err != nil {
		t.Fatalf("bucket %q is not a decimal key: %v", h.bucket, err)
	}
	return h
}

func want429(t *testing.T, r restResp, retryAfter int64) {
	t.Helper()
	wantStatus(t, r, 429)
	if got := string(r.body); got != `{"retry_after":`+strconv.FormatInt(retryAfter, 10)+`}` {
		t.Fatalf("429 body %s, want retry_after %d", got, retryAfter)
	}
	if h := rateHeaders(t, r); h.remaining != 0 || h.resetAfter != retryAfter {
		t.Fatalf("429 headers %+v", h)
	}
}

// A fixed 10-second window that starts with a bucket's first request.
func TestRateLimitWindow(t *testing.T) {
	clock := newFakeClock()
	srv := stoattest.NewServer(t, stoattest.WithClock(clock.Now))
	var bucket string
	for i := range 20 {
		if i == 10 {
			clock.Advance(3 * time.Second)
		}
		r := do(t, srv, "GET", "/users/@me", nil)
		wantStatus(t, r, 200)
		h := rateHeaders(t, r)
		wantReset := int64(10000)
		if i >= 10 {
			wantReset = 7000
		}
		if h.limit != 20 || h.remaining != 19-i || h.resetAfter != wantReset {
			t.Fatalf("request %d: headers %+v", i, h)
		}
		if bucket == "" {
			bucket = h.bucket
		} else if h.bucket != bucket {
			t.Fatalf("bucket changed from %s to %s", bucket, h.bucket)
		}
	}
	want429(t, do(t, srv, "GET", "/users/@me", nil), 7000)
	clock.Advance(6999 * time.Millisecond)
	want429(t, do(t, srv, "GET", "/users/"+userID(t, srv, "alice"), nil), 1) // /users* is one bucket
	clock.Advance(time.Millisecond)
	want429(t, do(t, srv, "GET", "/users/@me", nil), 0) // the window ends after its last millisecond
	clock.Advance(time.Millisecond)
	r := do(t, srv, "GET", "/users/@me", nil)
	wantStatus(t, r, 200)
	if h := rateHeaders(t, r); h.remaining != 19 || h.resetAfter != 10000 || h.bucket != bucket {
		t.Fatalf("new window: %+v", h)
	}
	if st := srv.Stats(); st.RateLimited != 3 || st.Requests != 24 {
		t.Fatalf("stats: %d rate limited of %d", st.RateLimited, st.Requests)
	}
}

// Buckets as in the real API: POST /channels/:id/messages 10 per channel, /channels/:id 15 per
// channel, /servers/:id 5 per server, /users 20, anything else 20.
func TestRateLimitBuckets(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithClock(newFakeClock().Now))
	w := srv.World()
	general, random := w.ChannelByName("general").Id, w.ChannelByName("random").Id
	lab, second := w.Servers[0].Id, w.Servers[1].Id

	exhaust := func(method, path string, body any, limit int) string {
		t.Helper()
		var bucket string
		for i := range limit {
			r := do(t, srv, method, path, body)
			if r.status >= 300 {
				t.Fatalf("%s %s #%d: %d %s", method, path, i, r.status, r.body)
			}
			h := rateHeaders(t, r)
			if h.limit != limit || h.remaining != limit-1-i {
				t.Fatalf("%s %s #%d: %+v, want limit %d", method, path, i, h, limit)
			}
			bucket = h.bucket
		}
		want429(t, do(t, srv, method, path, body), 10000)
		return bucket
	}
	msg := map[string]any{"content": "x"}
	messaging := exhaust("POST", "/channels/"+general+"/messages", msg, 10)
	// Another channel's messaging bucket, and the same channel's other routes, are separate.
	r := do(t, srv, "POST", "/channels/"+random+"/messages", msg)
	wantStatus(t, r, 200)
	if h := rateHeaders(t, r); h.remaining != 9 || h.bucket == messaging {
		t.Fatalf("random's messaging bucket: %+v", h)
	}
	channels := exhaust("GET", "/channels/"+general+"/messages", nil, 15)
	if channels == messaging {
		t.Fatal("messaging and channels share a bucket")
	}
	wantStatus(t, do(t, srv, "GET", "/channels/"+random, nil), 200)

	exhaust("GET", "/servers/"+lab, nil, 5)
	wantStatus(t, do(t, srv, "GET", "/servers/"+second+"/members", nil), 200)
	exhaust("GET", "/", nil, 20)
	want429(t, do(t, srv, "GET", "/no/such/route", nil), 10000) // the catch-all bucket
	wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 200)
	// /0.8 is the same API and the same buckets.
	want429(t, do(t, srv, "GET", "/0.8/servers/"+lab, nil), 10000)
}

// Bots are counted per client address (their token is not a session), sessions per session.
func TestRateLimitIdentity(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithClock(newFakeClock().Now))
	for range 19 {
		wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 200)
	}
	r := do(t, srv, "GET", "/users/@me", nil, "X-Bot-Token", "") // unauthenticated, same address
	wantStatus(t, r, 401)
	if h := rateHeaders(t, r); h.remaining != 0 {
		t.Fatalf("unauthenticated request: %+v", h)
	}
	want429(t, do(t, srv, "GET", "/users/@me", nil), 10000)
	r = do(t, srv, "GET", "/users/@me", nil, "X-Bot-Token", "", "X-Session-Token", srv.Token())
	wantStatus(t, r, 200)
	if h := rateHeaders(t, r); h.remaining != 19 {
		t.Fatalf("session bucket: %+v", h)
	}
	// A restart forgets the buckets.
	if err := srv.Restart(nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 200)
}

func TestInjectRateLimit(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithClock(newFakeClock().Now))
	wantStatus(t, do(t, srv, "GET", "/users/@me", nil), 200)
	srv.InjectRateLimit(2, 1500*time.Millisecond)
	want429(t, do(t, srv, "GET", "/users/@me", nil), 1500)
	want429(t, do(t, srv, "POST", "/channels/"+channelID(t, srv, "general")+"/messages", map[string]any{"content": "x"}), 1500)
	r := do(t, srv, "GET", "/users/@me", nil)
	wantStatus(t, r, 200)
	if h := rateHeaders(t, r); h.remaining != 18 { // injected 429s do not count
		t.Fatalf("after injection: %+v", h)
	}
}

func TestWithoutRateLimits(t *testing.T) {
	srv := stoattest.NewServer(t, stoattest.WithoutRateLimits())
	lab := srv.World().Servers[0].Id
	for range 30 {
		r := do(t, srv, "GET", "/servers/"+lab, nil)
		wantStatus(t, r, 200)
		if h := rateHeaders(t, r); h.remaining != 5 || h.limit != 5 {
			t.Fatalf("headers %+v", h)
		}
	}
}
