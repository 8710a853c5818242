package clustertest

// Probes of protoactor-go's cluster at the pinned version (see shared/design/protoactor-notes.md):
// each test pins one failure path that ermine's cluster mode works around, on the real library,
// with separate actor systems in this process on loopback addresses. When an upgrade changes one
// of these behaviours its probe fails, and the workaround it backs can be revisited.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const echoKind = "echo"

// skipUnderRace skips a probe that runs two or more members in this process when the race
// detector is on: it reports these races inside protoactor-go at the pinned version, none in
// ermine's code (seen with go test -race on this package):
//   - remote/server.go, Remote.Start: grpclog.SetLoggerV2, a process-wide write, against every
//     gRPC log read (other members' connections, etcd clients) and every other Remote.Start;
//   - cluster/informer.go: one package-level math/rand.Rand that every member's gossip actor
//     shuffles with (Informer.SendState);
//   - remote/blocklist.go: IsBlocked and BlockedMembers read the set without the lock that
//     Block writes it under (MemberList's gossip handler against endpointReader and
//     getTopologyChanges);
//   - cluster/clusterproviders/etcd: Provider.Shutdown writes p.shutdown, which the keep-alive
//     goroutine reads;
//   - remote/endpoint_manager.go: stop sets connections to nil while endpointEvent's
//     removeEndpoint reads it.
//
// scripts/test.sh runs this package once more without -race, so that the probes run in CI.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("protoactor-go's own data races with two members in one process (grpclog.SetLoggerV2 in Remote.Start, " +
			"the gossip informer's shared math/rand.Rand, BlockList reads without its lock, the etcd provider's shutdown flag, " +
			"endpointManager.stop): this probe runs without -race (scripts/test.sh)")
	}
}

// newEchoKind hosts grains that answer a *wrapperspb.StringValue with the address of the member
// that hosts them, so that a caller sees where an identity was placed.
func newEchoKind() *cluster.Kind {
	return cluster.NewKind(echoKind, actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*wrapperspb.StringValue); ok {
			ctx.Respond(wrapperspb.String(ctx.ActorSystem().Address()))
		}
	}))
}

// newMember builds (without starting) a member of cluster name on host:port.
func newMember(t *testing.T, name string, p cluster.ClusterProvider, host string, port int, opts ...cluster.ConfigOption) *cluster.Cluster {
	t.Helper()
	// remote's default queue is 1,000,000 slots, 16 MB of heap per peer.
	rc := remote.Configure(host, port, remote.WithEndpointWriterQueueSize(10_000), remote.WithEndpointManagerQueueSize(10_000))
	opts = append([]cluster.ConfigOption{cluster.WithRequestTimeout(2 * time.Second)}, opts...)
	return cluster.New(NewActorSystem(t), cluster.Configure(name, p, disthash.New(), rc, opts...))
}

// fleet starts members at the same time and, when the test ends, shuts them all down at the
// same time: StartMember sleeps 1 s and a graceful Shutdown 2 s, which one after the other would
// not fit a probe's budget.
type fleet struct {
	mu      sync.Mutex
	members []*cluster.Cluster
}

func newFleet(t *testing.T) *fleet {
	f := &fleet{}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		var wg sync.WaitGroup
		for _, m := range f.members {
			wg.Go(func() {
				if p := shutdown(m); p != nil {
					t.Logf("member %s: Shutdown panicked (recovered; see shutdown): %v", m.ActorSystem.Address(), p)
				}
			})
		}
		wg.Wait()
	})
	return f
}

// shutdown shuts m down gracefully and returns what Shutdown panicked with, if it did. When a
// peer's stream ends while m shuts down, Shutdown may panic with "send on closed channel":
// remote's endpointManager.stop sends on the disconnect channel of every endpoint reader it
// holds, and a reader whose stream just ended has closed its channel but not yet dropped it
// from that map (endpoint_manager.go, stop; endpoint_reader.go, Receive). Members that shut down
// together, as a fleet's do, hit it now and then. The panic comes after the actor system,
// provider and gossip were stopped and before the gRPC server was, so shutdown stops that.
func shutdown(m *cluster.Cluster) (panicked any) {
	defer func() {
		if panicked = recover(); panicked != nil {
			m.Remote.Shutdown(false)
		}
	}()
	m.Shutdown(true)
	return nil
}

