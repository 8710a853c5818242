package stoattest_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/stoattest"
)

// knownStoatJSError is the one error stoat.js 7.3.4 reports against this server, and against the
// real one: its Ready handler reads policy_changes.length unguarded, and Stoat never sends
// policy_changes to bots. It happens after the "ready" event and changes nothing else.
const knownStoatJSError = "Cannot read properties of undefined (reading 'length')"

// TestStoatJS runs the official client, stoat.js (pinned in bench/stoatjs), against the fake
// server: it must log in as a bot through the API root and the events URL it advertises, reach
// its ready state, send a message through the REST API, and see the events the server emits
// and pushes.
func TestStoatJS(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the stoat.js compatibility test in -short mode")
	}
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		t.Skip("skipping the stoat.js compatibility test: node and npm must be on PATH (Node 20 or later)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	version, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(version)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		t.Skipf("skipping the stoat.js compatibility test: Node %s is too old (want 20 or later)", strings.TrimSpace(string(version)))
	}
	dir, err := filepath.Abs(filepath.Join("..", "bench", "stoatjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "stoat.js", "package.json")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	var args []string
	// Node 20 has a global WebSocket only behind a flag; later versions have it by default.
	if exec.CommandContext(ctx, node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").Run() != nil {
		args = append(args, "--experimental-websocket")
	}

	srv := stoattest.NewServer(t)
	w := srv.World()
	general, alice, bob := w.ChannelByName("general").Id, w.UserByName("alice").Id, w.UserByName("bob").Id

	cmd := exec.CommandContext(ctx, node, append(args, "client.mjs", srv.URL, srv.Token())...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STOAT_SEND_CHANNEL="+general, "STOAT_SEND_CONTENT=hello from stoat.js")
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &nodeOutput{t: t, lines: make(chan string, 256)}
	go func() {
		defer close(out.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.lines <- sc.Text()
		}
	}()
	exited := false
	defer func() {
		if !exited {
			cancel()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("stoat.js output:\n%s\nstderr:\n%s", strings.Join(out.all, "\n"), stderr.String())
		}
	}()

	ready := out.await(ctx, "READY ")
	if want := "READY ermine servers=2 channels=5 "; !strings.HasPrefix(ready, want) || !strings.HasSuffix(ready, " members=2 emojis=1") {
		t.Fatalf("got %q, want %q… members=2 emojis=1", ready, want)
	}
	// The message stoat.js sent: its REST answer and its Message event, in either order.
	var sentID string
	for got := map[string]bool{}; len(got) < 2; {
		line := out.awaitAny(ctx, "SENT ", "MESSAGE hello from stoat.js")
		if id, ok := strings.CutPrefix(line, "SENT "); ok {
			sentID = id
			got["SENT"] = true
		} else {
			got["MESSAGE"] = true
		}
	}
	if stored := srv.World().Messages[general]; stored[len(stored)-1].Id != sentID || stored[len(stored)-1].Content != "hello from stoat.js" {
		t.Fatalf("the server did not store stoat.js's message %s", sentID)
	}
	wantStatus(t, do(t, srv, "PATCH", "/channels/"+general+"/messages/"+sentID, map[string]any{"content": "edited by the test"}), 200)
	out.await(ctx, "UPDATE "+sentID+" edited by the test")

	one, err := srv.PostMessage(&stoatpb.Message{Channel: general, Author: alice, Content: "one"})
	if err != nil {
		t.Fatal(err)
	}
	out.await(ctx, "MESSAGE one")
	wantStatus(t, do(t, srv, "PUT", "/channels/"+general+"/messages/"+one.Id+"/reactions/%F0%9F%91%8D", nil), 204)
	out.await(ctx, "REACT "+one.Id+" "+w.Self.Id+" 👍")

	pushed := func(id, content string) stoatpb.Event {
		return &stoatpb.MessageCreateEvent{Message: &stoatpb.Message{Id: id, Channel: general, Author: bob, Content: content}}
	}
	if err := srv.Push(&stoatpb.ChannelStartTypingEvent{ChannelId: general, UserId: bob}, pushed("01KDX00000000000000000000A", "two")); err != nil {
		t.Fatal(err)
	}
	out.await(ctx, "TYPING "+general) // bob is not in stoat.js's cache (not in Ready): no user id
	out.await(ctx, "MESSAGE two")
	if err := srv.PushBulk(pushed("01KDX00000000000000000000B", "three"), pushed("01KDX00000000000000000000C", "four")); err != nil {
		t.Fatal(err)
	}
	out.await(ctx, "MESSAGE three")
	out.await(ctx, "MESSAGE four")
	if _, err := srv.PostMessage(&stoatpb.Message{Channel: general, Author: alice, Content: "bye"}); err != nil {
		t.Fatal(err)
	}
	out.await(ctx, "BYE")
	for range out.lines { // drain until the process closes stdout
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("stoat.js client: %v", err)
	}
	if st := srv.Stats(); st.Routes["GET /{$}"] != 1 || st.Routes["POST /channels/{target}/messages"] != 1 || st.Authenticated != 1 {
		t.Errorf("stats %+v", st)
	}
}

// nodeOutput reads the lines the stoat.js script prints.
type nodeOutput struct {
	t     *testing.T
	lines chan string
	all   []string
}

// awaitAny returns the next line starting with one of the prefixes, failing the test on ERROR
// lines other than the known stoat.js one, at the end of the output, or at the deadline.
func (o *nodeOutput) awaitAny(ctx context.Context, prefixes ...string) string {
	o.t.Helper()
	for {
		select {
		case line, ok := <-o.lines:
			if !ok {
				o.t.Fatalf("stoat.js ended before printing %q", prefixes)
			}
			o.all = append(o.all, line)
			if strings.HasPrefix(line, "ERROR ") && !strings.Contains(line, knownStoatJSError) {
				o.t.Errorf("stoat.js: %s", line)
			}
			for _, p := range prefixes {
				if strings.HasPrefix(line, p) {
					return line
				}
			}
		case <-ctx.Done():
			o.t.Fatalf("stoat.js did not print %q: %v", prefixes, errors.Join(ctx.Err()))
		}
	}
}

func (o *nodeOutput) await(ctx context.Context, prefix string) string {
	o.t.Helper()
	return o.awaitAny(ctx, prefix)
}
