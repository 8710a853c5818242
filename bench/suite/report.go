package suite

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ermine-rt/ermine/bench/measure"
)

// Units of the rows. Rates are better higher; the others lower.
const (
	unitRate    = "events/s"
	unitFrames  = "frames/s"
	unitMicros  = "µs"
	unitBytes   = "bytes"
	unitSeconds = "s"
)

// Cell is one figure, or a note saying why there is none (Note may also qualify a figure).
type Cell struct {
	Value float64 `json:"value,omitempty"`
	OK    bool    `json:"ok"`
	Note  string  `json:"note,omitempty"`
}

// Row is one line of the table: a scenario measured for each peer. Floor is, for end-to-end
// rows, the frame server's ceiling (writing to a client that discards), and for replay rows
// encoding/json.Valid (msgpack: a decoder's Skip) over the same bytes.
type Row struct {
	Section  string `json:"section"`
	Scenario string `json:"scenario"`
	Unit     string `json:"unit"`
	Ermine   Cell   `json:"ermine"`
	StoatJS  Cell   `json:"stoatjs"`
	Baseline Cell   `json:"baseline"`
	Floor    Cell   `json:"floor"`
}

func (r *Row) set(p peer, c Cell) {
	switch p {
	case peerErmine:
		r.Ermine = c
	case peerStoatJS:
		r.StoatJS = c
	case peerBaseline:
		r.Baseline = c
	}
}

func (r *Row) get(p peer) Cell {
	switch p {
	case peerErmine:
		return r.Ermine
	case peerStoatJS:
		return r.StoatJS
	case peerBaseline:
		return r.Baseline
	}
	return Cell{}
}

func (r *Row) higherIsBetter() bool { return r.Unit == unitRate || r.Unit == unitFrames }

// ratio is how many times better ermine is than c: faster, or lower latency or memory.
func (r *Row) ratio(c Cell) string {
	if !r.Ermine.OK || !c.OK || r.Ermine.Value <= 0 || c.Value <= 0 {
		return "—"
	}
	x := r.Ermine.Value / c.Value
	if !r.higherIsBetter() {
		x = 1 / x
	}
	return fmt.Sprintf("%.*f×", decimals(x), x)
}

// ofFloor is ermine's share of the floor.
func (r *Row) ofFloor() string {
	if !r.Ermine.OK || !r.Floor.OK || r.Floor.Value <= 0 || !r.higherIsBetter() {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*r.Ermine.Value/r.Floor.Value)
}

func decimals(x float64) int {
	switch {
	case x >= 100:
		return 0
	case x >= 10:
		return 1
	}
	return 2
}

