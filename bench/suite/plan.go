package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ermine-rt/ermine/bench/measure"
	"github.com/ermine-rt/ermine/bench/stream"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/synth"
)

// peer is who a run measures.
type peer string

const (
	peerErmine   peer = "ermine"
	peerStoatJS  peer = "stoat.js"
	peerBaseline peer = "baseline"
	peerCeiling  peer = "server ceiling"
	peerReplay   peer = "replay"
)

// bots are the peers measured end to end, in table order.
var bots = []peer{peerErmine, peerStoatJS, peerBaseline}

// group is the runs against one stream: one frame server serves them all, one after the other.
type group struct {
	name   string
	spec   stream.Spec
	server bool // false: the runs need no server (in-process replay)
	jobs   []*job
	rates  map[peer]float64 // unpaced no-op throughput of each peer, for the saturation check
}

// job is one run.
type job struct {
	sections []string // it runs if any of them is selected
	peer     peer
	what     string // for the progress display
	events   int    // the prefix of the stream the server sends
	rate     int    // offered events/s; 0: as fast as the client reads
	spec     measure.Spec
	env      []string
	rows     []*Row        // the rows whose peer column (the floor's, for the ceiling) it fills
	skip     func() string // a reason not to run, decided just before running
	record   func(measure.Report)
}

// mark notes in the job's cells why it has no figure.
func (j *job) mark(note string) {
	for _, row := range j.rows {
		switch j.peer {
		case peerCeiling:
			row.Floor = Cell{Note: note}
		case peerReplay:
			row.Ermine, row.Floor = Cell{Note: note}, Cell{Note: note}
		default:
			row.set(j.peer, Cell{Note: note})
		}
	}
}

type runner struct {
	cfg     Config
	sz      sizes
	prog    *progress
	res     *Results
	node    nodeInfo
	groups  map[string]*group
	order   []*group
	after   []func() // derive rows from several runs, once all have run
	expects map[string]int
}

// group returns the group of spec (ignoring Events), raising its stream to at least spec.Events;
// name names a new group in the progress display.
func (r *runner) group(name string, spec stream.Spec, server bool) *group {
	key := spec
	key.Events = 0
	k := fmt.Sprintf("%+v %v", key, server)
	g, ok := r.groups[k]
	if !ok {
		g = &group{name: name, spec: spec, server: server, rates: map[peer]float64{}}
		r.groups[k] = g
		r.order = append(r.order, g)
	}
	g.spec.Events = max(g.spec.Events, spec.Events)
	return g
}

func (r *runner) wants(sections []string) bool {
	if len(r.cfg.Only) == 0 {
		return true
	}
	for _, s := range sections {
		if contains(r.cfg.Only, s) {
			return true
		}
	}
	return false
}

func (g *group) add(j *job) { g.jobs = append(g.jobs, j) }

// The worlds of the streams.
func world100(f bonfire.Format, active, events int) stream.Spec { // 10 servers × 10 channels
	return stream.Spec{Format: f, Seed: 1, Servers: 10, ChannelsPerServer: 10, Users: 1000, MembersPerServer: 100, Events: events, Active: active}
}

func world(f bonfire.Format, channels, events int) stream.Spec { // channels/100 servers × 100 channels
	servers := max(1, channels/100)
	return stream.Spec{Format: f, Seed: 1, Servers: servers, ChannelsPerServer: channels / servers,
		Users: max(1000, min(channels/10, 10_000)), MembersPerServer: max(10, min(100, 10_000/servers)), Events: events}
}

func mixed(f bonfire.Format, events int) stream.Spec { // the world of `ermine gen`
	w := synth.Small(1)
	return stream.Spec{Format: f, Seed: w.Seed, Mixed: true, Servers: w.Servers, ChannelsPerServer: w.ChannelsPerServer,
		Users: w.Users, MembersPerServer: w.MembersPerServer, Events: events}
}

var formats = []bonfire.Format{bonfire.JSON, bonfire.Msgpack}

