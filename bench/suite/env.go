package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const modulePath = "github.com/ermine-rt/ermine"

// findRoot finds the module's root directory, upward from the working directory.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("suite: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if first, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(first) == "module "+modulePath {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("suite: no %s module above the working directory (run from the checkout, or set the root)", modulePath)
		}
		dir = parent
	}
}

// nodeInfo is how to run stoat.js here, or why it cannot run.
type nodeInfo struct {
	path, version, stoatJS, dir string
	flags                       []string
	err                         error
}

// argv is the command line of bench.mjs (its spec follows).
func (n nodeInfo) argv(memory bool) []string {
	args := append([]string{n.path}, n.flags...)
	args = append(args, "--expose-gc") // memory runs collect garbage before reading RSS
	if memory {
		args = append(args, "--max-old-space-size=16384") // a big Ready exceeds V8's default heap limit
	}
	return append(args, "bench.mjs")
}

// findNode finds node (20 or later) and stoat.js, installing stoat.js from its lockfile with
// `npm ci` when node_modules is missing, as the stoat.js compatibility test does.
func findNode(ctx context.Context, root string, prog *progress) nodeInfo {
	n := nodeInfo{dir: stoatJSDir(root)}
	var err error
	if n.path, err = exec.LookPath("node"); err != nil {
		n.err = errors.New("node is not on PATH (install Node 20 or later, e.g. apt-get install nodejs npm)")
		prog.note("suite: %v; the stoat.js column is skipped", n.err)
		return n
	}
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, n.path, "--version").Output()
	if err != nil {
		n.err = fmt.Errorf("node --version: %w", err)
		return n
	}
	n.version = strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(n.version, "v"), ".")
	if m, err := strconv.Atoi(major); err != nil || m < 20 {
		n.err = fmt.Errorf("node %s is too old (want 20 or later)", n.version)
		prog.note("suite: %v; the stoat.js column is skipped", n.err)
		return n
	}
	pkg := filepath.Join(n.dir, "node_modules", "stoat.js", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			n.err = errors.New("stoat.js is not installed in bench/stoatjs and npm is not on PATH")
			prog.note("suite: %v; the stoat.js column is skipped", n.err)
			return n
		}
		prog.note("suite: installing stoat.js from bench/stoatjs/package-lock.json (npm ci)…")
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ictx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = n.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			n.err = fmt.Errorf("npm ci in bench/stoatjs: %w: %s", err, bytes.TrimSpace(out))
			prog.note("suite: %v; the stoat.js column is skipped", n.err)
			return n
		}
	}
	var meta struct{ Version string }
	if b, err := os.ReadFile(pkg); err == nil && json.Unmarshal(b, &meta) == nil {
		n.stoatJS = meta.Version
	}
	// Node 20 has a global WebSocket only behind a flag; later versions have it by default.
	if exec.CommandContext(vctx, n.path, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").Run() != nil {
		n.flags = append(n.flags, "--experimental-websocket")
	}
	return n
}

// Machine describes where the suite ran.
type Machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Memory  uint64 `json:"memory_bytes"`
	OS      string `json:"os"`
	Go      string `json:"go"`
	Node    string `json:"node"`
	StoatJS string `json:"stoatjs"`
}

func machine(n nodeInfo) Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(),
		Node: n.version, StoatJS: n.stoatJS}
	if m.Node == "" {
		m.Node = "—"
	}
	if m.StoatJS == "" {
		m.StoatJS = "—"
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.Memory = kb << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += " " + strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
