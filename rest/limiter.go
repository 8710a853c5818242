package rest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter paces requests so that they stay within Stoat's rate limits. A Client asks it before
// every attempt of every request and reports what the response said; one Limiter should serve a
// whole runtime (every Client of it), because the server counts the requests of all of them.
//
// The interface is small and its values are plain data so that another implementation, such as a
// cluster-wide limiter actor shared by several nodes, can take the place of LocalLimiter.
type Limiter interface {
	// Wait blocks until a request on route may be sent, counts it against the route's bucket
	// and returns a Permit for it. It returns ctx's error as soon as ctx is done.
	Wait(ctx context.Context, route Route) (Permit, error)
}

// Permit is a request a Limiter let through. Its sender calls Done exactly once, when the
// attempt has ended, with what the response said (the zero Observation when no response came).
type Permit interface {
	Done(Observation)
}

// Observation is what one response said about its rate limit bucket. Durations are relative to
// the moment the response was received.
type Observation struct {
	// Status is the HTTP status, 0 when no response arrived (network error, cancellation).
	Status int
	// Bucket is the X-RateLimit-Bucket header: the server's opaque name of the bucket.
	Bucket string
	// HasLimits tells whether X-RateLimit-Limit, -Remaining and -Reset-After were present.
	HasLimits bool
	// Limit, Remaining and ResetAfter are the X-RateLimit-Limit, -Remaining and -Reset-After
	// headers (Reset-After is sent in milliseconds).
	Limit, Remaining int
	ResetAfter       time.Duration
	// RetryAfter is how long a 429 asked to wait (its body's retry_after, in milliseconds, or
	// else its Retry-After or X-RateLimit-Reset-After header).
	RetryAfter time.Duration
}

// LimiterOption configures a LocalLimiter.
type LimiterOption func(*LocalLimiter)

// WithLimiterClock makes the limiter read and wait on c instead of the system clock.
func WithLimiterClock(c Clock) LimiterOption { return func(l *LocalLimiter) { l.clock = c } }

// WithLimiterLogger makes the limiter log its waits (at debug level) to log.
func WithLimiterLogger(log *slog.Logger) LimiterOption {
	return func(l *LocalLimiter) { l.log = log }
}

// WithResetSlack sets how long after a bucket's announced reset the limiter lets requests go
// again (default 25ms). It absorbs the rounding of X-RateLimit-Reset-After to milliseconds and
// the server's "strictly after the reset" rule.
func WithResetSlack(d time.Duration) LimiterOption { return func(l *LocalLimiter) { l.slack = d } }

// LocalLimiter is the in-process Limiter: one per runtime, safe for concurrent use, shared by
// any number of Clients.
//
// Buckets are learned from responses. A route (scope, method, template, major id) starts in the
// default bucket of its family (Route.DefaultBucket: the server's bucket name and limit, per
// channel or server id where the server counts per channel or server); the first response naming
// the bucket (X-RateLimit-Bucket) binds the route, and every route of the same family and major
// id that has not been answered yet, to that bucket, so that routes the server counts together
// share one state.
//
// Each bucket tracks its limit, the requests left in the current window and when the window
// resets. Wait counts a request before it is sent, so concurrent callers never overshoot, and
// waits until the reset once the bucket is empty. Answers correct the count and give the reset
// its real time: while requests are in flight the lower of the local count and the lowest count
// the server reported wins (answers arrive out of order); once all are answered, the server's
// lowest report is exact and replaces the local count. Until an answer has come, the reset is a
// guess (first request + Window) that is not trusted while requests are in flight. A 429
// empties the bucket until its retry_after has passed. Buckets idle for a minute are forgotten.
type LocalLimiter struct {
	clock Clock
	log   *slog.Logger
	slack time.Duration

	mu     sync.Mutex
	byID   map[string]*bucket // server bucket name → bucket
	routes map[string]*bucket // Route.Key → bucket, once a response named it
	shared map[string]*bucket // Route.sharedKey → bucket: unanswered routes of a family and major id
	ops    int
}

