package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pacluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/proto/ownerpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cluster kinds, and the name of every node's own actor (acks, dumps).
const (
	kindOwners = "ermine-owners"
	kindConn   = "ermine-conn"
	nodeActor  = "ermine-node"
)

// Hooks are what the runtime on a node does for the directory.
type Hooks struct {
	// Moved is called when a partition this node sends to was placed on another node, with the
	// server and channel owners this node had sent messages to there; what it passes to emit
	// reaches them first, before everything re-sent (the runtime begins their rebuild there).
	Moved func(keys []actors.Key, emit func(actors.Key, any))
	// Connect is called when the connection's grain is activated on this node: the node is to
	// run the connection until ctx ends (the grain stopped, or the node closes).
	Connect func(ctx context.Context, shard string)
	// Processed receives, on the connection's node, the owners' acknowledgements of the events
	// (the reader's in-flight budget).
	Processed func(key actors.Key, stream, seq uint64)
	// Describe says what the owner of key on this node holds: a channel's newest message id,
	// a server's cached member count (what a new connection's router learns); ok is false if it
	// holds nothing.
	Describe func(key actors.Key) (lastMessageID string, members int, ok bool)
	// Dump writes this node's part of the cache as the canonical JSON document.
	Dump func() ([]byte, error)
	// Read answers what this node's cache holds of the entity of key (id: a user's, for the
	// user directory), for a read from another node.
	Read func(key actors.Key, id string) *clusterpb.ReadAnswer
	// Limit and LimitDone serve, on the connection's node, the REST rate limiter every node
	// shares (the other nodes ask through CallConnection and TellConnection).
	Limit     func(ctx context.Context, w *clusterpb.LimitWait) (permit uint64, err error)
	LimitDone func(*clusterpb.LimitDone)
	// Delivered observes, for each batch this node sent, the time until its partition's node
	// acknowledged it (the remote delivery latency).
	Delivered func(time.Duration)
}

// Directory is an actors.Directory over a protoactor cluster (see the package documentation).
type Directory struct {
	cfg   Config
	hooks Hooks
	local *actors.LocalDirectory
	sys   *actor.ActorSystem
	c     *pacluster.Cluster
	self  string // this node's address
	log   *slog.Logger

	mu    sync.RWMutex
	links map[string]*link // by grain name (kind/identity)
	// servers and channels are the partitions' grains, conn the connection's: named once, so
	// that routing a message allocates nothing.
	servers, channels []grainName
	conn0             grainName
	closed            bool

	stop    context.CancelFunc
	ctx     context.Context
	started atomic.Bool
	conn    atomic.Pointer[connState]

	stats counters
}

// connState is the connection's grain while it is active on this node.
type connState struct {
	stop context.CancelFunc
	done chan struct{}
}

// counters are the cluster's own metrics.
type counters struct {
	batchesSent, envelopesSent, resent, moves, activations, remoteApplied atomic.Uint64
}

// Stats are a node's cluster counters.
type Stats struct {
	// Node is this node's address; Members the cluster's, as this node sees them.
	Node    string
	Members []string
	// Connection reports whether the connection runs on this node.
	Connection bool
	// Partitions is the number of partition grains active on this node.
	Partitions int64
	// Batches and Envelopes count what this node's links sent; Resent the envelopes sent again
	// after a move; Moves the partitions seen moving; Applied the envelopes this node's grains
	// handed to its owners; Activations the grains activated here.
	Batches, Envelopes, Resent, Moves, Applied, Activations uint64
	// Unacked is the number of envelopes sent and not yet taken (or, for events, not yet
	// processed) by their partition.
	Unacked int
}

