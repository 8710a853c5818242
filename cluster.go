package ermine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/actors/cluster"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ClusterConfig makes the bot one node of a cluster (Config.Cluster): the nodes of one bot,
// running the same binary with the same handlers and the same token, share its servers and
// channels — their owners, caches and handlers — and one of them runs the connection. See
// package actors/cluster for placement, order and failover.
//
// In cluster mode:
//   - A handler runs on the node that owns its event's entity; Context.Redelivered tells an
//     event sent again after that node died (handlers run at least once).
//   - Bot.Cache reads what this node's owners hold; Bot.Read reads any entity from its owner's
//     node (an error, never a silent "not cached"); ClusterCache writes the whole cluster's.
//     The context's accessors (Context.Channel, Server, Author, Member, Permissions) and
//     Bot.Permissions read this node's cache and, for what it lacks, the owner's node (one round
//     trip each, within 2 s); Context.Me too (the connected user lives with the connection).
//   - WaitFor waits on this node: a wait for an event of the handler's own entity works (it is
//     owned here); a wait for another entity's event works if that entity's owner is on this
//     node.
//   - Cache bounds (Cache.MaxMessages, MaxUsers) are per node. The REST rate limiter is the
//     cluster's: the nodes share their token's buckets at the API, so each request waits at the
//     connection's node's limiter (one round trip), unless Config.REST gives a limiter of its own.
type ClusterConfig = cluster.Config

// clusterHooks is what the runtime does for the cluster directory.
func (b *Bot) clusterHooks() cluster.Hooks {
	return cluster.Hooks{
		Moved: func(keys []actors.Key, gate func(actors.Key, any)) {
			if b.cluster.HoldsConnection() {
				b.backfill.rebuildMoved(keys, gate)
			}
		},
		Connect:   b.runClusterConnection,
		Processed: b.budget.Processed,
		Describe: func(key actors.Key) (string, int, bool) {
			switch key.Kind {
			case actors.KindChannel:
				if ch := b.store.Channel(key.ID); ch != nil {
					return ch.GetLastMessageId(), 0, true
				}
			case actors.KindServer:
				if b.store.Server(key.ID) != nil {
					return "", b.store.MemberCount(key.ID), true
				}
			}
			return "", 0, false
		},
		Delivered: func(d time.Duration) { b.metrics.delivery.Observe(d.Seconds()) },
		Read:      b.readLocal,
		Limit: func(ctx context.Context, w *clusterpb.LimitWait) (uint64, error) {
			return b.limiter.grant(ctx, w)
		},
		LimitDone: func(d *clusterpb.LimitDone) { b.limiter.done(d) },
		Dump: func() ([]byte, error) {
			var buf bytes.Buffer
			err := b.store.WriteCanonicalJSON(&buf)
			return buf.Bytes(), err
		},
	}
}