// start starts members together and returns when all have started.
func (f *fleet) start(members ...*cluster.Cluster) {
	f.mu.Lock()
	f.members = append(f.members, members...)
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(m.StartMember)
	}
	wg.Wait()
}

func request(c *cluster.Cluster, identity, kind string, opts ...cluster.GrainCallOption) (string, error) {
	resp, err := c.Request(identity, kind, wrapperspb.String(identity), opts...)
	if err != nil {
		return "", fmt.Errorf("request %s/%s: %w", kind, identity, err)
	}
	s, ok := resp.(*wrapperspb.StringValue)
	if !ok {
		return "", fmt.Errorf("request %s/%s: answer %T", kind, identity, resp)
	}
	return s.Value, nil
}

func waitMembers(t *testing.T, ctx context.Context, tops []*Topology, n int) {
	t.Helper()
	for i, top := range tops {
		if _, err := top.Wait(ctx, func(ids []string) bool { return len(ids) == n }); err != nil {
			t.Fatalf("member %d: want %d members: %v", i, n, err)
		}
	}
}

const etcdBaseKey = "/protoactor" // etcd.New's

// etcdMember builds a member of cluster name whose etcd provider uses a client configured by cc.
func etcdMember(t *testing.T, cc clientv3.Config, name string) (*cluster.Cluster, *Topology) {
	t.Helper()
	// The provider's client is never closed (Shutdown leaves it open, and this version has no
	// option to pass one in); it retries a stopped etcd quietly with EtcdConfig's logger.
	p, err := etcd.NewWithConfig(etcdBaseKey, cc)
	if err != nil {
		t.Fatalf("etcd provider: %v", err)
	}
	m := newMember(t, name, p, "127.0.0.1", FreePort(t), cluster.WithKinds(newEchoKind()))
	return m, FollowTopology(m)
}

// etcdMemberID is the id under which the etcd provider registers m, and which member lists carry.
func etcdMemberID(m *cluster.Cluster) string { return m.Config.Name + "@" + m.ActorSystem.ID }

// TestEtcdProviderConcurrentStart starts 3 etcd members at the same time, 5 times, and checks each
// member's view against etcd.
//
// Found here: the watch race (TestEtcdProviderWatchRace) needs a registration to land in the few
// milliseconds between a member's read of the member list and the opening of its watch. In one
// process it did not show up: 0 of about 100 rounds diverged, where the notes saw it in 1 of 17
// start-ups of separate processes. So this probe does not assert that the views converge, which
// protoactor does not guarantee; it asserts what the workaround needs: etcd holds every member
// once StartMember has returned, and MembershipCheck reports exactly the views that lack one
// after 5 s. It logs every divergence it sees.
func TestEtcdProviderConcurrentStart(t *testing.T) {
	skipUnderRace(t)
	endpoint := StartEtcd(t)
	client := EtcdClient(t, endpoint)
	const rounds, size = 5, 3
	f := newFleet(t)
	diverged := 0
	for r := range rounds {
		name := fmt.Sprintf("start%02d", r)
		members := make([]*cluster.Cluster, size)
		views := make(map[string]*Topology, size)
		tops := make([]*Topology, size)
		for i := range members {
			members[i], tops[i] = etcdMember(t, EtcdConfig(endpoint), name)
			views[etcdMemberID(members[i])] = tops[i]
		}
		f.start(members...)
		check := &MembershipCheck{Client: client, BaseKey: etcdBaseKey, ClusterName: name, Views: views}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		registered, err := EtcdMemberIDs(ctx, client, etcdBaseKey, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(registered) != size {
			t.Fatalf("round %d: etcd holds %v, want %d members: StartMember registers before it returns", r, registered, size)
		}
		converged := true
		for _, top := range tops {
			if _, err := top.Wait(ctx, func(ids []string) bool { return len(ids) == size }); err != nil {
				converged = false
			}
		}
		cancel()
		divs, err := check.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case converged && len(divs) > 0:
			t.Fatalf("round %d: views agree, yet MembershipCheck reports %v", r, divs)
		case !converged && len(divs) == 0:
			t.Fatalf("round %d: a view lacks a member after 5 s, yet MembershipCheck reports none", r)
		case !converged:
			diverged++
			t.Logf("round %d: watch race: views differ from etcd after 5 s: %v", r, divs)
		}
	}
	t.Logf("etcd provider, %d members started together: %d of %d rounds diverged", size, diverged, rounds)
}

