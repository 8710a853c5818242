package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/feed"
	"github.com/ermine-rt/ermine/internal/clustertest"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// The cluster tests run `ermine node` as separate processes on 127.0.0.1–3 against a fake
// Stoat in the test process, and compare the cluster's cache with `ermine replay` of what a
// single-process bot recorded from the same server.

// buildErmine builds the ermine binary once per test run.
var buildErmine = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ermine-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ermine")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// freePort returns a free TCP port on host.
func freePort(t testing.TB, host string) int {
	t.Helper()
	p, err := freeLoopbackPort(host)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// commonPort returns a port free on 127.0.1.1 … 127.0.count.1.
func commonPort(t testing.TB, count int) int {
	t.Helper()
	for range 50 {
		p := freePort(t, "127.0.1.1")
		ok := true
		for i := 2; i <= count && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:%d", i, p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no port free on every node's host")
	return 0
}

// node is one `ermine node` process.
type node struct {
	name  string
	cmd   *exec.Cmd
	admin string // http://host:port
	log   *bytes.Buffer
	mu    *sync.Mutex
	dead  bool
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// startNodes starts n nodes of one cluster with the automanaged provider (or etcd, given
// endpoints), each on its own loopback address.
func startNodes(t testing.TB, bin string, srv *stoattest.Server, count int, etcd string) []*node {
	t.Helper()
	type addr struct {
		host               string
		bind, health, admn int
	}
	addrs := make([]addr, count)
	var seeds []string
	// One port on every node's host, as in production (the hosts differ): placement hashes the
	// address, and ports that differ skew it.
	port := commonPort(t, count)
	for i := range addrs {
		host := fmt.Sprintf("127.0.%d.1", i+1)
		addrs[i] = addr{host: host, bind: port, health: freePort(t, "127.0.0.1"), admn: freePort(t, "127.0.0.1")}
		seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", addrs[i].health))
	}
	nodes := make([]*node, count)
	for i, a := range addrs {
		args := []string{"node", "--bind", fmt.Sprintf("%s:%d", a.host, a.bind), "--api", srv.URL,
			"--admin", fmt.Sprintf("127.0.0.1:%d", a.admn), "--min-members", strconv.Itoa(count), "-v"}
		if etcd != "" {
			args = append(args, "--provider", "etcd", "--etcd", etcd)
		} else {
			args = append(args, "--seeds", strings.Join(seeds, ","), "--health-port", strconv.Itoa(a.health))
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "STOAT_TOKEN="+srv.Token())
		n := &node{name: fmt.Sprintf("n%d", i+1), cmd: cmd, admin: fmt.Sprintf("http://127.0.0.1:%d", a.admn), log: &bytes.Buffer{}, mu: &sync.Mutex{}}
		w := &lockedWriter{mu: n.mu, w: n.log}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if !n.dead {
				n.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for _, n := range nodes {
			done := make(chan struct{})
			go func() { n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				n.cmd.Process.Kill()
				<-done
			}
			if dir := clusterLogDir(t); dir != "" {
				os.WriteFile(filepath.Join(dir, n.name+".log"), []byte(n.logs()), 0o644)
			}
			if t.Failed() {
				t.Logf("--- %s's log (tail):\n%s", n.name, tail(n.logs(), 30))
			}
		}
	})
	return nodes
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.Contains(l, "component=protoactor") || strings.Contains(l, "level=ERROR") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

type health struct {
	Connected  bool   `json:"connected"`
	Node       string `json:"node"`
	Members    int    `json:"members"`
	Connection bool   `json:"connection_here"`
}

func (n *node) health() (health, error) {
	var h health
	b, _, err := httpGet(n.admin + "/healthz")
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(b, &h)
}

// owners reads the node's server and channel owners from its metrics.
func (n *node) owners() int {
	m := scrape(n.admin)
	return int(m[`ermine_owners{kind="server"}`] + m[`ermine_owners{kind="channel"}`])
}

type handled struct {
	Channel     string `json:"channel"`
	ID          string `json:"id"`
	Recovered   bool   `json:"recovered"`
	Redelivered bool   `json:"redelivered"`
	At          int64  `json:"at"`
}

func (n *node) handled() ([]handled, error) {
	b, _, err := httpGet(n.admin + "/debug/handled")
	if err != nil {
		return nil, err
	}
	var out []handled
	return out, json.Unmarshal(b, &out)
}

// clusterWorld is SmallWorld with 150 text channels in its first server and no history (a
// channel rebuilt from the API then holds what the events brought, as a replay does).
func clusterWorld() *stoattest.World {
	w := stoattest.SmallWorld(11)
	w.Messages = map[string][]*stoatpb.Message{}
	for _, c := range w.Channels {
		c.LastMessageId = ""
	}
	lab := w.Servers[0]
	for i := len(lab.Channels); i < 150; i++ {
		c := &stoatpb.Channel{ChannelType: stoatpb.ChannelType_CHANNEL_TYPE_TEXT_CHANNEL, Id: fmt.Sprintf("01C1USTERCHANNE1%010d", i), Server: lab.Id, Name: fmt.Sprintf("c-%d", i)}
		w.Channels = append(w.Channels, c)
		lab.Channels = append(lab.Channels, c.Id)
	}
	return w
}

// waitConnected waits until a node, seeing every other, runs the connection, and returns it.
func waitConnected(t testing.TB, nodes []*node) *node {
	t.Helper()
	var conn *node
	waitFor(t, 60*time.Second, "a node runs the connection", func() (bool, string) {
		var states []string
		for _, n := range nodes {
			h, err := n.health()
			states = append(states, fmt.Sprintf("%s: %+v %v", n.name, h, err))
			if h.Connection && h.Connected && h.Members == len(nodes) {
				conn = n
			}
		}
		return conn != nil, strings.Join(states, "; ")
	})
	return conn
}

// waitFor polls cond every 100 ms until it holds or d passes.
// clusterLogDir is where a test keeps its nodes' logs and cache documents when
// ERMINE_CLUSTER_LOGS names a directory (a subdirectory per test), or "".
func clusterLogDir(t testing.TB) string {
	dir := os.Getenv("ERMINE_CLUSTER_LOGS")
	if dir == "" {
		return ""
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("ERMINE_CLUSTER_LOGS: %v", err)
		return ""
	}
	return dir
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, d, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterSurvivesANodeKill: three nodes share a bot; a node is killed with SIGKILL in the
// middle of the stream (one that holds owners, and, in another run, the one that holds the
// connection); afterwards a survivor's /debug/cache equals `ermine replay` of the stream a
// single-process bot recorded, every message posted after the kill reached a survivor's
// handlers, and each node's handlers saw each channel's live messages in id order.
func TestClusterSurvivesANodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process cluster")
	}
	bin, err := buildErmine()
	if err != nil {
		t.Fatal(err)
	}
	for _, victim := range []string{"owners", "connection"} {
		t.Run("kill-"+victim, func(t *testing.T) { runClusterKill(t, bin, victim, "") })
	}
	t.Run("etcd-kill-owners", func(t *testing.T) { runClusterKill(t, bin, "owners", clustertest.StartEtcd(t)) })
}

func runClusterKill(t *testing.T, bin, victim, etcd string) {
	srv := stoattest.NewServer(t, stoattest.WithWorld(clusterWorld()))
	w := srv.World()
	chans := w.Servers[0].Channels
	var authors []string
	for _, m := range w.Members {
		if m.GetId().GetServer() == w.Servers[0].Id {
			authors = append(authors, m.GetId().GetUser())
		}
	}
	// Every member of every server writes once, so that the reference caches every member (a
	// rebuilt server holds them all).
	var intro []*stoatpb.Message
	joined := map[string]bool{}
	for _, m := range w.Members {
		if m.GetId().GetUser() == w.Self.GetId() {
			joined[m.GetId().GetServer()] = true
		}
	}
	for _, s := range w.Servers {
		if !joined[s.Id] || len(s.Channels) == 0 {
			continue
		}
		for _, m := range w.Members {
			if m.GetId().GetServer() == s.Id {
				intro = append(intro, &stoatpb.Message{Channel: s.Channels[0], Author: m.GetId().GetUser(), Content: "hello"})
			}
		}
	}

	// The reference: one process, never disconnected, recording what it receives.
	var rec bytes.Buffer
	refHandled := make(chan struct{}, 10_000)
	ref, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, Record: &rec, Backfill: ermine.BackfillConfig{Channels: -1, MemberLists: -1},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ermine.Handle(ref, func(*ermine.Context, *stoatpb.MessageCreateEvent) error {
		refHandled <- struct{}{}
		return nil
	})
	refCtx, refStop := context.WithCancel(context.Background())
	refFeed, err := feed.Connect(refCtx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { refStop(); <-refFeed.Done() }()

	nodes := startNodes(t, bin, srv, 3, etcd)
	conn := waitConnected(t, nodes)
	waitFor(t, 30*time.Second, "the reference connects", func() (bool, string) { return srv.Stats().LiveReady >= 2, "" })

	posted := 0
	var afterKill []string
	channelOf := map[string]string{}
	post := func(i int, killed bool) {
		m, err := srv.PostMessage(&stoatpb.Message{Channel: chans[i%len(chans)], Author: authors[i%len(authors)], Content: fmt.Sprintf("message %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		posted++
		channelOf[m.Id] = m.Channel
		if killed {
			afterKill = append(afterKill, m.Id)
		}
	}
	for _, m := range intro {
		if _, err := srv.PostMessage(m); err != nil {
			t.Fatal(err)
		}
		posted++
	}
	for i := range len(chans) {
		post(i, false)
	}
	for i := range 200 {
		post(len(authors)+i, false)
		time.Sleep(2 * time.Millisecond)
	}
	// Owners are spread over the nodes: none holds more than half.
	total, most := 0, 0
	for _, n := range nodes {
		c := n.owners()
		total += c
		most = max(most, c)
	}
	if total == 0 || 2*most > total {
		t.Errorf("owners not spread: %d of %d on one node", most, total)
	}

	// Where the connection is now.
	for _, n := range nodes {
		if h, err := n.health(); err == nil && h.Connection {
			conn = n
		}
	}
	kill := nodes[0]
	if victim == "connection" {
		kill = conn
	} else if kill == conn {
		kill = nodes[1]
	}
	// The channels the victim owned: the failover time is until one of them handles a message
	// on a survivor.
	victimHandled, err := kill.handled()
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]bool{}
	for _, h := range victimHandled {
		moved[h.Channel] = true
	}
	killedAt := time.Now()
	if err := kill.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	kill.cmd.Wait()
	kill.dead = true
	t.Logf("killed %s (%s)", kill.name, victim)
	for i := range 200 {
		post(1000+i, true)
		time.Sleep(5 * time.Millisecond)
	}

	// The reference got everything; its recording replays to the cache the cluster must hold.
	for range posted {
		select {
		case <-refHandled:
		case <-time.After(30 * time.Second):
			t.Fatal("the reference bot did not get every message")
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := refFeed.Drain(dctx); err != nil {
		t.Fatal(err)
	}
	want := replayRecording(t, rec.Bytes())

	var survivors []*node
	for _, n := range nodes {
		if !n.dead {
			survivors = append(survivors, n)
		}
	}
	var got string
	if dir := clusterLogDir(t); dir != "" {
		defer func() {
			os.WriteFile(filepath.Join(dir, "got.json"), []byte(got), 0o644)
			os.WriteFile(filepath.Join(dir, "want.json"), []byte(want), 0o644)
			for _, n := range survivors {
				b, _, _ := httpGet(n.admin + "/debug/handled")
				os.WriteFile(filepath.Join(dir, n.name+".handled.json"), b, 0o644)
			}
		}()
	}
	waitFor(t, 60*time.Second, "a survivor's cache equals the replay", func() (bool, string) {
		b, code, err := httpGet(survivors[0].admin + "/debug/cache")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("%d %v %s", code, err, b)
		}
		got = string(b)
		return got == want, cacheDiff(got, want)
	})

	// Every channel reads from every survivor, wherever its owner is (Bot.Read).
	readStart := time.Now()
	reads := 0
	for _, n := range survivors {
		for _, ch := range chans {
			if _, code, err := httpGet(n.admin + "/debug/read?kind=channel&id=" + ch); err != nil || code != http.StatusOK {
				t.Errorf("%s: reading channel %s: %d %v", n.name, ch, code, err)
			}
			reads++
		}
	}
	readEach := time.Since(readStart) / time.Duration(reads)

	// Every message posted after the kill reached a survivor's handlers; each node saw each
	// channel's live messages in id order.
	seen := map[string]bool{}
	first := int64(0)
	for _, n := range survivors {
		hs, err := n.handled()
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]string{}
		for _, h := range hs {
			seen[h.ID] = true
			if moved[h.Channel] && h.At > killedAt.UnixNano() && (first == 0 || h.At < first) {
				first = h.At
			}
			if h.Recovered || h.Redelivered {
				continue
			}
			if h.ID <= last[h.Channel] {
				t.Errorf("%s: channel %s: message %s after %s", n.name, h.Channel, h.ID, last[h.Channel])
			}
			last[h.Channel] = h.ID
		}
	}
	var lost []string
	for _, id := range afterKill {
		if !seen[id] {
			lost = append(lost, id+" in "+channelOf[id])
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of the %d messages posted after the kill reached no survivor's handlers: %v", len(lost), len(afterKill), lost)
	}
	var failovers, resent, rebuilt float64
	for _, n := range survivors {
		m := scrape(n.admin)
		failovers += m["ermine_cluster_failovers_total"]
		resent += m["ermine_cluster_resent_total"]
		rebuilt += m["ermine_rebuilds_total"]
	}
	if failovers == 0 && victim == "owners" {
		t.Error("no survivor saw a partition move: the kill tested nothing")
	}
	if rebuilt == 0 {
		t.Error("no owner was rebuilt after the kill")
	}
	t.Logf("%d messages; owners %d (at most %d on a node); failover (SIGKILL → a moved channel's first message handled on a survivor) %s; failovers seen %v, messages re-sent %v, owners rebuilt %v; a read from any node (HTTP included) %v",
		posted, total, most, time.Duration(first-killedAt.UnixNano()).Round(time.Millisecond), failovers, resent, rebuilt, readEach)
}

// cacheDiff names the entries two canonical cache documents disagree on.
func cacheDiff(got, want string) string {
	var g, w map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return "got: " + err.Error()
	}
	json.Unmarshal([]byte(want), &w)
	var out []string
	for sec, entries := range w {
		for id, v := range entries {
			if gv, ok := g[sec][id]; !ok {
				out = append(out, fmt.Sprintf("missing %s %s", sec, id))
			} else if string(gv) != string(v) {
				out = append(out, fmt.Sprintf("%s %s: got %.300s want %.300s", sec, id, gv, v))
			}
		}
	}
	for sec, entries := range g {
		for id := range entries {
			if _, ok := w[sec][id]; !ok {
				out = append(out, fmt.Sprintf("extra %s %s", sec, id))
			}
		}
	}
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("… %d more", len(out)-12))
	}
	return strings.Join(out, "\n")
}

// TestClusterSharesTheRESTLimiter: handlers on three nodes make 30 requests in a bucket of 20 per
// 10 s (users, counted per caller: the nodes share it at the API); the nodes share one limiter,
// so the API answers none of them 429. Each handler also reads its channel's server, the
// author's permissions and the connected user through the accessors, wherever they are owned.
func TestClusterSharesTheRESTLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process cluster")
	}
	bin, err := buildErmine()
	if err != nil {
		t.Fatal(err)
	}
	srv := stoattest.NewServer(t, stoattest.WithWorld(clusterWorld()))
	nodes := startNodes(t, bin, srv, 3, "")
	waitConnected(t, nodes)
	chans := srv.World().Servers[0].Channels
	limited := srv.Stats().RateLimited
	const requests = 30
	for i := range requests {
		if _, err := srv.PostMessage(&stoatpb.Message{Channel: chans[i%len(chans)], Content: "!whois"}); err != nil {
			t.Fatal(err)
		}
	}
	fetchedBy := map[string]int{}
	withServer := 0
	waitFor(t, 40*time.Second, "every handler's request done", func() (bool, string) {
		total := 0
		withServer = 0
		for _, n := range nodes {
			b, _, err := httpGet(n.admin + "/debug/handled?count=1")
			if err != nil {
				continue
			}
			var c struct {
				Fetched    int
				WithServer int `json:"with_server"`
			}
			json.Unmarshal(b, &c)
			fetchedBy[n.name] = c.Fetched
			total += c.Fetched
			withServer += c.WithServer
		}
		return total == requests, fmt.Sprint(fetchedBy)
	})
	// The server lives on one node; the handlers on the others read it (and the author's
	// permissions) from there.
	if withServer != requests {
		t.Errorf("%d of %d handlers read their channel's server, permissions and the connected user", withServer, requests)
	}
	spread := 0
	for _, n := range fetchedBy {
		if n > 0 {
			spread++
		}
	}
	if spread < 2 {
		t.Fatalf("the requests came from %d node(s) (%v): nothing was shared", spread, fetchedBy)
	}
	if n := srv.Stats().RateLimited - limited; n > 0 {
		t.Errorf("the API answered %d of the %d requests 429: the nodes did not share their limiter", n, requests)
	}
	t.Logf("requests by node: %v", fetchedBy)
}

// replayRecording runs `ermine replay` over a recording and returns what it prints.
func replayRecording(t *testing.T, rec []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rec.jsonl")
	if err := os.WriteFile(file, rec, 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := buildErmine()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "replay", file).Output()
	if err != nil {
		t.Fatalf("ermine replay: %v", err)
	}
	return string(out)
}