// runCluster is Run in cluster mode: the node joins the cluster and hosts its share of the
// owners until ctx ends; the connection runs wherever the cluster placed it.
func (b *Bot) runCluster(ctx context.Context) error {
	if b.cfg.MetricsAddr != "" {
		stop, err := b.serveMetrics(ctx, b.cfg.MetricsAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := b.cluster.Start(ctx); err != nil {
		return err
	}
	b.logger.Info("ermine: joined the cluster", "node", b.cluster.Node(), "cluster", b.cfg.Cluster.Name)
	select {
	case <-ctx.Done():
	case <-b.pipeline.Base.Done(): // Close was called
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	return b.Close(closeCtx)
}

// takeoverWindow is how far before a takeover the channels whose owners died with the previous
// connection's node are backfilled from: more than the time to notice a dead node (about 1 s
// with automanaged, 3 s with etcd's lease) and to place the connection again.
const takeoverWindow = 15 * time.Second

// connectionSettle is how long the connection's grain must stay on a node before it connects.
const connectionSettle = 300 * time.Millisecond

// runClusterConnection runs the connection on this node until ctx ends (the connection's grain
// was placed here). A connection that takes over from another node first learns what the
// owners hold, so that its Ready is a re-Ready: the gaps are backfilled and the handlers get the
// diff.
func (b *Bot) runClusterConnection(ctx context.Context, shard string) {
	// A placement made on a view the other members did not share yet is undone within
	// milliseconds (seen at start-up): settle first, rather than open a second connection.
	select {
	case <-ctx.Done():
		return
	case <-time.After(connectionSettle):
	}
	began := time.Now()
	b.logger.Info("ermine: the connection's grain is placed on this node; learning what the owners hold", "node", b.cluster.Node())
	// Streams numbered above any an earlier connection's reader gave (the owners drop events of
	// an older stream); nanoseconds leave room for clocks a little apart.
	b.budget.TakeOver(uint64(began.UnixNano()))
	src := b.newSource(shard)
	src.router.GapChannels = b.cfg.Backfill.channels()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	infos, err := b.cluster.KeyInfos(lctx, 0)
	cancel()
	if err != nil {
		b.logger.Warn("ermine: learning what the owners hold before connecting failed; what is missing is not backfilled", "err", err)
	}
	var servers []string
	channels := map[string]string{}
	for _, in := range infos {
		switch actors.Kind(in.GetKey().GetKind()) {
		case actors.KindServer:
			servers = append(servers, in.GetKey().GetId())
		case actors.KindChannel:
			channels[in.GetKey().GetId()] = in.GetLastMessageId()
		}
	}
	src.router.Learn(servers, channels)
	if len(servers)+len(channels) > 0 {
		// The owners that died with the previous connection's node knew what they had handled;
		// their channels are backfilled from a while before the takeover (at least once: a
		// message their handlers had seen may come again, marked recovered).
		src.router.UnknownSeen = cacheactors.IDAt(began.Add(-takeoverWindow))
		// A takeover: the entities of the Ready that no owner holds were owned on the node that
		// died with the connection; they are rebuilt after it.
		src.held = map[string]bool{}
		for _, s := range servers {
			src.held[s] = true
		}
		for ch := range channels {
			src.held[ch] = true
		}
	}
	b.logger.Info("ermine: this node runs the connection", "node", b.cluster.Node(), "servers", len(servers), "channels", len(channels),
		"learned_in", time.Since(began).Round(time.Millisecond))
	if err := b.connect(ctx, src); err != nil && ctx.Err() == nil {
		b.logger.Error("ermine: the connection ended", "err", err)
	}
}

// rebuildUnheld rebuilds, after a takeover's Ready, its servers and channels that no owner held
// (see runClusterConnection), and forgets what was held.
func (s *source) rebuildUnheld(ready *stoatpb.ReadyEvent) {
	if s.held == nil {
		return
	}
	var keys []actors.Key
	for _, srv := range ready.GetServers() {
		if !s.held[srv.GetId()] {
			keys = append(keys, actors.Key{Kind: actors.KindServer, ID: srv.GetId()})
		}
	}
	for _, ch := range ready.GetChannels() {
		if !s.held[ch.GetId()] {
			keys = append(keys, actors.Key{Kind: actors.KindChannel, ID: ch.GetId()})
		}
	}
	s.held = nil
	s.b.backfill.rebuildInBackground(keys)
}

// memberCounts returns how many members the cache holds per server: in cluster mode asked of
// the partitions (the servers live on every node), else read from the Store.
func (b *Bot) memberCounts() func(server string) int {
	if b.cluster == nil {
		return b.store.MemberCount
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	infos, err := b.cluster.KeyInfos(ctx, actors.KindServer)
	if err != nil {
		b.logger.Warn("ermine: asking the cluster for its member lists failed; some are not fetched again after the Ready", "err", err)
	}
	counts := make(map[string]int, len(infos))
	for _, in := range infos {
		counts[in.GetKey().GetId()] = int(in.GetMembers())
	}
	return func(server string) int { return counts[server] }
}

// ClusterCache writes the cache of every node of the cluster as one canonical JSON document
// (the one Cache().WriteCanonicalJSON writes in one process, and `ermine replay` prints). Out of
// cluster mode it is the local cache's.
func (b *Bot) ClusterCache(ctx context.Context, w io.Writer) error {
	if b.cluster == nil {
		return b.store.WriteCanonicalJSON(w)
	}
	dumps, err := b.cluster.Dumps(ctx)
	if err != nil {
		return err
	}
	docs := make([][]byte, 0, len(dumps))
	for _, d := range dumps {
		docs = append(docs, d.Cache)
	}
	return cacheactors.MergeCanonicalJSON(w, docs...)
}

// serveClusterCache is GET /debug/cache: the whole cluster's cache.
func (b *Bot) serveClusterCache(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := b.ClusterCache(r.Context(), &buf); err != nil {
		http.Error(w, fmt.Sprintf("ermine: %v", err), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}

// errNotClustered is returned by cluster-only calls out of cluster mode.
var errNotClustered = errors.New("ermine: not in cluster mode")

// ClusterStats returns this node's cluster counters.
func (b *Bot) ClusterStats() (cluster.Stats, error) {
	if b.cluster == nil {
		return cluster.Stats{}, errNotClustered
	}
	return b.cluster.ClusterStats(), nil
}
