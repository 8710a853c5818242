package rest

import (
	"strings"
	"time"
)

// Window is the length of a Stoat rate limit window: every bucket allows its limit of requests
// per fixed 10-second window, which starts with the first request counted against it.
const Window = 10 * time.Second

// Route is what a Limiter is told about a request: enough to find its rate limit bucket, nothing
// secret. Routes are plain values, so that a limiter in another process (a cluster-wide limiter
// actor) can receive them as messages.
type Route struct {
	// Method is the HTTP method, e.g. "POST".
	Method string
	// Path is the route template, e.g. "/channels/{channel}/messages".
	Path string
	// Major is the id of the route's major parameter: the channel of /channels/{channel}/…, the
	// server of /servers/{server}/…, and "" for the other routes. Stoat counts those buckets
	// per channel or per server, and every other bucket per caller.
	Major string
	// Scope tells apart callers that the server counts separately: it names the API host and,
	// for a session token, the session (by a hash, never the token). Bot tokens share their
	// scope, as the server counts bots per IP address.
	Scope string
}

// Key identifies the route for learning its bucket: scope, method, template and major id.
func (r Route) Key() string {
	return r.Scope + "\x00" + r.Method + "\x00" + r.Path + "\x00" + r.Major
}

// sharedKey names the bucket the route falls in before the server has told its real name: its
// default bucket, per major id.
func (r Route) sharedKey() string {
	name, _ := r.DefaultBucket()
	return r.Scope + "\x00" + name + "\x00" + r.Major
}

// DefaultBucket returns the name of the server bucket the route falls in and that bucket's
// number of requests per Window, as Stoat's rate limiter assigns them
// (stoatchat/stoatchat crates/delta/src/util/ratelimits.rs): "messaging" (10, per channel) for
// POST /channels/{channel}/messages…, "channels" (15, per channel), "servers" (5, per server),
// "users" (20), "user_edit" (2) for PATCH /users/…, "bots" (10), "auth" (15), and "any" (20)
// for everything else (webhooks, invites, custom emojis…). A limiter uses it until a response
// has named the route's bucket.
func (r Route) DefaultBucket() (name string, limit int) {
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	seg := func(i int) string {
		if i < len(segs) {
			return segs[i]
		}
		return ""
	}
	switch seg(0) {
	case "users":
		if r.Method == "PATCH" {
			return "user_edit", 2
		}
		if seg(2) == "default_avatar" {
			return "default_avatar", 255
		}
		return "users", 20
	case "bots":
		return "bots", 10
	case "channels":
		if seg(1) != "" {
			if r.Method == "POST" && seg(2) == "messages" {
				return "messaging", 10
			}
			return "channels", 15
		}
	case "servers":
		if seg(1) != "" {
			return "servers", 5
		}
	case "auth":
		if r.Method == "DELETE" {
			return "auth_delete", 255
		}
		return "auth", 15
	case "swagger":
		return "swagger", 100
	case "safety":
		if seg(1) == "report" {
			return "safety_report", 3
		}
		return "safety", 15
	}
	return "any", 20
}