// delayStream delays the opening of the client streams of one gRPC method by d, and closes
// opened once the first of them is open.
func delayStream(method string, d time.Duration, opened chan<- struct{}) grpc.StreamClientInterceptor {
	var once sync.Once
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, m string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if m != method {
			return streamer(ctx, desc, cc, m, opts...)
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s, err := streamer(ctx, desc, cc, m, opts...)
		if err == nil {
			once.Do(func() { close(opened) })
		}
		return s, err
	}
}

// TestEtcdProviderWatchRace reproduces the etcd provider's watch race on purpose, and shows that
// MembershipCheck reports it. The provider reads the member list, starts its watch in a
// goroutine without the revision of that read (etcd_provider.go: keepWatching calls Watch with
// WithPrefix only) and registers itself; a member that registers between the read and the
// creation of the watch is never seen, and nothing reads the list again. Here member A's etcd
// client opens its Watch stream 1 s late, and B starts once A is registered: B lands in that
// window, and A's view stays without B while etcd and B's view hold both.
//
// If A comes to see B, the provider watches from its read's revision now: the race is fixed.
// The probe ends with that fix on a plain watch.
func TestEtcdProviderWatchRace(t *testing.T) {
	skipUnderRace(t)
	endpoint := StartEtcd(t)
	client := EtcdClient(t, endpoint)
	const name = "watchrace"
	watchOpen := make(chan struct{})
	slow := EtcdConfig(endpoint)
	slow.DialOptions = []grpc.DialOption{grpc.WithChainStreamInterceptor(delayStream("/etcdserverpb.Watch/Watch", 1500*time.Millisecond, watchOpen))}
	a, topA := etcdMember(t, slow, name)
	b, topB := etcdMember(t, EtcdConfig(endpoint), name)
	idA, idB := etcdMemberID(a), etcdMemberID(b)
	f := newFleet(t)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	aStarted := make(chan struct{})
	go func() {
		defer close(aStarted)
		f.start(a)
	}()
	for {
		ids, err := EtcdMemberIDs(ctx, client, etcdBaseKey, name)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ids, idA) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.start(b) // registers B before it returns
	select {
	case <-watchOpen:
		t.Fatal("A's watch opened before B registered: B took longer than the 1.5 s window to start")
	default:
	}
	<-aStarted
	if _, err := topB.Wait(ctx, func(ids []string) bool { return slices.Equal(ids, sorted(idA, idB)) }); err != nil {
		t.Fatalf("B's view: %v", err)
	}
	select {
	case <-watchOpen:
	case <-ctx.Done():
		t.Fatal("A's watch never opened")
	}
	// A watch that started from the read's revision would replay B's registration right away.
	time.Sleep(200 * time.Millisecond)

	check := &MembershipCheck{Client: client, BaseKey: etcdBaseKey, ClusterName: name,
		Views: map[string]*Topology{idA: topA, idB: topB}}
	reports := make(chan []Divergence, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go check.Poll(pollCtx, 100*time.Millisecond, func(divs []Divergence, err error) {
		if err != nil && pollCtx.Err() == nil {
			t.Errorf("poll: %v", err)
			return
		}
		select {
		case reports <- divs:
		default:
		}
	})
	want := []Divergence{{Member: idA, Missing: []string{idB}}}
	select {
	case divs := <-reports:
		if !equalDivergences(divs, want) {
			t.Fatalf("MembershipCheck reports %v, want %v (A sees %v; if it sees B, the etcd provider may watch from its read's revision now: watch race fixed?)",
				divs, want, topA.MemberIDs())
		}
		t.Logf("watch race reproduced; MembershipCheck reports %v", divs)
	case <-ctx.Done():
		t.Fatal("MembershipCheck reported nothing")
	}

	// The fix, for a provider of our own: watch from the revision after the read. Opened as
	// late as A's, such a watch still delivers B's registration.
	prefix := etcdBaseKey + "/" + name + "/"
	got, err := client.Get(ctx, prefix+idA)
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get A's key: %v %v", got, err)
	}
	events := client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(got.Kvs[0].CreateRevision+1))
	for resp := range events {
		if slices.ContainsFunc(resp.Events, func(ev *clientv3.Event) bool { return string(ev.Kv.Key) == prefix+idB }) {
			return
		}
	}
	t.Fatalf("a watch from after A's registration did not deliver B's: %v", ctx.Err())
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func equalDivergences(a, b []Divergence) bool {
	return slices.EqualFunc(a, b, func(x, y Divergence) bool {
		return x.Member == y.Member && slices.Equal(x.Missing, y.Missing) && slices.Equal(x.Extra, y.Extra)
	})
}

