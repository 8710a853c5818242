package ermine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
)

// MetricsHandler serves the bot's Prometheus metrics at /metrics and its health at /healthz (200
// while the connection is up, 503 otherwise, with a JSON body: the connection's state and the
// age of the last event). Config.MetricsAddr serves it on its own listener; a program with an
// HTTP server of its own can mount it instead.
//
// The metrics are read from the runtime's counters when scraped (nothing is counted twice on
// the hot path); the cache's estimated bytes walk the whole cache, so they are refreshed at most
// every cacheBytesEvery.
func (b *Bot) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.registry, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("/healthz", b.serveHealth)
	mux.HandleFunc("GET /debug/cache", b.serveClusterCache)
	return mux
}

// cacheBytesEvery bounds how often a scrape recomputes the cache's estimated bytes.
const cacheBytesEvery = 30 * time.Second

// metrics is the bot's Prometheus side: a registry with the bot's collector and the pipeline's
// latency histogram, which the in-flight budget feeds (one event in actors.LatencySampleEvery).
type metrics struct {
	registry *prometheus.Registry
	latency  prometheus.Histogram
	// delivery is the cluster's remote delivery latency (batch sent → taken by its node).
	delivery prometheus.Histogram

	mu         sync.Mutex // guards the cached cache stats
	cacheAt    time.Time
	cacheStats cacheactors.Stats
}

func newMetrics(b *Bot) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ermine_event_latency_seconds",
			Help: "Time from an event's routing (right after decoding) to the end of its processing by its owner, sampled.",
			// 50µs to ~3s.
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 13),
		}),
	}
	m.delivery = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ermine_cluster_delivery_seconds",
		Help:    "Cluster mode: time from a batch of owner messages sent to another node to its acknowledgement.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 13),
	})
	m.registry.MustRegister(m.latency, m.delivery, collector{b})
	return m
}

func (m *metrics) cache(s *cacheactors.Store) cacheactors.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.cacheAt) >= cacheBytesEvery {
		m.cacheStats, m.cacheAt = s.Stats(), time.Now()
	}
	return m.cacheStats
}

// collector turns Bot.Stats into metrics at each scrape.
type collector struct{ b *Bot }

