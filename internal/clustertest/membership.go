package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Topology follows the member list of one cluster member through the *cluster.ClusterTopology
// events that its MemberList publishes. It exists because MemberList.Members and Length read the
// member set without the list's lock, so a test that polls them races the provider's updates;
// the event is published under that lock.
type Topology struct {
	c       *cluster.Cluster
	mu      sync.Mutex
	ids     []string      // sorted member ids of the last topology
	changed chan struct{} // closed, and replaced, on every topology
}

// FollowTopology starts following c's member list. Call it after cluster.New and before
// StartMember or StartClient, or the first topology is missed.
func FollowTopology(c *cluster.Cluster) *Topology {
	t := &Topology{c: c, changed: make(chan struct{})}
	c.ActorSystem.EventStream.Subscribe(func(evt any) {
		if top, ok := evt.(*cluster.ClusterTopology); ok {
			t.set(top.Members)
		}
	})
	return t
}

func (t *Topology) set(members []*cluster.Member) {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.Id
	}
	slices.Sort(ids)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ids = ids
	close(t.changed)
	t.changed = make(chan struct{})
}

// MemberIDs returns the sorted ids of the members in the last topology, the member's own included.
func (t *Topology) MemberIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ids)
}

// Wait waits until the member ids satisfy ok, and returns them; it returns the last ids and an
// error when ctx ends first. When it returns the ids, every other subscriber has handled their
// topology too, the identity lookup included, so a request made next is placed by it.
func (t *Topology) Wait(ctx context.Context, ok func(ids []string) bool) ([]string, error) {
	for {
		t.mu.Lock()
		ids, changed := slices.Clone(t.ids), t.changed
		t.mu.Unlock()
		if ok(ids) {
			// The topology is published under the member list's lock: taking it (the read
			// lock of GetActivatorMember) waits for every subscriber to be done with this
			// topology, disthash's too, which replaces its rendezvous without a lock of its own.
			t.c.MemberList.GetActivatorMember("", "")
			return ids, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ids, fmt.Errorf("topology %v: %w", ids, ctx.Err())
		}
	}
}

// EtcdMemberIDs returns the sorted ids of the members that protoactor's etcd provider registered
// for clusterName under baseKey: one key baseKey/clusterName/ID per member, under the member's
// lease, whose JSON value holds the id that the member lists carry.
func EtcdMemberIDs(ctx context.Context, c *clientv3.Client, baseKey, clusterName string) ([]string, error) {
	// The trailing slash keeps cluster "a" from matching the keys of cluster "ab".
	prefix := baseKey + "/" + clusterName + "/"
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", prefix, err)
	}
	ids := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var node struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(kv.Value, &node); err != nil {
			return nil, fmt.Errorf("etcd key %s: %w", kv.Key, err)
		}
		ids = append(ids, node.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// Divergence is a member whose view of the cluster differs from what etcd holds.
type Divergence struct {
	Member  string   // the member's id
	Missing []string // registered in etcd, absent from the member's view
	Extra   []string // in the member's view, not registered in etcd
}

func (d Divergence) String() string {
	return fmt.Sprintf("%s: missing %v, extra %v", d.Member, d.Missing, d.Extra)
}

// CompareMembership returns, sorted by member, a Divergence for every view (member id → the ids
// that member sees) that differs from registered.
func CompareMembership(registered []string, views map[string][]string) []Divergence {
	var out []Divergence
	for member, view := range views {
		d := Divergence{Member: member, Missing: minus(registered, view), Extra: minus(view, registered)}
		if len(d.Missing) > 0 || len(d.Extra) > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Divergence) int { return strings.Compare(a.Member, b.Member) })
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// MembershipCheck compares the members that etcd holds for one cluster with each member's view of
// it. It covers the etcd provider's watch race: the provider reads the member list, then starts
// its watch in a goroutine without the read's revision (etcd_provider.go: keepWatching calls
// Watch without WithRev), so a member that registers in between is never seen, and nothing
// re-reads the list. Only a comparison with etcd finds such a member.
type MembershipCheck struct {
	Client      *clientv3.Client
	BaseKey     string // the provider's base key: "/protoactor" for etcd.New
	ClusterName string
	Views       map[string]*Topology // by member id, as etcd holds it ("cluster@actorSystemID")
}

// Check reads etcd once and returns the members whose view differs from it.
func (m *MembershipCheck) Check(ctx context.Context) ([]Divergence, error) {
	registered, err := EtcdMemberIDs(ctx, m.Client, m.BaseKey, m.ClusterName)
	if err != nil {
		return nil, err
	}
	views := make(map[string][]string, len(m.Views))
	for id, t := range m.Views {
		views[id] = t.MemberIDs()
	}
	return CompareMembership(registered, views), nil
}

// Poll runs Check every interval (a second suits a cluster: watch events arrive within
// milliseconds) until ctx ends, and after each check but the first calls report with the
// divergences that this check and the one before found alike. A view that merely lags one watch
// event behind is not reported; a view that missed a registration stays the same and is. report
// gets nil divergences once the views agree, and err when etcd could not be read.
func (m *MembershipCheck) Poll(ctx context.Context, interval time.Duration, report func([]Divergence, error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var prev []Divergence
	havePrev := false // a divergence counts when two successive reads of etcd show it
	for {
		cur, err := m.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			report(nil, err)
			havePrev = false
		} else {
			if havePrev {
				report(persistent(prev, cur), nil)
			}
			prev, havePrev = cur, true
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// persistent returns the divergences of cur that prev holds too, unchanged.
func persistent(prev, cur []Divergence) []Divergence {
	var out []Divergence
	for _, d := range cur {
		if slices.ContainsFunc(prev, func(p Divergence) bool {
			return p.Member == d.Member && slices.Equal(p.Missing, d.Missing) && slices.Equal(p.Extra, d.Extra)
		}) {
			out = append(out, d)
		}
	}
	return out
}