// TestCompareMembership pins the comparison that MembershipCheck makes, without a cluster.
func TestCompareMembership(t *testing.T) {
	registered := []string{"c@1", "c@2", "c@3"}
	got := CompareMembership(registered, map[string][]string{
		"c@1": {"c@1", "c@2", "c@3"},
		"c@3": {"c@1", "c@3", "c@9"},
		"c@2": {"c@2"},
	})
	want := []Divergence{
		{Member: "c@2", Missing: []string{"c@1", "c@3"}},
		{Member: "c@3", Missing: []string{"c@2"}, Extra: []string{"c@9"}},
	}
	if !equalDivergences(got, want) {
		t.Fatalf("CompareMembership = %v, want %v", got, want)
	}
	if got := persistent(want, []Divergence{want[1], {Member: "c@2", Missing: []string{"c@1"}}}); !equalDivergences(got, want[1:]) {
		t.Fatalf("persistent = %v, want %v", got, want[1:])
	}
}

// placementIDs are the identities that the placement probes spread: channel ids as decimal
// strings, and ULID-like ones (chat message and channel ids are ULIDs), drawn from a fixed seed.
func placementIDs(n int) (decimal, ulids []string) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford base32, as ULIDs
	rng := rand.New(rand.NewPCG(1, 2))
	decimal, ulids = make([]string, n), make([]string, n)
	for i := range n {
		decimal[i] = "channel-" + strconv.Itoa(i)
		b := make([]byte, 26)
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		ulids[i] = string(b)
	}
	return decimal, ulids
}

// rendezvousSplit counts how many of ids protoactor's rendezvous hash (the one disthash places
// grains with) gives to each of members, in their order.
func rendezvousSplit(members []*cluster.Member, ids []string) []int {
	r := cluster.NewRendezvous()
	r.UpdateMembers(members)
	counts := make([]int, len(members))
	for _, id := range ids {
		owner := r.GetByClusterIdentity(cluster.NewClusterIdentity(id, echoKind))
		counts[slices.IndexFunc(members, func(m *cluster.Member) bool { return m.Address() == owner })]++
	}
	return counts
}

func membersAt(addrs ...string) []*cluster.Member {
	out := make([]*cluster.Member, len(addrs))
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			panic(err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			panic(err)
		}
		out[i] = &cluster.Member{Id: strconv.Itoa(i), Host: host, Port: int32(p), Kinds: []string{echoKind}}
	}
	return out
}

func skew(counts []int) float64 {
	return float64(slices.Max(counts)) / float64(slices.Min(counts))
}