// bucket is the state of one rate limit bucket.
type bucket struct {
	id        string // the server's name, "" while unknown
	limit     int
	remaining int       // requests left in the current window, counting those in flight
	reported  int       // the lowest Remaining a response of the current window reported; -1: none
	resetAt   time.Time // end of the current window; zero: no window open
	confirmed bool      // resetAt comes from a response, not a guess
	inflight  int
	waiters   int
	changed   chan struct{} // closed (and replaced) when a response may unblock waiters
}

func newBucket(limit int) *bucket {
	return &bucket{limit: limit, remaining: limit, reported: -1, changed: make(chan struct{})}
}

func (b *bucket) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// NewLimiter returns a LocalLimiter.
func NewLimiter(opts ...LimiterOption) *LocalLimiter {
	l := &LocalLimiter{
		clock:  SystemClock{},
		log:    slog.New(slog.DiscardHandler),
		slack:  25 * time.Millisecond,
		byID:   make(map[string]*bucket),
		routes: make(map[string]*bucket),
		shared: make(map[string]*bucket),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// BucketState is a snapshot of a route's bucket.
type BucketState struct {
	// Bucket is the server's name of the bucket, "" while no response has named it.
	Bucket string
	// Limit is the number of requests per window; Remaining those left now (counting requests
	// in flight); ResetAt when the window ends (zero if none is open).
	Limit, Remaining int
	ResetAt          time.Time
	// Confirmed tells whether ResetAt was given by the server rather than guessed.
	Confirmed bool
	// InFlight counts requests let through and not yet answered.
	InFlight int
}

// State returns the state of the bucket that route would be counted against now.
func (l *LocalLimiter) State(route Route) BucketState {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.resolveLocked(route)
	l.rollLocked(b, l.clock.Now())
	return BucketState{Bucket: b.id, Limit: b.limit, Remaining: b.remaining, ResetAt: b.resetAt,
		Confirmed: b.confirmed, InFlight: b.inflight}
}

// resolveLocked finds the bucket of a route: the one a response named for it, or else its shared
// default bucket (created on first use).
func (l *LocalLimiter) resolveLocked(r Route) *bucket {
	if b := l.routes[r.Key()]; b != nil {
		return b
	}
	sk := r.sharedKey()
	if b := l.shared[sk]; b != nil {
		return b
	}
	_, limit := r.DefaultBucket()
	b := newBucket(limit)
	l.shared[sk] = b
	return b
}

// rollLocked closes a bucket's window once it is over. A guessed reset is trusted only when no
// request is in flight (their answers will tell the real one), and for one extra window at most.
func (l *LocalLimiter) rollLocked(b *bucket, now time.Time) {
	if b.resetAt.IsZero() || now.Before(b.resetAt) {
		return
	}
	if b.confirmed || b.inflight == 0 || !now.Before(b.resetAt.Add(Window)) {
		b.remaining, b.reported, b.resetAt, b.confirmed = b.limit, -1, time.Time{}, false
	}
}

// Wait implements Limiter.
func (l *LocalLimiter) Wait(ctx context.Context, r Route) (Permit, error) {
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		b := l.resolveLocked(r)
		now := l.clock.Now()
		l.rollLocked(b, now)
		if b.remaining > 0 {
			if b.resetAt.IsZero() { // this request opens a window
				b.resetAt, b.confirmed = now.Add(Window+l.slack), false
			}
			b.remaining--
			b.inflight++
			l.ops++
			if l.ops%1024 == 0 {
				l.sweepLocked(now)
			}
			l.mu.Unlock()
			return &permit{l: l, b: b, r: r}, nil
		}
		wait := b.resetAt.Sub(now)
		if wait <= 0 { // a guessed reset has passed with requests in flight: wait for an answer
			wait = b.resetAt.Add(Window).Sub(now)
		}
		changed := b.changed
		b.waiters++
		id := b.id
		l.mu.Unlock()

		if !waited {
			waited = true
			l.log.Debug("rest: rate limit bucket empty, waiting", "method", r.Method, "route", r.Path,
				"bucket", id, "wait", wait)
		}
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-l.clock.After(wait):
		case <-changed:
		}
		l.mu.Lock()
		b.waiters--
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// permit is a LocalLimiter's Permit.
type permit struct {
	l    *LocalLimiter
	b    *bucket
	r    Route
	done atomic.Bool
}

// Done implements Permit.
func (p *permit) Done(o Observation) {
	if p.done.Swap(true) {
		return
	}
	l := p.l
	l.mu.Lock()
	defer l.mu.Unlock()
	b := p.b
	if b.inflight > 0 {
		b.inflight--
	}
	now := l.clock.Now()
	target := b
	if o.Bucket != "" {
		target = l.learnLocked(p.r, b, o.Bucket)
	}
	switch {
	case o.Status == 429:
		d := o.RetryAfter
		if d <= 0 {
			d = o.ResetAfter
		}
		if d <= 0 {
			d = time.Second
		}
		if o.HasLimits && o.Limit > 0 {
			target.limit = o.Limit
		}
		target.remaining, target.reported = 0, 0
		target.resetAt, target.confirmed = now.Add(d+l.slack), true
	case o.HasLimits:
		l.applyLocked(target, o, now)
	}
	target.notify()
	if target != b {
		b.notify()
	}
}

// learnLocked binds a route, and the unanswered routes sharing its default bucket, to the
// bucket the server named.
func (l *LocalLimiter) learnLocked(r Route, b *bucket, id string) *bucket {
	target := l.byID[id]
	if target == nil {
		if b.id == "" { // the route's default bucket gets its name
			target = b
		} else { // b is another named bucket: the route is counted elsewhere
			target = newBucket(b.limit)
		}
		target.id = id
		l.byID[id] = target
	}
	l.routes[r.Key()] = target
	l.shared[r.sharedKey()] = target
	return target
}

// applyLocked merges a response's X-RateLimit headers into a bucket.
func (l *LocalLimiter) applyLocked(b *bucket, o Observation, now time.Time) {
	if o.Limit > 0 {
		b.limit = o.Limit
	}
	reset := now.Add(max(o.ResetAfter, 0) + l.slack)
	remaining := max(o.Remaining, 0)
	switch {
	case b.resetAt.IsZero() || reset.After(b.resetAt.Add(Window/2)):
		// A window newer than the one we knew of.
		b.remaining, b.reported = max(remaining-b.inflight, 0), remaining
		b.resetAt, b.confirmed = reset, true
		return
	case b.confirmed && reset.Before(b.resetAt.Add(-Window/2)):
		// A late answer from an older window: nothing to learn. (Against a guessed reset an
		// earlier one is the truth: the server's window began before our first request.)
		return
	}
	// The current window. The reset is the latest seen (each is the server's reset plus a
	// return trip).
	if !b.confirmed || reset.After(b.resetAt) {
		b.resetAt = reset
	}
	b.confirmed = true
	// Answers may arrive out of order, so the lowest count reported is the server's; while
	// requests are in flight it may not count them yet, so the lower of it and the local count
	// wins. Once every request has been answered, the lowest report is exact, even when the
	// server counts less than we did (another client's window, a server without limits).
	if b.reported < 0 || remaining < b.reported {
		b.reported = remaining
	}
	if b.inflight == 0 {
		b.remaining = b.reported
	} else {
		b.remaining = min(b.remaining, b.reported)
	}
}

// sweepLocked forgets buckets that have been idle for a minute, so that a bot seeing many
// channels does not accumulate state. A forgotten bucket behaves like a fresh default one.
func (l *LocalLimiter) sweepLocked(now time.Time) {
	idle := func(b *bucket) bool {
		return b.inflight == 0 && b.waiters == 0 && (b.resetAt.IsZero() || now.After(b.resetAt.Add(time.Minute)))
	}
	for _, m := range []map[string]*bucket{l.byID, l.routes, l.shared} {
		for k, b := range m {
			if idle(b) {
				delete(m, k)
			}
		}
	}
}
