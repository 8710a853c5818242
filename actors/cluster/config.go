// Package cluster is ermine's cluster mode: an actors.Directory that spreads one bot's owners over
// the nodes of a protoactor-go cluster, so that the same binary and the same handlers, run on
// several machines, share a bot's servers and channels — their caches and their handlers.
//
// Placement. Server and channel owners are grouped into partitions (Config.Partitions per kind,
// by a hash of the entity id that every node computes alike); each partition is a grain of the
// kind "ermine-owners" (identity "channel-17"), placed by the cluster's identity lookup
// (protoactor's disthash: rendezvous hashing over the members). A partition's grain hands what
// it receives to the owners of its node, which run in a local directory (actors.LocalDirectory)
// as in one process. The connection is a grain too ("ermine-conn", identity the shard name):
// where it is active, that node runs the connection's reader, its in-flight budget, its shard
// owner and the user directory (whose only durable source is the connection: its Ready). Every
// node touches the connection's grain twice a second, so that when the connection's node dies a
// survivor activates it and connects.
//
// Order and loss. Every node sends, per partition, one ordered stream of numbered batches (a
// link): per-entity order holds from the reader to an owner on another node, and a partition
// applies each number once. The sender keeps what it sent until the partition's node has taken
// it (BatchAck), and the events (numbered Dispatches) until their owner has processed them
// (Processed, which also releases the reader's in-flight budget). When the cluster's topology
// changes and a partition's grain is placed on another node, its links start a new epoch: the
// owners of the new node first get what Hooks.Moved gives (the rebuild of the moved owners from
// the API), then every event not yet processed, again — handlers may run twice for those (at
// least once; Dispatch.redelivered tells them), then what came since.
//
// protoactor-go's known failure paths (measured in shared/design/protoactor-notes.md; probed
// in internal/clustertest):
//   - State lost on every grain move: the moved owners are rebuilt from the API (Hooks.Moved);
//     a connection that takes over learns what the owners hold and backfills (the kill tests).
//   - Fire-and-forget sends lost after a move: acks, re-sends, and a lookup again for a link
//     whose batches wait over 2 s for their ack.
//   - The nanosecond retry back-off: no protoactor retries are used; links back off from 20 ms
//     to 1 s, and a lookup that a dead member would hold for its hard-coded 5 s is abandoned
//     after 0.5 s and asked again.
//   - Placement skew of members that differ only by port: documented (Config.Bind); the tests
//     run nodes on 127.0.1.1, 127.0.2.1, 127.0.3.1.
//   - The 16 MB queue per remote peer: 10k slots.
//   - Shutdown panicking on a client member: nodes are always members (StartMember); the panic
//     Shutdown can raise when a peer closes at the same moment is recovered.
//   - A member started before the others see it: the connection starts once MinMembers are
//     seen and the members agree on the topology (gossip consensus), not on a view of its own.
//   - Data races in protoactor's gossip under -race: the cluster tests run nodes as separate
//     processes, built without -race.
//   - Not handled: a paused member (SIGSTOP) is blocked for good by the others when it resumes
//     (protoactor never lets a member that failed a health check back); its partitions have
//     moved and it receives nothing, but if it held the connection it still reads events, which
//     its own owners then apply: run nodes under a supervisor that restarts them when /healthz
//     shows fewer members than expected. etcd's watch may miss a member at start-up
//     (internal/clustertest shows it and a check against etcd's member list); the runtime does
//     not run that check.
package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Config is a node's place in a cluster.
type Config struct {
	// Name is the cluster's name: nodes of one bot share it (default "ermine").
	Name string
	// Bind is the host:port the node's remote transport listens on (default 127.0.0.1:0: a free
	// port on loopback; other nodes reach it at that address). Members that differ only by
	// port are placed unevenly by protoactor's rendezvous hashing (2:1:1 on three members): give
	// each node its own address (127.0.0.2, 127.0.0.3 on one machine).
	Bind string
	// Provider is the membership provider: "automanaged" (the default: a static list of seeds,
	// each member serving its health on HealthPort, no other dependency) or "etcd".
	Provider string
	// Seeds are, for automanaged, the host:port of every member's health endpoint, this one's
	// included.
	Seeds []string
	// HealthPort is, for automanaged, the port this member serves its health on (protoactor
	// binds it on every interface).
	HealthPort int
	// Etcd are, for etcd, the endpoints of the etcd cluster (http://127.0.0.1:2379).
	Etcd []string
	// Partitions is the number of partitions of each owner kind (default 64): the unit of
	// placement and of failover.
	Partitions int
	// MinMembers is how many members the cluster must have before the connection starts
	// (default 1): starting the nodes of a cluster together with their number here places
	// every partition once, rather than on the first node and then again on each that joins.
	MinMembers int
	// Shard is the name of the connection (the shard key's id).
	Shard string
	// Logger receives the cluster's logs (protoactor's own at Warn and above); default none.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "ermine"
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1:0"
	}
	if c.Provider == "" {
		c.Provider = "automanaged"
	}
	if c.Partitions <= 0 {
		c.Partitions = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// hostPort splits Bind; port 0 picks a free one (protoactor needs the number before it listens,
// to advertise it).
func (c Config) hostPort() (string, int, error) {
	host, p, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: bind address %q: %w", c.Bind, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: bind port %q: %w", p, err)
	}
	if port == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", 0, fmt.Errorf("cluster: finding a free port on %s: %w", host, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	return host, port, nil
}

// Timings. A link that cannot resolve its grain (no member hosts the kind yet, or the placement
// changes under it) retries with a back-off between resolveMin and resolveMax; touchEvery is
// how often every node touches the connection's grain.
const (
	resolveMin    = 20 * time.Millisecond
	resolveMax    = time.Second
	touchEvery    = 500 * time.Millisecond
	consensusWait = 5 * time.Second
	batchMax      = 512
)