var (
	descEvents      = prometheus.NewDesc("ermine_events_total", "Events routed to their owners, by type.", []string{"type"}, nil)
	descShed        = prometheus.NewDesc("ermine_typing_events_shed_total", "Typing events dropped under in-flight pressure.", nil, nil)
	descFrames      = prometheus.NewDesc("ermine_frames_total", "WebSocket frames read.", nil, nil)
	descFrameBytes  = prometheus.NewDesc("ermine_frame_bytes_total", "Payload bytes of the frames read.", nil, nil)
	descDecodeErrs  = prometheus.NewDesc("ermine_decode_errors_total", "Frames that could not be decoded (the connection went on).", nil, nil)
	descSkipped     = prometheus.NewDesc("ermine_decode_items_skipped_total", "Malformed items of frames skipped while the rest applied.", nil, nil)
	descReconnects  = prometheus.NewDesc("ermine_reconnects_total", "Connection attempts after the first.", nil, nil)
	descConnected   = prometheus.NewDesc("ermine_connected", "1 while the connection is up (Ready received).", nil, nil)
	descHandlerErrs = prometheus.NewDesc("ermine_handler_errors_total", "Handlers that returned an error.", nil, nil)
	descPanics      = prometheus.NewDesc("ermine_handler_panics_total", "Handlers that panicked.", nil, nil)
	descAutoDetach  = prometheus.NewDesc("ermine_handler_auto_detached_total", "Handlers detached because they blocked their owner past DetachAfter.", nil, nil)
	descDetached    = prometheus.NewDesc("ermine_handlers_detached", "Handlers running detached now.", nil, nil)
	descCancelled   = prometheus.NewDesc("ermine_events_cancelled_total", "Events whose cache update a handler cancelled.", nil, nil)
	descInFlight    = prometheus.NewDesc("ermine_inflight_events", "Events routed and not yet processed.", nil, nil)
	descStalls      = prometheus.NewDesc("ermine_inflight_stalls_total", "Times the reader waited past StallAfter for the in-flight budget.", nil, nil)
	descOwners      = prometheus.NewDesc("ermine_owners", "Active owners, by kind.", []string{"kind"}, nil)
	descActivations = prometheus.NewDesc("ermine_owner_activations_total", "Owner activations.", nil, nil)
	descPassivated  = prometheus.NewDesc("ermine_owner_passivations_total", "Owners passivated because they were idle.", nil, nil)
	descCrashes     = prometheus.NewDesc("ermine_owner_crashes_total", "Panics in an owner (its state was reset).", nil, nil)
	descGateTimeout = prometheus.NewDesc("ermine_gate_timeouts_total", "Waits of the owner protocol past GateTimeout.", nil, nil)
	descEntries     = prometheus.NewDesc("ermine_cache_entries", "Cached entries, by kind.", []string{"kind"}, nil)
	descCacheBytes  = prometheus.NewDesc("ermine_cache_bytes", "Estimated heap bytes of the cache, by kind.", []string{"kind"}, nil)
	descCacheWrites = prometheus.NewDesc("ermine_cache_writes_total", "Cache writes, by the cache context they were made in (the event class or read site, as stoat.py names them).", []string{"context"}, nil)
	descCacheReads  = prometheus.NewDesc("ermine_cache_reads_total", "Cache reads made on the bot's behalf, by cache context.", []string{"context"}, nil)
	descBackfilled  = prometheus.NewDesc("ermine_backfilled_channels_total", "Channels backfilled after reconnects.", nil, nil)
	descRecovered   = prometheus.NewDesc("ermine_backfilled_messages_total", "Messages a reconnect's backfill recovered.", nil, nil)
	descDuplicates  = prometheus.NewDesc("ermine_duplicate_events_total", "MessageCreate events dropped as duplicates of one already run (backfilled and live; two connections during a takeover).", nil, nil)
	descRebuilt     = prometheus.NewDesc("ermine_rebuilds_total", "Server and channel owners rebuilt from the API (Resync, truncated gaps, member lists after a re-Ready).", nil, nil)
	descRESTReqs    = prometheus.NewDesc("ermine_rest_requests_total", "REST requests (each attempt), by route.", []string{"route"}, nil)
	descRESTLimited = prometheus.NewDesc("ermine_rest_rate_limited_total", "REST responses 429 Too Many Requests, by route.", []string{"route"}, nil)

	descClMembers    = prometheus.NewDesc("ermine_cluster_members", "Members of the cluster, as this node sees them.", nil, nil)
	descClConnection = prometheus.NewDesc("ermine_cluster_connection_here", "1 if the connection runs on this node.", nil, nil)
	descClPartitions = prometheus.NewDesc("ermine_cluster_partitions", "Owner partitions placed on this node.", nil, nil)
	descClActivated  = prometheus.NewDesc("ermine_cluster_activations_total", "Grain activations on this node (partitions and the connection).", nil, nil)
	descClBatches    = prometheus.NewDesc("ermine_cluster_batches_sent_total", "Batches this node sent to partitions.", nil, nil)
	descClEnvelopes  = prometheus.NewDesc("ermine_cluster_messages_sent_total", "Owner messages this node sent to partitions.", nil, nil)
	descClMoves      = prometheus.NewDesc("ermine_cluster_failovers_total", "Partitions this node saw placed on another node (a member died or joined).", nil, nil)
	descClResent     = prometheus.NewDesc("ermine_cluster_resent_total", "Owner messages sent again after a failover (events not yet processed included).", nil, nil)
	descClApplied    = prometheus.NewDesc("ermine_cluster_applied_total", "Owner messages this node's partitions handed to its owners.", nil, nil)
	descClUnacked    = prometheus.NewDesc("ermine_cluster_unacked", "Owner messages kept for a re-send: not yet taken by their partition's node, or events not yet processed (the acknowledgement lag).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descShed, descFrames, descFrameBytes, descDecodeErrs, descSkipped,
		descReconnects, descConnected, descHandlerErrs, descPanics, descAutoDetach, descDetached, descCancelled,
		descInFlight, descStalls, descOwners, descActivations, descPassivated, descCrashes, descGateTimeout,
		descEntries, descCacheBytes, descCacheWrites, descCacheReads, descBackfilled, descRecovered, descRebuilt, descDuplicates, descRESTReqs, descRESTLimited,
		descClMembers, descClConnection, descClPartitions, descClActivated, descClBatches, descClEnvelopes, descClMoves, descClResent,
		descClApplied, descClUnacked} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	st := b.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for t := stoatpb.EventType(1); t < stoatpb.NumEventTypes; t++ {
		if n := b.byType[t].Load(); n > 0 {
			counter(descEvents, n, t.String())
		}
	}
	counter(descShed, st.ShedTyping)
	counter(descFrames, st.Shard.Frames)
	counter(descFrameBytes, st.Shard.Bytes)
	counter(descDecodeErrs, st.Shard.DecodeErrors)
	counter(descSkipped, st.Shard.ItemsSkipped)
	counter(descReconnects, st.Shard.Reconnects)
	gauge(descConnected, boolGauge(b.connected()))
	counter(descHandlerErrs, st.HandlerErrors)
	counter(descPanics, st.HandlerPanics)
	counter(descAutoDetach, st.AutoDetached)
	gauge(descDetached, float64(st.Detached))
	counter(descCancelled, st.Cancelled)
	gauge(descInFlight, float64(st.InFlight))
	counter(descStalls, st.Budget.Stalls)
	for k := actors.KindShard; k <= actors.KindUserDir; k++ {
		gauge(descOwners, float64(st.Owners.Active[k]), k.String())
	}
	counter(descActivations, st.Owners.Activations)
	counter(descPassivated, st.Owners.Passivations)
	counter(descCrashes, st.Owners.Crashes)
	counter(descGateTimeout, st.Gates.Timeouts+st.Gates.BarrierTimeouts)
	for kind, n := range b.store.Counts() {
		gauge(descEntries, float64(n), kind)
	}
	cs := b.metrics.cache(b.store)
	for kind, k := range map[string]cacheactors.KindStats{
		"users": cs.Users, "servers": cs.Servers, "channels": cs.Channels, "members": cs.Members, "messages": cs.Messages,
		"emojis": cs.Emojis, "voice_states": cs.VoiceStates, "read_states": cs.ReadStates, "webhooks": cs.Webhooks,
	} {
		gauge(descCacheBytes, float64(k.Bytes), kind)
	}
	writes, reads := b.store.ContextCounts()
	for kind, n := range writes {
		counter(descCacheWrites, n, kind.String())
	}
	for kind, n := range reads {
		counter(descCacheReads, n, kind.String())
	}
	counter(descBackfilled, b.backfill.channels.Load())
	counter(descRecovered, b.backfill.messages.Load())
	counter(descRebuilt, b.backfill.rebuilt.Load())
	counter(descDuplicates, b.deps.Duplicates())
	for _, r := range b.rest.Stats() {
		counter(descRESTReqs, r.Requests, r.Route)
		counter(descRESTLimited, r.RateLimited, r.Route)
	}
	if b.cluster != nil {
		cl := b.cluster.ClusterStats()
		gauge(descClMembers, float64(len(cl.Members)))
		gauge(descClConnection, boolGauge(cl.Connection))
		gauge(descClPartitions, float64(cl.Partitions))
		counter(descClActivated, cl.Activations)
		counter(descClBatches, cl.Batches)
		counter(descClEnvelopes, cl.Envelopes)
		counter(descClMoves, cl.Moves)
		counter(descClResent, cl.Resent)
		counter(descClApplied, cl.Applied)
		gauge(descClUnacked, float64(cl.Unacked))
	}
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// connected reports whether the connection is up (its Ready arrived).
func (b *Bot) connected() bool {
	sh := b.shard.Load()
	return sh != nil && sh.Stats().State == shardactor.StateReady
}

func (b *Bot) serveHealth(w http.ResponseWriter, _ *http.Request) {
	h := struct {
		Connected       bool     `json:"connected"`
		State           string   `json:"state"`
		LastEventAgeSec *float64 `json:"last_event_age_seconds,omitempty"`
		// In cluster mode: this node, the members it sees, whether the connection runs here.
		Node       string `json:"node,omitempty"`
		Members    int    `json:"members,omitempty"`
		Connection bool   `json:"connection_here,omitempty"`
	}{Connected: b.connected(), State: "not started"}
	if sh := b.shard.Load(); sh != nil {
		h.State = strings.ToLower(sh.Stats().State.String())
	}
	healthy := h.Connected
	if c := b.cluster; c != nil {
		// A node is healthy in the cluster; the connection's node also when connected.
		h.Node, h.Members, h.Connection = c.Node(), len(c.Members()), c.HoldsConnection()
		h.Connected = h.Connection && h.Connected
		healthy = h.Members > 0 && (!h.Connection || h.Connected)
	}
	if at := b.lastEvent.Load(); at != 0 {
		age := time.Since(time.Unix(0, at)).Seconds()
		h.LastEventAgeSec = &age
	}
	w.Header().Set("Content-Type", "application/json")
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}

// serveMetrics serves MetricsHandler on addr until ctx ends; the listener is open when it
// returns.
func (b *Bot) serveMetrics(ctx context.Context, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ermine: metrics listener: %w", err)
	}
	srv := &http.Server{Handler: b.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	b.logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}
