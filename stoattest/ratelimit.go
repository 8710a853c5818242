package stoattest

import (
	"hash/fnv"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The rate limiter mirrors the real API (stoatchat/stoatchat crates/core/ratelimits and
// crates/delta/src/util/ratelimits.rs): fixed 10-second windows per (identifier, bucket,
// resource). The window of a bucket starts at its first request; once it has passed, the next
// request starts a new one. The identifier is the session for a valid X-Session-Token and the
// client's IP address otherwise, bots included (their X-Bot-Token is not a session).

// window is the length of a rate limit window.
const window = 10 * time.Second

// bucketEntry is one rate limit bucket: calls used in the window ending at reset.
type bucketEntry struct {
	used  int
	reset time.Time
}

// rateDecision is the outcome of one request against the limiter, and its headers.
type rateDecision struct {
	limited    bool
	limit      int
	key        uint64
	remaining  int
	resetAfter time.Duration
}

// resolveBucket names the bucket of a request and the resource it is counted per, like the
// real API's resolver (segments after an optional /0.8 prefix).
func resolveBucket(method, path string) (bucket, resource string) {
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if len(segs) > 0 && segs[0] == "0.8" {
		segs = segs[1:]
	}
	seg := func(i int) (string, bool) {
		if i < len(segs) {
			return segs[i], true
		}
		return "", false
	}
	first, ok := seg(0)
	if !ok {
		return "any", ""
	}
	res, hasRes := seg(1)
	extra, _ := seg(2)
	switch first {
	case "users":
		if method == http.MethodPatch {
			return "user_edit", res
		}
		if extra == "default_avatar" {
			return "default_avatar", ""
		}
		return "users", ""
	case "bots":
		return "bots", ""
	case "channels":
		if hasRes {
			if method == http.MethodPost && extra == "messages" {
				return "messaging", res
			}
			return "channels", res
		}
	case "servers":
		if hasRes {
			return "servers", res
		}
	case "auth":
		if method == http.MethodDelete {
			return "auth_delete", ""
		}
		return "auth", ""
	case "swagger":
		return "swagger", ""
	case "safety":
		if res == "report" {
			return "safety_report", "report"
		}
		return "safety", ""
	}
	return "any", ""
}

// bucketLimit is the number of calls per window of a bucket. The real API's code says 15 for
// auth (its documentation says 3); the code is followed.
func bucketLimit(bucket string) int {
	switch bucket {
	case "user_edit":
		return 2
	case "users":
		return 20
	case "bots":
		return 10
	case "messaging":
		return 10
	case "channels":
		return 15
	case "servers":
		return 5
	case "auth":
		return 15
	case "auth_delete", "default_avatar":
		return 255
	case "swagger":
		return 100
	case "safety":
		return 15
	case "safety_report":
		return 3
	}
	return 20
}

// bucketKey is the opaque bucket id sent in X-RateLimit-Bucket: a hash of the identifier, the
// bucket and the resource, in decimal (the real API uses Rust's DefaultHasher the same way).
func bucketKey(identifier, bucket, resource string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(identifier))
	h.Write([]byte(bucket))
	h.Write([]byte(resource))
	return h.Sum64()
}

// identifierLocked returns whom a request is counted against.
func (s *Server) identifierLocked(r *http.Request) string {
	if tok := r.Header.Get("X-Session-Token"); tok != "" && s.tokenValidLocked(tok) {
		return "session:" + tok
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// rateLimitLocked counts the request against its bucket.
func (s *Server) rateLimitLocked(r *http.Request) rateDecision {
	bucket, resource := resolveBucket(r.Method, r.URL.Path)
	limit := bucketLimit(bucket)
	key := bucketKey(s.identifierLocked(r), bucket, resource)
	now := s.now()

	if s.inject.n > 0 {
		s.inject.n--
		return rateDecision{limited: true, limit: limit, key: key, remaining: 0, resetAfter: s.inject.retryAfter}
	}
	if !s.rateLimits {
		return rateDecision{limit: limit, key: key, remaining: limit, resetAfter: window}
	}

	e, ok := s.buckets[key]
	if !ok {
		e = &bucketEntry{reset: now.Add(window)}
		s.buckets[key] = e
	}
	remaining := limit - e.used
	if now.After(e.reset) {
		remaining = limit
	}
	if remaining <= 0 {
		return rateDecision{limited: true, limit: limit, key: key, remaining: 0, resetAfter: untilReset(e, now)}
	}
	if now.After(e.reset) {
		e.used, e.reset = 1, now.Add(window)
	} else {
		e.used++
	}
	return rateDecision{limit: limit, key: key, remaining: remaining - 1, resetAfter: untilReset(e, now)}
}

func untilReset(e *bucketEntry, now time.Time) time.Duration {
	if d := e.reset.Sub(now); d > 0 {
		return d
	}
	return 0
}

// setHeaders writes the X-RateLimit-* headers of a decision.
func (d rateDecision) setHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.limit))
	h.Set("X-RateLimit-Bucket", strconv.FormatUint(d.key, 10))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.remaining))
	h.Set("X-RateLimit-Reset-After", strconv.FormatInt(d.resetAfter.Milliseconds(), 10))
}