// TestPlacementSkew measures how disthash's rendezvous hash (FNV-1a 32 over identity||address,
// cluster/rendezvous.go) splits 10,000 identities over 3 members. Only the bytes after the
// first one in which the addresses differ mix into the score, so members that differ in the
// last digit of their port get about 2:1:1; hosts that differ 5 bytes from the end (127.0.0.1,
// .2, .3 on one port) about 1.25:1, and names that differ early (ermine-0.ermine, …) an even
// split. The split is a pure function of the addresses, so these numbers are exact; the live
// probe below checks that a running cluster places grains by the same function.
func TestPlacementSkew(t *testing.T) {
	decimal, ulids := placementIDs(10_000)
	for _, c := range []struct {
		name    string
		addrs   []string
		maxSkew float64 // largest max/min allowed
		minSkew float64 // smallest max/min expected: the skew this probe pins
	}{
		{"ports 8091-8093", []string{"127.0.0.1:8091", "127.0.0.1:8092", "127.0.0.1:8093"}, 2.2, 1.8},
		{"ports 8090-8092", []string{"127.0.0.1:8090", "127.0.0.1:8091", "127.0.0.1:8092"}, 2.2, 1.8},
		{"ports apart", []string{"127.0.0.1:4101", "127.0.0.1:5297", "127.0.0.1:6733"}, 1.5, 1.2},
		{"hosts 127.0.0.1-3", []string{"127.0.0.1:8091", "127.0.0.2:8091", "127.0.0.3:8091"}, 1.35, 1.1},
		{"hosts 127.0.1-3.1", []string{"127.0.1.1:8091", "127.0.2.1:8091", "127.0.3.1:8091"}, 1.15, 1},
		{"names ermine-0-2", []string{"ermine-0.ermine:8091", "ermine-1.ermine:8091", "ermine-2.ermine:8091"}, 1.05, 1},
	} {
		d, u := rendezvousSplit(membersAt(c.addrs...), decimal), rendezvousSplit(membersAt(c.addrs...), ulids)
		t.Logf("%-18s %v: decimal ids %v (%.2f:1), ULIDs %v (%.2f:1)", c.name, c.addrs, d, skew(d), u, skew(u))
		for _, counts := range [][]int{d, u} {
			if s := skew(counts); s > c.maxSkew || s < c.minSkew {
				t.Errorf("%s: split %v is %.2f:1, want within [%.2f, %.2f]", c.name, counts, s, c.minSkew, c.maxSkew)
			}
		}
	}
}