// New returns the directory of a node: factory makes the owners hosted here (as for
// actors.NewLocal, with opts). Start joins the cluster.
func New(cfg Config, factory actors.Factory, hooks Hooks, opts ...actors.LocalOption) (*Directory, error) {
	cfg = cfg.withDefaults()
	host, port, err := cfg.hostPort()
	if err != nil {
		return nil, err
	}
	d := &Directory{cfg: cfg, hooks: hooks, links: map[string]*link{}, log: cfg.Logger,
		servers: partitionNames(actors.KindServer, cfg.Partitions), channels: partitionNames(actors.KindChannel, cfg.Partitions),
		conn0: grainName{kind: kindConn, identity: cfg.Shard, name: kindConn + "/" + cfg.Shard}}
	d.sys = actors.NewSystem(cfg.Logger)
	// The owners' messages to each other go through the cluster: their target may be elsewhere.
	d.local = actors.NewLocal(factory, append([]actors.LocalOption{actors.WithSystem(d.sys), actors.WithLogger(cfg.Logger),
		actors.WithOutbox(d.Deliver)}, opts...)...)
	var provider pacluster.ClusterProvider
	switch cfg.Provider {
	case "automanaged":
		if cfg.HealthPort == 0 || len(cfg.Seeds) == 0 {
			return nil, errors.New("cluster: the automanaged provider needs a health port and the seeds (every member's host:health-port)")
		}
		provider = automanaged.NewWithConfig(time.Second, cfg.HealthPort, cfg.Seeds...)
	case "etcd":
		if len(cfg.Etcd) == 0 {
			return nil, errors.New("cluster: the etcd provider needs endpoints")
		}
		p, err := etcd.NewWithConfig("/ermine", clientv3.Config{Endpoints: cfg.Etcd, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("cluster: connecting to etcd %v: %w", cfg.Etcd, err)
		}
		provider = p
	default:
		return nil, fmt.Errorf("cluster: unknown provider %q (automanaged or etcd)", cfg.Provider)
	}
	owners := pacluster.NewKind(kindOwners, actor.PropsFromProducer(func() actor.Actor { return &grain{d: d} }))
	conn := pacluster.NewKind(kindConn, actor.PropsFromProducer(func() actor.Actor { return &grain{d: d, conn: true} }))
	// A queue of 10k per peer instead of protoactor's 1M slots (16 MB of heap per peer).
	rc := remote.Configure(host, port, remote.WithEndpointWriterQueueSize(10_000), remote.WithEndpointWriterBatchSize(batchMax))
	d.c = pacluster.New(d.sys, pacluster.Configure(cfg.Name, provider, disthash.New(), rc,
		pacluster.WithKinds(owners, conn), pacluster.WithRequestTimeout(2*time.Second)))
	d.self = rc.Address()
	return d, nil
}

// Start joins the cluster and begins touching the connection's grain; it returns at once (the
// links wait for members).
func (d *Directory) Start(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("cluster: started twice")
	}
	d.ctx, d.stop = context.WithCancel(context.WithoutCancel(ctx))
	d.c.StartMember() // sleeps 1 s (protoactor)
	d.self = d.sys.Address()
	if _, err := d.sys.Root.SpawnNamed(actor.PropsFromFunc(d.receiveNode), nodeActor); err != nil {
		return fmt.Errorf("cluster: spawning the node actor: %w", err)
	}
	d.sys.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(*pacluster.ClusterTopology); ok {
			d.topologyChanged()
		}
	})
	go d.touchLoop()
	return nil
}

// System is the node's actor system.
func (d *Directory) System() *actor.ActorSystem { return d.sys }

// HoldsConnection reports whether the connection runs on this node.
func (d *Directory) HoldsConnection() bool { return d.conn.Load() != nil }

// Node is this node's address.
func (d *Directory) Node() string { return d.self }

// grainName names a grain: its kind, its identity, and both as the link's name.
type grainName struct{ kind, identity, name string }

func partitionNames(k actors.Kind, n int) []grainName {
	out := make([]grainName, n)
	for p := range out {
		id := k.String() + "-" + strconv.Itoa(p)
		out[p] = grainName{kind: kindOwners, identity: id, name: kindOwners + "/" + id}
	}
	return out
}

// grainOf is the grain of key's owner: its partition's (by FNV-1a of the id, the same on every
// node), or the connection's for the shard owner and the user directory.
func (d *Directory) grainOf(key actors.Key) *grainName {
	var parts []grainName
	switch key.Kind {
	case actors.KindServer:
		parts = d.servers
	case actors.KindChannel:
		parts = d.channels
	default:
		return &d.conn0 // the shard owner and the user directory live with the connection
	}
	h := uint32(2166136261)
	for i := 0; i < len(key.ID); i++ {
		h ^= uint32(key.ID[i])
		h *= 16777619
	}
	return &parts[h%uint32(len(parts))]
}

