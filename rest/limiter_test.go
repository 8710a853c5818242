package rest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/rest"
)

const slack = 25 * time.Millisecond // the LocalLimiter's default reset slack

var (
	sendC1   = rest.Route{Method: "POST", Path: "/channels/{channel}/messages", Major: "C1"}
	sendC2   = rest.Route{Method: "POST", Path: "/channels/{channel}/messages", Major: "C2"}
	fetchC1  = rest.Route{Method: "GET", Path: "/channels/{channel}", Major: "C1"}
	fetchC2  = rest.Route{Method: "GET", Path: "/channels/{channel}", Major: "C2"}
	deleteC1 = rest.Route{Method: "DELETE", Path: "/channels/{channel}/messages/{message}", Major: "C1"}
	userA    = rest.Route{Method: "GET", Path: "/users/{user}"}
	self     = rest.Route{Method: "GET", Path: "/users/@me"}
)

func TestDefaultBuckets(t *testing.T) {
	for _, tc := range []struct {
		r     rest.Route
		name  string
		limit int
	}{
		{sendC1, "messaging", 10},
		{rest.Route{Method: "POST", Path: "/channels/{channel}/messages/{message}/pin"}, "messaging", 10},
		{fetchC1, "channels", 15},
		{deleteC1, "channels", 15},
		{rest.Route{Method: "PUT", Path: "/channels/{channel}/messages/{message}/reactions/{emoji}"}, "channels", 15},
		{rest.Route{Method: "GET", Path: "/servers/{server}/members"}, "servers", 5},
		{userA, "users", 20},
		{rest.Route{Method: "PATCH", Path: "/users/@me"}, "user_edit", 2},
		{rest.Route{Method: "POST", Path: "/webhooks/{webhook}/{token}"}, "any", 20},
		{rest.Route{Method: "GET", Path: "/invites/{code}"}, "any", 20},
	} {
		if name, limit := tc.r.DefaultBucket(); name != tc.name || limit != tc.limit {
			t.Errorf("%s %s: %s/%d, want %s/%d", tc.r.Method, tc.r.Path, name, limit, tc.name, tc.limit)
		}
	}
}

// waitNow takes a permit that must be available at once.
func waitNow(t *testing.T, l rest.Limiter, r rest.Route) rest.Permit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := l.Wait(ctx, r)
	if err != nil {
		t.Fatalf("Wait(%v): %v", r, err)
	}
	return p
}

// waitAsync takes a permit in the background.
func waitAsync(l rest.Limiter, r rest.Route) <-chan rest.Permit {
	ch := make(chan rest.Permit, 1)
	go func() {
		p, err := l.Wait(context.Background(), r)
		if err != nil {
			panic(err)
		}
		ch <- p
	}()
	return ch
}

func mustBlock(t *testing.T, ch <-chan rest.Permit) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal("Wait returned; it should be waiting")
	default:
	}
}

func obs(bucket string, limit, remaining int, resetAfter time.Duration) rest.Observation {
	return rest.Observation{Status: 200, Bucket: bucket, HasLimits: true, Limit: limit, Remaining: remaining, ResetAfter: resetAfter}
}

func TestLimiterDefaultsBeforeAnyAnswer(t *testing.T) {
	clk := newManualClock()
	l := rest.NewLimiter(rest.WithLimiterClock(clk))
	var permits []rest.Permit
	for range 10 {
		permits = append(permits, waitNow(t, l, sendC1))
	}
	waitNow(t, l, sendC2).Done(rest.Observation{}) // another channel: another bucket
	eleventh := waitAsync(l, sendC1)
	if p := clk.waitPending(t, 1); p[0] != rest.Window+slack {
		t.Errorf("the 11th waits %v, want the guessed reset %v", p[0], rest.Window+slack)
	}
	mustBlock(t, eleventh)

	// The guessed reset passes while the 10 are in flight: it is not trusted.
	clk.Advance(rest.Window + slack)
	clk.waitPending(t, 1)
	mustBlock(t, eleventh)

	// The answers tell the real reset: 3 s from now.
	for i, p := range permits {
		p.Done(obs("msg-C1", 10, 9-i, 3*time.Second))
	}
	clk.waitPendingFor(t, 3*time.Second+slack)
	mustBlock(t, eleventh)
	clk.Advance(3*time.Second + slack)
	(<-eleventh).Done(obs("msg-C1", 10, 9, rest.Window))
	st := l.State(sendC1)
	if st.Bucket != "msg-C1" || st.Remaining != 9 || !st.Confirmed || st.InFlight != 0 {
		t.Errorf("state = %+v", st)
	}
}