// plan lays out every run and the rows they fill, in the order they run.
func (r *runner) plan() []*group {
	r.groups, r.expects = map[string]*group{}, map[string]int{}
	r.planE2E()
	r.planLatency()
	r.planReplay()
	r.planMemory()
	r.planReady()
	r.planScaling()

	var rows []*Row
	for _, row := range r.res.Rows {
		if r.wants([]string{row.Section}) {
			rows = append(rows, row)
		}
	}
	r.res.Rows = rows
	var out []*group
	for _, g := range r.order {
		var jobs []*job
		for _, j := range g.jobs {
			if r.wants(j.sections) {
				jobs = append(jobs, j)
			}
		}
		if g.jobs = jobs; len(jobs) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// planE2E: every bot as fast as it reads, and the server's ceiling, on each scenario and format.
func (r *runner) planE2E() {
	sz := r.sz
	e2e := []struct {
		name, short string
		spec        func(f bonfire.Format) stream.Spec
	}{
		{"messages → 1 channel", "1 channel", func(f bonfire.Format) stream.Spec { return world100(f, 1, sz.events) }},
		{"messages → 100 channels", "100 channels", func(f bonfire.Format) stream.Spec { return world100(f, 0, sz.events) }},
		{"messages → 10k channels", "10k channels", func(f bonfire.Format) stream.Spec { return world(f, 10_000, sz.events) }},
		{"mixed `ermine gen` stream", "mixed", func(f bonfire.Format) stream.Spec { return mixed(f, sz.events) }},
	}
	for _, sc := range e2e {
		if sz.e2e != nil && !contains(sz.e2e, sc.short) {
			continue
		}
		for _, f := range formats {
			g := r.group(sc.short+" "+f.String(), sc.spec(f), true)
			rows, sections := []*Row{r.res.row("e2e", fmt.Sprintf("%s, %s", sc.name, f), unitRate)}, []string{"e2e"}
			if sc.short == "100 channels" && f == bonfire.JSON && contains(sz.handlers, measure.HandlerNoop) {
				// The scaling section's no-op handler row is this run.
				rows = append(rows, r.res.row("scaling", "handler: no-op (100 channels, json)", unitRate))
				sections = append(sections, "scaling")
			}
			r.unpaced(g, sections, rows, measure.HandlerNoop, nil, true)
		}
	}
}

// planLatency: paced runs at fixed offered rates on the 100-channel streams.
func (r *runner) planLatency() {
	for _, f := range formats {
		rates := r.sz.rates
		if f == bonfire.Msgpack {
			rates = r.sz.mpRates
		}
		for _, rate := range rates {
			events := max(1000, int(float64(rate)*r.sz.latencySeconds))
			g := r.group("100 channels "+f.String(), world100(f, 0, events), true)
			name := fmt.Sprintf("100 channels, %s, %s ev/s offered", f, si(float64(rate)))
			rows := []*Row{r.res.row("latency", name+": p50", unitMicros), r.res.row("latency", name+": p99", unitMicros),
				r.res.row("latency", name+": p99.9", unitMicros)}
			for _, p := range bots {
				if p == peerStoatJS && f != bonfire.JSON {
					setAll(rows, p, Cell{Note: "JSON only"})
					continue
				}
				g.add(&job{sections: []string{"latency"}, peer: p, what: name, events: events, rate: rate, rows: rows,
					spec: measure.Spec{Handler: measure.HandlerNoop, Latency: true},
					skip: func() string {
						if got, ok := g.rates[p]; ok && got < 0.9*float64(rate) {
							return fmt.Sprintf("saturated (max %s/s)", si(got))
						}
						return ""
					},
					record: func(rep measure.Report) {
						if rep.Latency == nil || rep.Latency.Count == 0 {
							setAll(rows, p, Cell{Note: "no samples"})
							return
						}
						note := ""
						if rep.Rate < 0.9*float64(rate) {
							note = fmt.Sprintf("fell behind: %s/s", si(rep.Rate))
						}
						for i, v := range []float64{rep.Latency.P50, rep.Latency.P99, rep.Latency.P999} {
							rows[i].set(p, Cell{Value: v, OK: true, Note: note})
						}
					}})
			}
		}
	}
}

// planReplay: in one process, the same bytes through ermine's pipeline and through the floor.
func (r *runner) planReplay() {
	for _, sc := range []struct {
		name, short string
		spec        stream.Spec
	}{
		{"messages → 100 channels, json", "100 channels json", world100(bonfire.JSON, 0, r.sz.events)},
		{"mixed `ermine gen` stream, json", "mixed json", mixed(bonfire.JSON, r.sz.events)},
		{"mixed `ermine gen` stream, msgpack", "mixed msgpack", mixed(bonfire.Msgpack, r.sz.events)},
	} {
		g := r.group("in process, "+sc.short, sc.spec, false)
		row := r.res.row("replay", sc.name, unitFrames)
		row.StoatJS, row.Baseline = Cell{Note: "—"}, Cell{Note: "—"}
		g.add(&job{sections: []string{"replay"}, peer: peerReplay, what: sc.name, events: sc.spec.Events, rows: []*Row{row},
			record: func(rep measure.Report) {
				row.Ermine = Cell{Value: rep.Rate, OK: true}
				row.Floor = Cell{Value: rep.FloorRate, OK: true}
			}})
	}
}

// planReady: a big Ready, its ingestion time and the RSS it leaves.
func (r *runner) planReady() {
	rw := r.sz.ready
	spec := stream.Spec{Format: bonfire.JSON, Seed: 1, Servers: rw.servers, ChannelsPerServer: rw.channelsPer, Users: rw.users, MembersPerServer: rw.membersPer}
	name := fmt.Sprintf("Ready of %s servers, %s channels, %s members, %s users", si(float64(rw.servers)),
		si(float64(rw.servers*rw.channelsPer)), si(float64(rw.servers*(rw.membersPer+1))), si(float64(rw.users)))
	ingest, rss := r.res.row("ready", name+": ingestion", unitSeconds), r.res.row("ready", name+": RSS after GC", unitBytes)
	g := r.group("big Ready", spec, true)
	for _, p := range bots {
		g.add(&job{sections: []string{"ready"}, peer: p, what: "ingestion", rows: []*Row{ingest, rss},
			spec: measure.Spec{Memory: true, MaxFrame: 2 << 30}, record: func(rep measure.Report) {
				ingest.set(p, Cell{Value: rep.ReadySeconds, OK: true})
				rss.set(p, Cell{Value: float64(rep.RSS), OK: true})
			}})
	}
}

// planScaling: GOMAXPROCS, active channels, handler cost.
func (r *runner) planScaling() {
	sz := r.sz
	g100 := r.group("100 channels json", world100(bonfire.JSON, 0, sz.events), true)
	for _, n := range sz.procs {
		row := r.res.row("scaling", fmt.Sprintf("GOMAXPROCS=%d (100 channels, json)", n), unitRate)
		row.StoatJS = Cell{Note: "one thread"}
		for _, p := range []peer{peerErmine, peerBaseline} {
			g100.add(r.botJob([]string{"scaling"}, p, fmt.Sprintf("throughput, GOMAXPROCS=%d", n), sz.events, measure.HandlerNoop,
				[]string{fmt.Sprintf("GOMAXPROCS=%d", n)}, []*Row{row}, nil))
		}
	}
	for _, n := range sz.scales {
		spec := world(bonfire.JSON, n, sz.events)
		if n <= 100 {
			spec = world100(bonfire.JSON, n, sz.events)
		}
		row := r.res.row("scaling", fmt.Sprintf("%s active channels (json)", si(float64(n))), unitRate)
		r.unpaced(r.group(si(float64(n))+" active channels json", spec, true), []string{"scaling"}, []*Row{row}, measure.HandlerNoop, nil, false)
	}
	labels := map[string]string{measure.HandlerCPU: "handler: 10 µs CPU", measure.HandlerWait: "handler: 1 ms wait, detached"}
	for _, h := range sz.handlers {
		if h == measure.HandlerNoop {
			continue // the 100-channel end-to-end run (planE2E)
		}
		row := r.res.row("scaling", labels[h]+" (100 channels, json)", unitRate)
		r.unpaced(g100, []string{"scaling"}, []*Row{row}, h, nil, false)
	}
}

// unpaced adds a run of every bot on g, as fast as each reads, and of the server's ceiling if
// ceiling; each fills its column of rows (the ceiling, the floor column).
func (r *runner) unpaced(g *group, sections []string, rows []*Row, handler string, env []string, ceiling bool) {
	if ceiling {
		g.add(&job{sections: sections, peer: peerCeiling, what: "to a discarding client", events: r.sz.events, rows: rows[:1],
			record: func(rep measure.Report) { rows[0].Floor = Cell{Value: rep.Rate, OK: true} }})
	}
	for _, p := range bots {
		events := r.sz.events
		if p == peerStoatJS {
			if g.spec.Format != bonfire.JSON {
				setAll(rows, p, Cell{Note: "JSON only"})
				continue
			}
			events = r.sz.jsEvents
		}
		var track map[peer]float64
		if handler == measure.HandlerNoop && env == nil {
			track = g.rates
		}
		what := "throughput"
		if handler != measure.HandlerNoop {
			what = "handler " + handler
		}
		g.add(r.botJob(sections, p, what, events, handler, env, rows, track))
	}
}

// botJob is an unpaced run of bot p that fills its column of rows with its events/s.
func (r *runner) botJob(sections []string, p peer, what string, events int, handler string, env []string, rows []*Row, track map[peer]float64) *job {
	return &job{sections: sections, peer: p, what: what, events: events, env: env, rows: rows, spec: measure.Spec{Handler: handler},
		record: func(rep measure.Report) {
			c := Cell{Value: rep.Rate, OK: true}
			if rep.TimedOut {
				c.Note = fmt.Sprintf("timed out after %d", rep.Handled)
			}
			setAll(rows, p, c)
			if track != nil {
				track[p] = rep.Rate
			}
		}}
}

// planMemory: a world, then the same world with more messages, members or users; each figure is
// the difference over the difference in cached entries. The messages go to the world's 1,000
// channels: 100 per channel shows what a young cache pays, 900 (the default bound is 1,000) what
// a cache near its bound does, once what is paid per channel is spread over its messages.
func (r *runner) planMemory() {
	n := r.sz.memory
	base := stream.Spec{Format: bonfire.JSON, Seed: 1, Servers: 10, ChannelsPerServer: 100, Users: 2 * (n/10 + 100), MembersPerServer: 100}
	type kind struct {
		name, row, cached, label string
		spec                     stream.Spec
	}
	var kinds []kind
	channels := base.Servers * base.ChannelsPerServer
	for _, m := range r.sz.memoryMessages {
		msgs := base
		msgs.Events = m
		row := "message"
		if len(r.sz.memoryMessages) > 1 {
			row = fmt.Sprintf("message (%d per channel)", m/channels)
		}
		kinds = append(kinds, kind{"message " + si(float64(m)), row, "messages", "+" + si(float64(m)) + " messages", msgs})
	}
	users, members := base, base
	users.Users += n
	members.MembersPerServer += n / base.Servers
	more := "+" + si(float64(n)) + " "
	kinds = append(kinds, kind{"member", "member", "members", more + "members", members}, kind{"user", "user", "users", more + "users", users})
	reports := map[string]map[peer]measure.Report{}
	for _, k := range append([]kind{{name: "base", label: "the world alone", spec: base}}, kinds...) {
		g := r.group("memory", k.spec, true)
		reports[k.name] = map[peer]measure.Report{}
		for _, p := range bots {
			g.add(&job{sections: []string{"memory"}, peer: p, what: k.label, events: k.spec.Events,
				spec: measure.Spec{Memory: true}, record: func(rep measure.Report) { reports[k.name][p] = rep }})
		}
	}
	for _, k := range kinds {
		rss := r.res.row("memory", "RSS per cached "+k.row, unitBytes)
		heap := r.res.row("memory", "live heap per cached "+k.row, unitBytes)
		r.after = append(r.after, func() {
			for _, p := range bots {
				b, okB := reports["base"][p]
				x, okX := reports[k.name][p]
				if !okB || !okX {
					if rss.get(p).Note == "" {
						setAll([]*Row{rss, heap}, p, Cell{Note: "failed"})
					}
					continue
				}
				d := x.Cached[k.cached] - b.Cached[k.cached]
				if d <= 0 {
					setAll([]*Row{rss, heap}, p, Cell{Note: fmt.Sprintf("%d cached", d)})
					continue
				}
				rss.set(p, Cell{Value: (float64(x.RSS) - float64(b.RSS)) / float64(d), OK: true})
				heap.set(p, Cell{Value: (float64(x.Heap) - float64(b.Heap)) / float64(d), OK: true})
			}
		})
	}
}

func setAll(rows []*Row, p peer, c Cell) {
	for _, row := range rows {
		row.set(p, c)
	}
}

// run runs the groups in order.
func (r *runner) run(ctx context.Context, groups []*group) error {
	total := 0
	for _, g := range groups {
		total += len(g.jobs)
	}
	r.prog.total = total
	defer r.prog.close()
	var errs []error
	for _, g := range groups {
		if err := r.runGroup(ctx, g); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, f := range r.after {
		f()
	}
	return errors.Join(errs...)
}

func (r *runner) runGroup(ctx context.Context, g *group) error {
	addr := ""
	if g.server {
		r.prog.begin("frame server: building "+g.spec.String(), 0)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		spec, _ := json.Marshal(g.spec)
		srv, err := startProc(sctx, "frame server", append(r.cmd(roleServer), string(spec)), nil, "")
		if err != nil {
			return r.fail(g, g.jobs, err)
		}
		defer srv.stop()
		actx, stop := context.WithTimeout(sctx, r.sz.timeout)
		addr, err = srv.addr(actx)
		stop()
		if err != nil {
			return r.fail(g, g.jobs, err)
		}
	}
	var errs []error
	for _, j := range g.jobs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		label := fmt.Sprintf("%s · %s · %s", g.name, j.what, j.peer)
		if reason := j.skip0(); reason != "" {
			r.prog.begin(label, 0)
			r.prog.end("skipped: " + reason)
			j.mark(reason)
			continue
		}
		rep, err := r.runJob(ctx, g, j, addr, label)
		r.res.Runs = append(r.res.Runs, RunRecord{Stream: g.spec.String(), Peer: string(j.peer), What: j.what, Rate: j.rate,
			Events: j.events, Env: j.env, Report: rep, Error: errString(err)})
		if err != nil {
			r.prog.end("failed")
			j.mark("failed")
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		j.record(rep)
		r.prog.end(summary(rep))
	}
	return errors.Join(errs...)
}

func (j *job) skip0() string {
	if j.skip == nil {
		return ""
	}
	return j.skip()
}

func (r *runner) fail(g *group, jobs []*job, err error) error {
	for _, j := range jobs {
		j.mark("failed")
	}
	return fmt.Errorf("%s: %w", g.spec, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func summary(rep measure.Report) string {
	var parts []string
	if rep.Rate > 0 {
		parts = append(parts, si(rep.Rate)+"/s")
	}
	if rep.FloorRate > 0 {
		parts = append(parts, "floor "+si(rep.FloorRate)+"/s")
	}
	if l := rep.Latency; l != nil {
		parts = append(parts, fmt.Sprintf("p50 %s p99 %s p99.9 %s", micros(l.P50), micros(l.P99), micros(l.P999)))
	}
	if rep.RSS > 0 {
		parts = append(parts, "RSS "+bytesIEC(float64(rep.RSS)))
	}
	if rep.ReadySeconds > 0 && rep.Handled == 0 {
		parts = append(parts, fmt.Sprintf("Ready %.2fs", rep.ReadySeconds))
	}
	if rep.TimedOut {
		parts = append(parts, "TIMED OUT")
	}
	return strings.Join(parts, ", ")
}

// cmd returns the command line of a child in role.
func (r *runner) cmd(role string) []string {
	return append(append([]string(nil), r.cfg.Exe...), role)
}

const token = "bench-token"

// runJob runs one job and waits for its report.
func (r *runner) runJob(ctx context.Context, g *group, j *job, addr, label string) (measure.Report, error) {
	timeout := r.sz.timeout
	jctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second) // the child bounds itself first
	defer cancel()
	u := fmt.Sprintf("ws://%s/events?events=%d", addr, j.events)
	if j.rate > 0 {
		u += fmt.Sprintf("&rate=%d", j.rate)
	}
	expect := 0
	if j.events > 0 && j.peer != peerReplay {
		expect = r.expect(g.spec, j.events)
	}
	var argv []string
	dir := ""
	switch j.peer {
	case peerCeiling:
		b, _ := json.Marshal(discardSpec{URL: u + "&format=" + g.spec.Format.String() + "&token=" + token, Events: j.events, TimeoutMS: timeout.Milliseconds()})
		argv = append(r.cmd(roleDiscard), string(b))
	case peerReplay:
		b, _ := json.Marshal(replaySpec{Stream: g.spec, TimeoutMS: timeout.Milliseconds()})
		argv = append(r.cmd(roleReplay), string(b))
	default:
		spec := j.spec
		spec.URL, spec.Token, spec.Format, spec.Expect, spec.TimeoutMS = u, token, g.spec.Format.String(), expect, timeout.Milliseconds()
		if spec.Latency {
			spec.Warmup = expect / 10 // JIT, page faults and first allocations are not the steady state
		}
		b, _ := json.Marshal(spec)
		switch j.peer {
		case peerErmine:
			argv = append(r.cmd(roleErmine), string(b))
		case peerBaseline:
			argv = append(r.cmd(roleBaseline), string(b))
		case peerStoatJS:
			if r.node.err != nil {
				return measure.Report{}, r.node.err
			}
			argv = append(r.node.argv(spec.Memory), string(b))
			dir = r.node.dir
		}
	}
	r.prog.begin(label, int64(expect))
	p, err := startProc(jctx, label, argv, j.env, dir)
	if err != nil {
		return measure.Report{}, err
	}
	defer p.stop()
	return p.result(jctx, r.prog.update)
}

// expect returns the MessageCreate events among the first k events of spec's stream, counted
// here from the stream's definition (not asked of the server).
func (r *runner) expect(spec stream.Spec, k int) int {
	key := fmt.Sprintf("%+v/%d", spec, k)
	if n, ok := r.expects[key]; ok {
		return n
	}
	n := spec.MessagesIn(k)
	r.expects[key] = n
	return n
}

// stoatJSDir is where bench/stoatjs is under the module root.
func stoatJSDir(root string) string { return filepath.Join(root, "bench", "stoatjs") }