// Deliver implements actors.Directory: msg goes on the link of key's partition.
func (d *Directory) Deliver(key actors.Key, msg any) {
	l := d.link(d.grainOf(key))
	if l == nil {
		return // closed
	}
	l.push(key, msg)
}

// link returns the link to a grain, made on first use; nil once closed.
func (d *Directory) link(g *grainName) *link {
	d.mu.RLock()
	l, closed := d.links[g.name], d.closed
	d.mu.RUnlock()
	if l != nil || closed {
		return l
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	if l = d.links[g.name]; l == nil {
		l = newLink(d, g.kind, g.identity)
		d.links[g.name] = l
	}
	return l
}

// resolveWait is how long a grain lookup is waited for. protoactor's lookup asks the owning
// member's activator and waits up to 5 s (hard-coded), which a member that just died never
// answers; right after a topology change the lookup may still pick it. The lookup is left to
// finish in the background and asked again, by then with the new topology.
const resolveWait = 500 * time.Millisecond

// get resolves a grain's activation, or nil if it is not known within resolveWait.
func (d *Directory) get(identity, kind string) *actor.PID {
	res := make(chan *actor.PID, 1)
	go func() { res <- d.c.Get(identity, kind) }()
	select {
	case pid := <-res:
		return pid
	case <-time.After(resolveWait):
		return nil
	}
}

// request sends msg to a grain and waits for the answer, at most max or until ctx's deadline
// (see resolveWait).
func (d *Directory) request(ctx context.Context, identity, kind string, msg any, max time.Duration) (any, error) {
	pid := d.get(identity, kind)
	if pid == nil {
		return nil, fmt.Errorf("cluster: no activation of %s/%s known yet", kind, identity)
	}
	return d.sys.Root.RequestFuture(pid, msg, within(ctx, max)).Result()
}

// within is max, or less if ctx's deadline comes first.
func within(ctx context.Context, max time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return min(max, time.Until(dl))
	}
	return max
}

// closing reports whether Close was called.
func (d *Directory) closing() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}

// topologyChanged makes every link check where its grain is now.
func (d *Directory) topologyChanged() {
	d.mu.RLock()
	links := make([]*link, 0, len(d.links))
	for _, l := range d.links {
		links = append(links, l)
	}
	d.mu.RUnlock()
	for _, l := range links {
		l.recheck()
	}
}

// Acker returns what the owners of this node acknowledge events to: on the connection's node
// the hooks' Processed (and the links' retention), elsewhere a Processed message to it.
func (d *Directory) Acker(backlog func(actors.Key) int) actors.Acker {
	return acker{d: d, backlog: backlog}
}

type acker struct {
	d       *Directory
	backlog func(actors.Key) int
}

func (a acker) Processed(key actors.Key, stream, seq uint64) {
	if a.d.conn.Load() != nil {
		a.d.processed(key, stream, seq)
		return
	}
	a.d.Deliver(actors.Key{Kind: actors.KindShard, ID: a.d.cfg.Shard},
		&ownerpb.Processed{Owner: &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(key.Kind), Id: key.ID}, Stream: stream, Seq: seq})
}

func (a acker) Backlog(key actors.Key) int {
	if a.backlog == nil || a.d.conn.Load() == nil {
		return 0
	}
	return a.backlog(key)
}

// processed is an owner's acknowledgement arriving on the connection's node.
func (d *Directory) processed(key actors.Key, stream, seq uint64) {
	d.mu.RLock()
	l := d.links[d.grainOf(key).name]
	d.mu.RUnlock()
	if l != nil {
		l.processed(key, stream, seq)
	}
	if d.hooks.Processed != nil {
		d.hooks.Processed(key, stream, seq)
	}
}