func (r *Row) format(c Cell) string {
	if !c.OK {
		if c.Note == "" {
			return "—"
		}
		return c.Note
	}
	var s string
	switch r.Unit {
	case unitRate, unitFrames:
		s = si(c.Value) + "/s"
	case unitMicros:
		s = micros(c.Value)
	case unitBytes:
		s = bytesIEC(c.Value)
	case unitSeconds:
		s = fmt.Sprintf("%.2f s", c.Value)
	default:
		s = fmt.Sprintf("%g", c.Value)
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// si formats x with a k or M suffix.
func si(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1e6:
		return trim(fmt.Sprintf("%.2f", x/1e6)) + "M"
	case a >= 1e3:
		return trim(fmt.Sprintf("%.1f", x/1e3)) + "k"
	}
	return trim(fmt.Sprintf("%.0f", x))
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

func bytesIEC(b float64) string {
	switch a := math.Abs(b); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case a >= 10<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// Results is a run of the suite.
type Results struct {
	Mode    Mode        `json:"mode"`
	Date    time.Time   `json:"date"`
	Elapsed string      `json:"elapsed"`
	Command string      `json:"command"`
	Note    string      `json:"note,omitempty"`
	Machine Machine     `json:"machine"`
	Notes   []string    `json:"notes,omitempty"`
	Rows    []*Row      `json:"rows"`
	Runs    []RunRecord `json:"runs"`
	// Written is the directory the files were written to ("" if none).
	Written string `json:"-"`
}

// RunRecord is the raw record of one child run.
type RunRecord struct {
	Stream string         `json:"stream"`
	Peer   string         `json:"peer"`
	What   string         `json:"what"`
	Events int            `json:"events"`
	Rate   int            `json:"offered_rate,omitempty"`
	Env    []string       `json:"env,omitempty"`
	Report measure.Report `json:"report"`
	Error  string         `json:"error,omitempty"`
}

func newResults(cfg Config) *Results {
	return &Results{Mode: cfg.Mode, Date: time.Now().UTC(), Command: cfg.Command, Note: cfg.Note}
}

func (t *Results) row(section, scenario, unit string) *Row {
	r := &Row{Section: section, Scenario: scenario, Unit: unit}
	t.Rows = append(t.Rows, r)
	return r
}

// sorted returns the rows by section, in Sections order.
func (t *Results) sorted() []*Row {
	rows := slices.Clone(t.Rows)
	slices.SortStableFunc(rows, func(a, b *Row) int {
		return slices.Index(Sections, a.Section) - slices.Index(Sections, b.Section)
	})
	return rows
}

var sectionTitles = map[string]string{
	"e2e":     "end to end over loopback WebSocket, no-op handler (handler calls/s)",
	"latency": "frame written → handler start, at a fixed offered rate",
	"replay":  "in process: the same bytes through the pipeline, no network",
	"memory":  "memory per cached entity (after GC; scenario minus the same world without it)",
	"ready":   "Ready ingestion (connect → Ready in the cache)",
	"scaling": "scaling (end to end, handler calls/s)",
}

var header = []string{"scenario", "ermine", "stoat.js", "baseline Go", "floor", "vs stoat.js", "vs baseline", "of floor"}

func (t *Results) cells(r *Row) []string {
	return []string{r.Scenario, r.format(r.Ermine), r.format(r.StoatJS), r.format(r.Baseline), r.format(r.Floor),
		r.ratio(r.StoatJS), r.ratio(r.Baseline), r.ofFloor()}
}

// Headline returns the figures that sum the run up: the in-process pipeline's share of the
// json.Valid floor (the headline), then ermine end to end beside its peers, both on the
// 100-channel JSON stream.
func (t *Results) Headline() []string {
	var replay, e2e string
	for _, r := range t.Rows {
		if r.Scenario != "messages → 100 channels, json" || !r.Ermine.OK {
			continue
		}
		switch r.Section {
		case "replay":
			if r.Floor.OK {
				replay = fmt.Sprintf("in process, ermine's pipeline runs the 100-channel JSON stream at %s of the json.Valid floor (%s vs %s frames)",
					r.ofFloor(), r.format(r.Ermine), r.format(r.Floor))
			}
		case "e2e":
			e2e = fmt.Sprintf("end to end over loopback, ermine runs %s MessageCreate handlers: %s stoat.js (%s) and %s the quick Go bot (%s)",
				r.format(r.Ermine), r.ratio(r.StoatJS), r.format(r.StoatJS), r.ratio(r.Baseline), r.format(r.Baseline))
		}
	}
	var out []string
	for _, h := range []string{replay, e2e} {
		if h != "" {
			out = append(out, h)
		}
	}
	return out
}

// WriteTable prints the table as aligned text, the headline under it.
func (t *Results) WriteTable(w io.Writer) error {
	defer func() {
		for _, h := range t.Headline() {
			fmt.Fprintln(w, "headline: "+h)
		}
	}()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	section := ""
	for _, r := range t.sorted() {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(tw, "— %s\n", sectionTitles[section])
		}
		fmt.Fprintln(tw, strings.Join(t.cells(r), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("suite: printing the table: %w", err)
	}
	_, err := fmt.Fprint(w, legend)
	return err
}

const legend = `ratios: how many times better ermine is (faster, or lower latency or memory); below 1× is worse.
floor: end to end, the frame server writing to a client that only skips frames (its ceiling);
in process, encoding/json.Valid (msgpack: a decoder's Skip) over the same bytes.
`

// Markdown returns RESULTS.md.
func (t *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ermine bench results\n\n")
	fmt.Fprintf(&b, "Mode: **%s**. Date: %s. Took %s.\n\n", t.Mode, t.Date.Format("2006-01-02 15:04 UTC"), t.Elapsed)
	fmt.Fprintf(&b, "Command: `%s`\n\n", t.Command)
	if t.Note != "" {
		fmt.Fprintf(&b, "> %s\n\n", t.Note)
	}
	m := t.Machine
	fmt.Fprintf(&b, "| CPU | cores | memory | OS | Go | Node | stoat.js |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n\n", m.CPU, m.Cores, bytesIEC(float64(m.Memory)), m.OS, m.Go, m.Node, m.StoatJS)
	if hl := t.Headline(); len(hl) > 0 {
		b.WriteString("**Headline**\n\n")
		for _, h := range hl {
			fmt.Fprintf(&b, "- %s.\n", h)
		}
		b.WriteString("\n")
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
	}
	section := ""
	for _, r := range t.sorted() {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(&b, "\n### %s\n\n| %s |\n|%s\n", sectionTitles[section], strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(t.cells(r), " | "))
	}
	b.WriteString("\n" + mdLegend)
	return b.String()
}

const mdLegend = `## How each figure is measured

- Every process is separate: the frame server (` + "`bench/server`" + `, pre-encoded frames of a seeded
  stream), and each bot in turn: ermine (` + "`bench/ermbot`" + `, written as the README shows, default
  Config), stoat.js 7.3.4 (` + "`bench/stoatjs/bench.mjs`" + `, counting ` + "`messageCreate`" + `) and the quick Go
  bot (` + "`bench/baseline`" + `: coder/websocket, encoding/json into maps, one mutex-guarded map cache).
  They share the machine's cores. The frame server does not compress (no permessage-deflate), as
  Stoat's Bonfire does not (async-tungstenite without its deflate feature). A server that
  negotiates permessage-deflate makes stoat.js about 4× slower (≈ 4.5–5k/s here, every frame
  inflated through an async zlib call by Node's WebSocket), which reproduces the ≈ 4.8k/s anchor
  in ARCHITECTURE.md (most likely measured that way); uncompressed, stoat.js runs ≈ 15–21k/s.
- **events/s**: MessageCreate handler calls counted in the bot, from its first handler (or Ready)
  to its last handler's end; the bot stops at the expected count (computed from the stream's
  definition). stoat.js consumes a shorter prefix of the same stream.
- **latency**: the server paces the stream and writes CLOCK_MONOTONIC into each message's content
  as it writes the frame; the handler subtracts it from its own reading at its start (HDR
  histogram; stoat.js: exact percentiles). The first 10 % of messages are a warm-up. A peer whose
  throughput is below 90 % of the offered rate is marked saturated and not run.
- **replay**: in one process, the same frames through ermine's real pipeline (decoder, router,
  owners, a no-op handler, cache) until the last cache update, and encoding/json.Valid over them.
- **memory**: RSS and live heap after GC once the last handler ran and the cache is up to date,
  minus the same figures for the same world without the added messages, members or users, over
  the difference in cached entries (ermine keeps 1,000 messages per channel by default; the
  message scenarios stay under it). Messages go to 1,000 channels: 100 per channel is a young
  cache, where what a process pays per channel (memory the Go collector cannot return from pages
  that held the stream's garbage beside a channel's long-lived state) weighs on each message;
  900 per channel is a cache near its bound.
- **ratios**: how many times better ermine is (faster, or lower latency or memory); below 1× is
  worse. **of floor**: ermine's share of the floor (end to end: the server writing to a client
  that only skips frames; replay: json.Valid, or a msgpack decoder's Skip).
- Raw reports of every run: ` + "`results.json`" + `.
`

// write writes RESULTS.md and results.json into dir.
func (t *Results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("suite: encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(t.Markdown()), 0o644); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	return nil
}