func TestLimiterLearnsSharedBuckets(t *testing.T) {
	clk := newManualClock()
	l := rest.NewLimiter(rest.WithLimiterClock(clk))
	// The server says the channels bucket of C1 is empty for 5 s.
	waitNow(t, l, fetchC1).Done(obs("chan-C1", 15, 0, 5*time.Second))

	// Another route of the same family and channel, not answered yet, shares it.
	blocked := waitAsync(l, deleteC1)
	if p := clk.waitPending(t, 1); p[0] != 5*time.Second+slack {
		t.Errorf("waiting %v, want %v", p[0], 5*time.Second+slack)
	}
	// Another channel, another family: free.
	waitNow(t, l, fetchC2).Done(obs("chan-C2", 15, 14, rest.Window))
	waitNow(t, l, sendC1).Done(obs("msg-C1", 10, 9, rest.Window))
	mustBlock(t, blocked)
	clk.Advance(5*time.Second + slack)
	(<-blocked).Done(obs("chan-C1", 15, 14, rest.Window))
	if st := l.State(deleteC1); st.Bucket != "chan-C1" || st.Remaining != 14 {
		t.Errorf("state = %+v", st)
	}

	// /users/{user} and /users/@me are one bucket on the server (no per-user resource).
	waitNow(t, l, userA).Done(obs("users", 20, 0, 2*time.Second))
	blocked = waitAsync(l, self)
	clk.waitPending(t, 1)
	mustBlock(t, blocked)
	clk.Advance(2*time.Second + slack)
	(<-blocked).Done(obs("users", 20, 19, rest.Window))
}

func TestLimiterOutOfOrderAnswers(t *testing.T) {
	clk := newManualClock()
	l := rest.NewLimiter(rest.WithLimiterClock(clk))
	a, b, c := waitNow(t, l, fetchC1), waitNow(t, l, fetchC1), waitNow(t, l, fetchC1)
	// The server counted a, b, c (14, 13, 12 left); the answers arrive c, a, b.
	c.Done(obs("k", 15, 12, rest.Window))
	a.Done(obs("k", 15, 14, rest.Window))
	if st := l.State(fetchC1); st.Remaining != 12 || st.InFlight != 1 {
		t.Errorf("after 2 answers: %+v", st)
	}
	b.Done(obs("k", 15, 13, rest.Window))
	if st := l.State(fetchC1); st.Remaining != 12 || st.InFlight != 0 {
		t.Errorf("after 3 answers: %+v", st)
	}
	// A server that counts less than we did (e.g. limits off) is believed once all answered.
	d := waitNow(t, l, fetchC1)
	d.Done(obs("k", 15, 14, rest.Window))
	if st := l.State(fetchC1); st.Remaining != 12 {
		t.Errorf("the lowest report of the window wins: %+v", st)
	}
	// A stale answer from a window long gone is ignored.
	clk.Advance(rest.Window + time.Second)
	e := waitNow(t, l, fetchC1) // a new window
	e.Done(obs("k", 15, 14, rest.Window))
	f := waitNow(t, l, fetchC1)
	f.Done(obs("k", 15, 0, 0)) // a reset from the window before
	if st := l.State(fetchC1); st.Remaining != 13 || st.ResetAt != clk.Now().Add(rest.Window+slack) {
		t.Errorf("a stale answer changed the bucket: %+v", st)
	}
}

func TestLimiter429(t *testing.T) {
	clk := newManualClock()
	l := rest.NewLimiter(rest.WithLimiterClock(clk))
	waitNow(t, l, sendC1).Done(rest.Observation{Status: 429, RetryAfter: 2 * time.Second})
	blocked := waitAsync(l, sendC1)
	if p := clk.waitPending(t, 1); p[0] != 2*time.Second+slack {
		t.Errorf("waiting %v after a 429, want %v", p[0], 2*time.Second+slack)
	}
	mustBlock(t, blocked)
	clk.Advance(2*time.Second + slack)
	(<-blocked).Done(obs("m", 10, 9, rest.Window))
}

func TestLimiterWaitHonoursContext(t *testing.T) {
	clk := newManualClock()
	l := rest.NewLimiter(rest.WithLimiterClock(clk))
	waitNow(t, l, self).Done(obs("u", 20, 0, time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.Wait(ctx, self); done <- err }()
	clk.waitPending(t, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after cancellation")
	}
	// Done twice is harmless.
	p := waitNow(t, l, fetchC1)
	p.Done(rest.Observation{})
	p.Done(rest.Observation{})
	if st := l.State(fetchC1); st.InFlight != 0 || st.Remaining != 14 {
		t.Errorf("state = %+v", st)
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	l := rest.NewLimiter(rest.WithLimiterClock(newAutoClock()))
	routes := []rest.Route{sendC1, sendC2, fetchC1, fetchC2, deleteC1, userA, self}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				r := routes[(g+i)%len(routes)]
				p, err := l.Wait(context.Background(), r)
				if err != nil {
					panic(err)
				}
				name, limit := r.DefaultBucket()
				p.Done(obs(name+r.Major, limit, i%limit, time.Second))
			}
		}()
	}
	for range 8 {
		<-done
	}
}