// receiveNode is the node actor: acks of this node's links, and dumps.
func (d *Directory) receiveNode(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *clusterpb.BatchAck:
		if i := strings.LastIndexByte(m.Link, '|'); i >= 0 {
			d.mu.RLock()
			l := d.links[m.Link[i+1:]]
			d.mu.RUnlock()
			if l != nil {
				l.acked(m.Epoch, m.Seq)
			}
		}
	case *clusterpb.DumpRequest:
		reply := &clusterpb.DumpReply{Node: d.self, Owners: map[string]int64{}}
		for k, n := range d.local.Stats().Active {
			reply.Owners[k.String()] = int64(n)
		}
		if d.hooks.Dump != nil {
			b, err := d.hooks.Dump()
			if err != nil {
				d.log.Warn("cluster: dumping this node's cache failed", "err", err)
			}
			reply.Cache = b
		}
		ctx.Respond(reply)
	}
}

// touchLoop keeps the connection's grain active somewhere. It starts touching once MinMembers
// are seen and the members agree on the topology (protoactor's gossip consensus, waited for at
// most consensusWait): a member that placed the grain by a view others do not share yet would
// see it placed again a moment later — a second connection, and a takeover, at every start.
func (d *Directory) touchLoop() {
	t := time.NewTicker(touchEvery)
	defer t.Stop()
	agreed := false
	for {
		if !agreed && d.c.MemberList.Members().Len() >= max(d.cfg.MinMembers, 1) {
			ctx, cancel := context.WithTimeout(d.ctx, consensusWait)
			_, agreed = d.c.MemberList.TopologyConsensus(ctx)
			cancel()
			agreed = agreed || d.ctx.Err() == nil // after the wait, go on regardless
		}
		if agreed && d.c.MemberList.Members().Len() >= max(d.cfg.MinMembers, 1) {
			_, _ = d.request(d.ctx, d.cfg.Shard, kindConn, &clusterpb.Touch{}, time.Second)
		}
		d.recheckStale()
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// staleAfter is how long a batch may wait for its ack before its link looks its grain up again.
const staleAfter = 2 * time.Second

// recheckStale makes the links whose oldest batch waits too long for its ack look their grain
// up again: if it moved, they send again what they keep.
func (d *Directory) recheckStale() {
	d.mu.RLock()
	var stale []*link
	for _, l := range d.links {
		if l.stale(staleAfter) {
			stale = append(stale, l)
		}
	}
	d.mu.RUnlock()
	for _, l := range stale {
		l.recheck()
	}
}

// CallConnection sends msg to the connection's grain and waits for its answer, at most max or
// until ctx's deadline.
func (d *Directory) CallConnection(ctx context.Context, msg any, max time.Duration) (any, error) {
	return d.request(ctx, d.cfg.Shard, kindConn, msg, max)
}

// TellConnection sends msg to the connection's grain, without an answer.
func (d *Directory) TellConnection(msg any) error {
	pid := d.get(d.cfg.Shard, kindConn)
	if pid == nil {
		return errors.New("cluster: the connection's grain is not known yet")
	}
	d.sys.Root.Send(pid, msg)
	return nil
}

// Read asks the node of key's owner what its cache holds of the entity (id: a user's, with a
// user-directory key), within 5 s or ctx's deadline.
func (d *Directory) Read(ctx context.Context, key actors.Key, id string) (*clusterpb.ReadAnswer, error) {
	g := d.grainOf(key)
	res, err := d.request(ctx, g.identity, g.kind, &clusterpb.ReadRequest{Key: &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(key.Kind), Id: key.ID}, Id: id}, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cluster: reading %s from its owner's node: %w", key, err)
	}
	a, ok := res.(*clusterpb.ReadAnswer)
	if !ok {
		return nil, fmt.Errorf("cluster: reading %s: unexpected answer %T", key, res)
	}
	return a, nil
}

// Members returns the addresses of the cluster's members as this node sees them.
func (d *Directory) Members() []string {
	var out []string
	for _, m := range d.c.MemberList.Members().Members() {
		out = append(out, m.Address())
	}
	return out
}

// Dumps asks every member for its part of the cache.
func (d *Directory) Dumps(ctx context.Context) ([]*clusterpb.DumpReply, error) {
	var out []*clusterpb.DumpReply
	var errs []error
	for _, addr := range d.Members() {
		res, err := d.sys.Root.RequestFuture(actor.NewPID(addr, nodeActor), &clusterpb.DumpRequest{}, within(ctx, 5*time.Second)).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster: asking %s for its cache: %w", addr, err))
			continue
		}
		if r, ok := res.(*clusterpb.DumpReply); ok {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

// Keys implements actors.Directory: the owners that hold state anywhere in the cluster, with
// what they hold (KeyInfos answers the same with the details).
func (d *Directory) Keys(ctx context.Context, kind actors.Kind) ([]actors.Key, error) {
	infos, err := d.KeyInfos(ctx, kind)
	keys := make([]actors.Key, len(infos))
	for i, in := range infos {
		keys[i] = actors.Key{Kind: actors.Kind(in.GetKey().GetKind()), ID: in.GetKey().GetId()}
	}
	return keys, err
}

// KeyInfos asks every partition of kind (0: server and channel) what its owners hold.
func (d *Directory) KeyInfos(ctx context.Context, kind actors.Kind) ([]*clusterpb.KeyInfo, error) {
	var kinds []actors.Kind
	switch kind {
	case 0:
		kinds = []actors.Kind{actors.KindServer, actors.KindChannel}
	case actors.KindServer, actors.KindChannel:
		kinds = []actors.Kind{kind}
	default:
		return nil, fmt.Errorf("cluster: owners of kind %s live with the connection", kind)
	}
	var ids []string
	for _, k := range kinds {
		for p := range d.cfg.Partitions {
			ids = append(ids, k.String()+"-"+strconv.Itoa(p))
		}
	}
	// In parallel, each asked again after a timeout: right after a node died, a partition's
	// cached activation may still be the dead one's until the topology reaches this node.
	answers := make([][]*clusterpb.KeyInfo, len(ids))
	errs := make([]error, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(8, len(ids)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
				for try := 0; ; try++ {
					res, err := d.request(ctx, ids[i], kindOwners, &clusterpb.KeysQuery{}, time.Second)
					if a, ok := res.(*clusterpb.KeysAnswer); ok && err == nil {
						answers[i], errs[i] = a.Keys, nil
						break
					}
					errs[i] = fmt.Errorf("cluster: asking partition %s for its keys: %w", ids[i], err)
					if try == 4 || ctx.Err() != nil {
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	var out []*clusterpb.KeyInfo
	for _, a := range answers {
		out = append(out, a...)
	}
	return out, errors.Join(errs...)
}

// Stats implements actors.Directory: the owners of this node.
func (d *Directory) Stats() actors.Stats { return d.local.Stats() }

// ClusterStats returns the node's cluster counters.
func (d *Directory) ClusterStats() Stats {
	st := Stats{Node: d.self, Members: d.Members(), Connection: d.conn.Load() != nil,
		Batches: d.stats.batchesSent.Load(), Envelopes: d.stats.envelopesSent.Load(), Resent: d.stats.resent.Load(),
		Moves: d.stats.moves.Load(), Applied: d.stats.remoteApplied.Load(), Activations: d.stats.activations.Load()}
	if ak, ok := d.c.TryGetClusterKind(kindOwners); ok {
		st.Partitions = int64(ak.Count())
	}
	d.mu.RLock()
	for _, l := range d.links {
		st.Unacked += l.unacked()
	}
	d.mu.RUnlock()
	return st
}

// Pending implements actors.Directory: messages not yet handled by this node's owners, and not
// yet taken by the partitions this node sends to.
func (d *Directory) Pending() int {
	n := d.local.Pending()
	d.mu.RLock()
	for _, l := range d.links {
		n += l.pending()
	}
	d.mu.RUnlock()
	return n
}

// Close implements actors.Directory: it stops the links, the connection if it runs here, the
// owners of this node (as LocalDirectory.Close does) and leaves the cluster.
func (d *Directory) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	links := d.links
	d.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	if d.stop != nil {
		d.stop()
	}
	if cs := d.conn.Load(); cs != nil {
		cs.stop()
		<-cs.done
	}
	err := d.local.Close(ctx)
	if d.started.Load() {
		err = errors.Join(err, d.shutdown())
	}
	return err
}

// shutdown leaves the cluster. protoactor's Shutdown can panic ("send on closed channel") when
// a peer's connection closes at the same moment; the node is stopping anyway.
func (d *Directory) shutdown() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: leaving the cluster: protoactor panicked: %v", r)
		}
	}()
	d.c.Shutdown(true)
	return nil
}
