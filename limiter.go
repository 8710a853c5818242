package ermine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/rest"
)

// clusterLimiter is the REST rate limiter of a node in cluster mode: the nodes of a bot share
// its token's buckets at the API, so they share one limiter, held by the node that runs the
// connection. A node asks it for each request (one round trip over the cluster's transport) and
// reports the response's rate limit headers back. While the connection's node cannot be
// reached (it just died, say), a node uses its own limiter: more 429s then, which the REST
// client waits out, rather than no REST at all.
type clusterLimiter struct {
	b     *Bot
	local *rest.LocalLimiter

	next    atomic.Uint64
	mu      sync.Mutex
	permits map[uint64]rest.Permit // on the connection's node: those granted to other nodes
	log     ratelog.Limiter
}

func newClusterLimiter(b *Bot) *clusterLimiter {
	return &clusterLimiter{b: b, local: rest.NewLimiter(), permits: map[uint64]rest.Permit{},
		log: ratelog.Limiter{Burst: 1, Interval: time.Minute}}
}

// limitWaitMax bounds one remote wait (a 429's retry_after is seconds at most).
const limitWaitMax = 2 * time.Minute

// Wait implements rest.Limiter.
func (l *clusterLimiter) Wait(ctx context.Context, route rest.Route) (rest.Permit, error) {
	c := l.b.cluster
	if c == nil || c.HoldsConnection() {
		return l.local.Wait(ctx, route)
	}
	res, err := c.CallConnection(ctx, &clusterpb.LimitWait{Method: route.Method, Path: route.Path, Major: route.Major, Scope: route.Scope}, limitWaitMax)
	if err == nil {
		if g, ok := res.(*clusterpb.LimitGrant); ok && g.Error == "" {
			return remotePermit{l: l, id: g.Permit}, nil
		} else if ok {
			err = errors.New(g.Error)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	l.log.Log(l.b.logger, slog.LevelWarn, "remote limiter", "ermine: the connection's node did not answer for the shared REST rate limiter; using this node's own",
		nil, "err", err)
	return l.local.Wait(ctx, route)
}

// remotePermit reports a remote grant's end to the connection's node.
type remotePermit struct {
	l  *clusterLimiter
	id uint64
}

func (p remotePermit) Done(o rest.Observation) {
	_ = p.l.b.cluster.TellConnection(&clusterpb.LimitDone{Permit: p.id, Status: int32(o.Status), Bucket: o.Bucket, HasLimits: o.HasLimits,
		Limit: int32(o.Limit), Remaining: int32(o.Remaining), ResetAfterUs: o.ResetAfter.Microseconds(), RetryAfterUs: o.RetryAfter.Microseconds()})
}

// grant serves another node's LimitWait on the connection's node.
func (l *clusterLimiter) grant(ctx context.Context, w *clusterpb.LimitWait) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, limitWaitMax)
	defer cancel()
	p, err := l.local.Wait(ctx, rest.Route{Method: w.Method, Path: w.Path, Major: w.Major, Scope: w.Scope})
	if err != nil {
		return 0, fmt.Errorf("ermine: shared REST limiter: %w", err)
	}
	id := l.next.Add(1)
	l.mu.Lock()
	l.permits[id] = p
	l.mu.Unlock()
	return id, nil
}

// done serves another node's LimitDone.
func (l *clusterLimiter) done(d *clusterpb.LimitDone) {
	l.mu.Lock()
	p := l.permits[d.Permit]
	delete(l.permits, d.Permit)
	l.mu.Unlock()
	if p != nil {
		p.Done(rest.Observation{Status: int(d.Status), Bucket: d.Bucket, HasLimits: d.HasLimits, Limit: int(d.Limit), Remaining: int(d.Remaining),
			ResetAfter: time.Duration(d.ResetAfterUs) * time.Microsecond, RetryAfter: time.Duration(d.RetryAfterUs) * time.Microsecond})
	}
}