// portOnAll returns a TCP port that is free on every one of hosts.
func portOnAll(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 20 {
		port := FreePort(t)
		free := true
		for _, h := range hosts {
			l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return 0
}

// TestPlacementSkewLive runs two 3-member clusters (test provider), one on 127.0.0.1 with 3
// ports, one on 127.0.0.1-3 with one port, activates 300 grains from one member of each, and
// checks that every grain sits where cluster.Rendezvous over the members' addresses says: the
// measurements of TestPlacementSkew hold for running clusters. It logs both live splits.
func TestPlacementSkewLive(t *testing.T) {
	skipUnderRace(t)
	const n = 300
	ids, _ := placementIDs(n)
	f := newFleet(t)
	ports := FreePorts(t, 3)
	port := portOnAll(t, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	for _, c := range []struct {
		name  string
		hosts []string
		ports []int
	}{
		{"ports", []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}, ports},
		{"hosts", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, []int{port, port, port}},
	} {
		agent := test.NewInMemAgent()
		members := make([]*cluster.Cluster, 3)
		tops := make([]*Topology, 3)
		for i := range members {
			members[i] = newMember(t, "placement-"+c.name, test.NewTestProvider(agent), c.hosts[i], c.ports[i], cluster.WithKinds(newEchoKind()))
			tops[i] = FollowTopology(members[i])
		}
		f.start(members...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		waitMembers(t, ctx, tops, 3)
		cancel()

		addrs := make([]string, 3)
		for i, m := range members {
			addrs[i] = m.ActorSystem.Address()
		}
		expected := membersAt(addrs...)
		r := cluster.NewRendezvous()
		r.UpdateMembers(expected)
		counts := make([]int, 3)
		for _, id := range ids {
			owner, err := request(members[0], id, echoKind)
			if err != nil {
				t.Fatal(err)
			}
			if want := r.GetByClusterIdentity(cluster.NewClusterIdentity(id, echoKind)); owner != want {
				t.Fatalf("%s: %s placed on %s, rendezvous says %s", c.name, id, owner, want)
			}
			counts[slices.Index(addrs, owner)]++
		}
		full, _ := placementIDs(10_000)
		t.Logf("%s %v: %d live grains split %v; 10,000 ids over these addresses: %v", c.name, addrs, n, counts, rendezvousSplit(expected, full))
	}
}

// noProvider is a cluster provider that finds no members. The client probe needs one because the
// test provider's StartClient panics itself: it never sets the cluster it logs through
// (test_provider.go, StartClient then notifyStatuses).
type noProvider struct{}

func (noProvider) StartMember(*cluster.Cluster) error { return nil }
func (noProvider) StartClient(*cluster.Cluster) error { return nil }
func (noProvider) Shutdown(bool) error                { return nil }

// TestClientShutdownPanics pins that Shutdown panics on a member started with StartClient,
// whatever the provider: gossip is never started for a client (cluster.go, StartClient), and
// Shutdown's first call, Gossip.SetState, calls its nil throttler. The panic comes before the
// actor system and the gRPC server are stopped, so whoever recovers it must stop both, as here.
func TestClientShutdownPanics(t *testing.T) {
	c := newMember(t, "client", noProvider{}, "127.0.0.1", FreePort(t))
	c.StartClient()
	addr := c.ActorSystem.Address()
	panicked := func() (p any) {
		defer func() { p = recover() }()
		c.Shutdown(true)
		return nil
	}()
	if panicked == nil {
		t.Fatal("Shutdown of a client did not panic: the client path may be fixed, revisit the advice to start gateways with StartMember")
	}
	t.Logf("Shutdown of a StartClient member panicked: %v", panicked)
	c.ActorSystem.Shutdown()
	c.Remote.Shutdown(false) // graceful would stop the endpoint manager, which may panic itself
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("%s still accepts connections after the recovery", addr)
	}
}

// TestKindlessMemberShutdown checks the path ermine takes instead of StartClient for a process
// that only calls grains: StartMember with no kinds of its own. It reaches the grains of the
// member that hosts them, is given none of them (disthash places a kind only on members that
// host it; every member still hosts protoactor's own pub/sub kind), and Shutdown does not panic.
func TestKindlessMemberShutdown(t *testing.T) {
	skipUnderRace(t)
	agent := test.NewInMemAgent()
	host := newMember(t, "kindless", test.NewTestProvider(agent), "127.0.0.1", FreePort(t), cluster.WithKinds(newEchoKind()))
	caller := newMember(t, "kindless", test.NewTestProvider(agent), "127.0.0.1", FreePort(t))
	callerTop := FollowTopology(caller)
	f := newFleet(t)
	var wg sync.WaitGroup
	wg.Go(func() { f.start(host) })
	caller.StartMember() // not in the fleet: its Shutdown is what this probe checks
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitMembers(t, ctx, []*Topology{callerTop}, 2)
	for i := range 20 {
		owner, err := request(caller, "grain-"+strconv.Itoa(i), echoKind)
		if err != nil {
			t.Fatal(err)
		}
		if owner != host.ActorSystem.Address() {
			t.Fatalf("grain-%d placed on %s, want the host %s", i, owner, host.ActorSystem.Address())
		}
	}
	if p := func() (p any) {
		defer func() { p = recover() }()
		caller.Shutdown(true)
		return nil
	}(); p != nil {
		t.Fatalf("Shutdown of a member without kinds panicked: %v", p)
	}
}

// withCallDefaults is a cluster.ConfigOption that gives every c.Request of the cluster opts
// before the call's own. cluster.WithRetryAction, WithRetryCount and WithTimeout are
// GrainCallOptions, options of one call: cluster.Configure does not take them, and this is how
// a cluster-wide default reaches it. It wraps the context that Configure installed, so it must
// come after any WithClusterContextProducer. RequestFuture is passed through untouched: it
// applies its options to a package-level default (cluster/grain.go, DefaultGrainCallConfig),
// which would change them for every cluster in the process.
func withCallDefaults(opts ...cluster.GrainCallOption) cluster.ConfigOption {
	return func(cfg *cluster.Config) {
		inner := cfg.ClusterContextProducer
		cfg.ClusterContextProducer = func(c *cluster.Cluster) cluster.Context {
			return callDefaults{Context: inner(c), opts: opts}
		}
	}
}

type callDefaults struct {
	cluster.Context
	opts []cluster.GrainCallOption
}

func (d callDefaults) Request(identity, kind string, msg any, opts ...cluster.GrainCallOption) (any, error) {
	return d.Context.Request(identity, kind, msg, append(slices.Clone(d.opts), opts...)...)
}

// TestRetryBackoff pins that the default retry back-off is in nanoseconds: cluster/grain.go's
// RetryAction sleeps time.Duration(i*i*50), 50, 200 and 450 ns where milliseconds were meant,
// so a request whose grain cannot be placed yet (no member hosts its kind, or the topology has
// not arrived) spends its 3 attempts at once and fails with "have reached max retries". A
// RetryAction that sleeps milliseconds is a GrainCallOption: per call, or for the whole
// cluster through cluster.Configure(..., withCallDefaults(cluster.WithRetryAction(...))).
func TestRetryBackoff(t *testing.T) {
	m := newMember(t, "retry", test.NewTestProvider(test.NewInMemAgent()), "127.0.0.1", FreePort(t), cluster.WithKinds(newEchoKind()))
	newFleet(t).start(m)
	const nokind = "nokind" // hosted by no member: disthash finds no owner, and Request retries

	def := cluster.NewGrainCallOptions(m)
	start := time.Now()
	for i := 0; i < def.RetryCount; {
		i = def.RetryAction(i)
	}
	slept := time.Since(start)
	t.Logf("default RetryAction: %d retries slept %v in all (50+200+450 ms would be 700ms)", def.RetryCount, slept)
	if slept > 20*time.Millisecond {
		t.Fatalf("default RetryAction slept %v for %d retries: no longer nanoseconds?", slept, def.RetryCount)
	}

	backoff := func(i int) int { // 10, 40, 90 ms
		i++
		time.Sleep(time.Duration(i*i) * 10 * time.Millisecond)
		return i
	}
	const minBackoff = 140 * time.Millisecond
	for _, c := range []struct {
		name string
		ctx  cluster.Context
		opts []cluster.GrainCallOption
		min  time.Duration
		max  time.Duration
	}{
		{name: "default", ctx: m, max: 100 * time.Millisecond},
		{name: "per call", ctx: m, opts: []cluster.GrainCallOption{cluster.WithRetryAction(backoff)}, min: minBackoff, max: 2 * time.Second},
		{name: "cluster-wide", ctx: cluster.Configure("retry", nil, nil, nil, withCallDefaults(cluster.WithRetryAction(backoff))).ClusterContextProducer(m),
			min: minBackoff, max: 2 * time.Second},
	} {
		start := time.Now()
		_, err := c.ctx.Request("x", nokind, wrapperspb.String("x"), c.opts...)
		took := time.Since(start)
		t.Logf("%s back-off: failed after %v: %v", c.name, took, err)
		if err == nil || !strings.Contains(err.Error(), "have reached max retries: 3") {
			t.Fatalf("%s: err %v, want max retries", c.name, err)
		}
		if took < c.min || took > c.max {
			t.Fatalf("%s: failed after %v, want within [%v, %v]", c.name, took, c.min, c.max)
		}
	}
}
