package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// runNode runs one node of a cluster: the same bot on every node (it counts the messages it
// handles), its owners spread over the nodes, the connection on the node the cluster places it.
// The admin address serves /metrics, /healthz, /debug/cache (the whole cluster's cache, the
// document `ermine replay` prints) and /debug/handled (the messages this node's handlers got).
func runNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	name := fs.String("cluster", "ermine", "the cluster's name (the nodes of one bot share it)")
	bind := fs.String("bind", "127.0.0.1:0", "host:port of the node's remote transport (give each node its own host: 127.0.0.2, 127.0.0.3 on one machine)")
	provider := fs.String("provider", "automanaged", "membership provider: automanaged or etcd")
	seeds := fs.String("seeds", "", "automanaged: comma-separated host:port of every node's health endpoint, this one's included")
	health := fs.Int("health-port", 0, "automanaged: the port this node serves its health on (protoactor binds it on every interface)")
	etcd := fs.String("etcd", "", "etcd: comma-separated endpoints (http://127.0.0.1:2379)")
	partitions := fs.Int("partitions", 0, "partitions per owner kind (0: the default, 64); every node must use the same")
	minMembers := fs.Int("min-members", 1, "members the cluster must have before the connection starts")
	api := fs.String("api", "https://api.stoat.chat", "the API URL; the events URL is discovered from it")
	token := fs.String("token", "", "the bot token; prefer $STOAT_TOKEN, since a flag shows in the process list")
	admin := fs.String("admin", "127.0.0.1:0", "host:port serving /metrics, /healthz, /debug/cache and /debug/handled")
	format := fs.String("format", "json", "wire format: json or msgpack")
	verbose := fs.Bool("v", false, "log at Info (default Warn) to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok := *token
	if tok == "" {
		tok = os.Getenv("STOAT_TOKEN")
	}
	if tok == "" {
		return errors.New("no token: set $STOAT_TOKEN or --token")
	}
	wf, err := bonfire.ParseFormat(*format)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cc := &ermine.ClusterConfig{Name: *name, Bind: *bind, Provider: *provider, HealthPort: *health,
		Seeds: splitList(*seeds), Etcd: splitList(*etcd), Partitions: *partitions, MinMembers: *minMembers}
	bot, err := ermine.New(ermine.Config{Token: tok, APIURL: *api, WireFormat: wf, Logger: logger, Cluster: cc})
	if err != nil {
		return err
	}
	handled := &handledLog{}
	ermine.Handle(bot, func(c *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
		handled.add(ev.GetMessage(), ev.GetRecovered(), c.Redelivered())
		if ev.GetMessage().GetContent() == "!whois" && !ev.GetRecovered() && !c.Redelivered() {
			// A REST call from whichever node owns the channel: the nodes share the limiter.
			if _, err := bot.REST().FetchUser(c, ev.GetMessage().GetAuthor()); err != nil {
				return err
			}
			handled.fetched.Add(1)
			// The channel's server, and the connected user, may be on another node: the
			// accessors read them there.
			if c.Server() != nil && c.Permissions() != 0 && c.Me() != nil {
				handled.withServer.Add(1)
			}
		}
		return nil
	})

	ln, err := net.Listen("tcp", *admin)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", bot.MetricsHandler())
	mux.Handle("GET /debug/handled", handled)
	mux.HandleFunc("GET /debug/read", func(w http.ResponseWriter, r *http.Request) { serveRead(w, r, bot) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	// The test harness and scripts read this line to find the admin address.
	fmt.Printf("admin http://%s\n", ln.Addr())
	return bot.Run(ctx)
}

// serveRead is GET /debug/read?kind=server|channel|user&id=ID: what the cluster's cache holds of
// one entity, read from its owner's node (ermine.Bot.Read), as JSON.
func serveRead(w http.ResponseWriter, r *http.Request, bot *ermine.Bot) {
	id, rd := r.URL.Query().Get("id"), bot.Read()
	var v any
	var err error
	switch r.URL.Query().Get("kind") {
	case "server":
		v, err = rd.Server(r.Context(), id)
	case "channel":
		v, err = rd.Channel(r.Context(), id)
	case "messages":
		v, err = rd.Messages(r.Context(), id)
	case "user":
		v, err = rd.User(r.Context(), id)
	default:
		http.Error(w, "kind: server, channel, messages or user", http.StatusBadRequest)
		return
	}
	switch {
	case errors.Is(err, ermine.ErrNotCached):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// handledLog records the messages this node's handlers got, in order.
type handledLog struct {
	mu      sync.Mutex
	msgs    []handledMessage
	fetched atomic.Int64 // users fetched for !whois
	// withServer counts the !whois whose handler read the channel's server, the author's
	// permissions and the connected user.
	withServer atomic.Int64
}

// handledMessage is one MessageCreateEvent as a node's handler got it.
type handledMessage struct {
	Channel     string `json:"channel"`
	ID          string `json:"id"`
	Recovered   bool   `json:"recovered,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`
	// At is when the handler got it (Unix nanoseconds).
	At int64 `json:"at"`
}

func (l *handledLog) add(m *stoatpb.Message, recovered, redelivered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, handledMessage{Channel: m.GetChannel(), ID: m.GetId(), Recovered: recovered, Redelivered: redelivered, At: time.Now().UnixNano()})
}

// ServeHTTP answers the messages, or with ?count=1 only their number.
func (l *handledLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("count") != "" {
		json.NewEncoder(w).Encode(struct {
			Count      int   `json:"count"`
			Fetched    int64 `json:"fetched"`
			WithServer int64 `json:"with_server"`
		}{len(l.msgs), l.fetched.Load(), l.withServer.Load()})
		return
	}
	json.NewEncoder(w).Encode(l.msgs)
}
