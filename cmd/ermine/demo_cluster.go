package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ermine-rt/ermine/stoattest"
	"github.com/ermine-rt/ermine/synth"
)

// runClusterDemo is `ermine demo --nodes N`: the fake server in this process, N `ermine node`
// processes of this binary on 127.0.1.1, 127.0.2.1…, and the demo's stream; every second it
// shows, per node, whether the connection runs there, its partitions and owners, the messages
// its handlers got and what it sent to the others.
func runClusterDemo(ctx context.Context, nodes int, gen *synth.Generator, srv *stoattest.Server, rate int, duration time.Duration, format string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	type proc struct {
		cmd   *exec.Cmd
		admin string
	}
	procs := make([]*proc, nodes)
	health := make([]int, nodes)
	var seeds []string
	for i := range health {
		if health[i], err = freeLoopbackPort("127.0.0.1"); err != nil {
			return err
		}
		seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", health[i]))
	}
	defer func() {
		for _, p := range procs {
			if p != nil && p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for _, p := range procs {
			if p != nil {
				p.cmd.Wait()
			}
		}
	}()
	for i := range procs {
		host := fmt.Sprintf("127.0.%d.1", i+1) // distinct hosts: protoactor places by host:port
		cmd := exec.CommandContext(ctx, self, "node", "--bind", host+":0", "--seeds", strings.Join(seeds, ","),
			"--health-port", strconv.Itoa(health[i]), "--api", srv.URL, "--min-members", strconv.Itoa(nodes), "--format", format)
		cmd.Env = append(os.Environ(), "STOAT_TOKEN="+srv.Token())
		cmd.Stderr = io.Discard // protoactor logs its view of every member leaving and joining
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting node %d: %w", i+1, err)
		}
		p := &proc{cmd: cmd}
		procs[i] = p
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "admin "); ok {
				p.admin = a
				break
			}
		}
		go io.Copy(io.Discard, out)
		if p.admin == "" {
			return fmt.Errorf("node %d did not start", i+1)
		}
		fmt.Printf("node %d on %s: admin %s (/metrics, /healthz, /debug/cache)\n", i+1, host, p.admin)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		connected := false
		for _, p := range procs {
			if m := scrape(p.admin); m["ermine_cluster_connection_here"] == 1 && m["ermine_connected"] == 1 {
				connected = true
			}
		}
		if connected {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("no node connected within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("cluster of %d connected; streaming %d events/s for %v (Ctrl-C to stop)\n\n", nodes, rate, duration)
	streamCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var pushed, pings atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		stream(streamCtx, srv, gen, rate, &pushed, &pings)
	}()
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	show := func() {
		fmt.Printf("t=%-4s pushed %d\n", time.Since(start).Round(time.Second), pushed.Load())
		for i, p := range procs {
			m := scrape(p.admin)
			conn := "  "
			if m["ermine_cluster_connection_here"] == 1 {
				conn = "⚡"
			}
			fmt.Printf("  %s node %d: partitions %3.0f  owners %4.0f servers %4.0f channels  messages handled %7.0f  sent to others %8.0f  re-sent %4.0f\n",
				conn, i+1, m["ermine_cluster_partitions"], m[`ermine_owners{kind="server"}`], m[`ermine_owners{kind="channel"}`],
				handledCount(p.admin), m["ermine_cluster_messages_sent_total"], m["ermine_cluster_resent_total"])
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			show()
		}
	}
	time.Sleep(time.Second) // let the owners catch up
	fmt.Println("\nsummary (⚡ is the node holding the connection; each node runs the handlers of the entities it owns):")
	show()
	return nil
}

// metricLine matches an unlabelled or labelled sample of the text exposition format.
var metricLine = regexp.MustCompile(`(?m)^([a-z_]+(?:\{[^}]*\})?) (\S+)$`)

// scrape reads a node's metrics.
func scrape(admin string) map[string]float64 {
	out := map[string]float64{}
	b, _, err := httpGet(admin + "/metrics")
	if err != nil {
		return out
	}
	for _, m := range metricLine.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		out[string(m[1])] = v
	}
	return out
}

func handledCount(admin string) float64 {
	b, _, err := httpGet(admin + "/debug/handled?count=1")
	if err != nil {
		return 0
	}
	var c struct{ Count float64 }
	json.Unmarshal(b, &c)
	return c.Count
}

// httpGet fetches url: its body and status.
func httpGet(url string) ([]byte, int, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

func freeLoopbackPort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
