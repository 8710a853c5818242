package shardactor_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/shardactor"
	"github.com/ermine-rt/ermine/stoattest"
)

// TestMalformedFramesRateLimited: 1000 malformed frames of one type, sent in bursts longer apart
// than RepeatLogInterval with good events between them, are all counted; the log has the first
// ones in full, then about one summary per burst, and together the lines account for every frame.
func TestMalformedFramesRateLimited(t *testing.T) {
	const bursts, perBurst = 10, 100
	srv := stoattest.NewServer(t)
	logger, logs := newLogger(t)
	cfg := steady(testConfig(srv, bonfire.JSON, logger))
	cfg.RepeatLogInterval = 50 * time.Millisecond
	rec := newRecorder()
	sh := spawn(t, newSystem(t, logger), cfg, rec)
	rec.wait(t, "Ready", func(evs []stoatpb.Event) bool { return count[*stoatpb.ReadyEvent](evs) == 1 })

	bad := []byte(`{"type":"Message","_id":"01BAD","channel":`)
	for b := 0; b < bursts; b++ {
		for i := 0; i < perBurst; i++ {
			srv.PushRaw(websocket.MessageText, bad)
		}
		if err := srv.Push(typing(b, 1)...); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "the good event after a burst", func(evs []stoatpb.Event) bool {
			return count[*stoatpb.ChannelStartTypingEvent](evs) == b+1
		})
		time.Sleep(2 * cfg.RepeatLogInterval)
	}
	if st := sh.Stats(); st.DecodeErrors != bursts*perBurst || st.Reconnects != 0 {
		t.Errorf("stats = %+v, want %d decode errors", st, bursts*perBurst)
	}
	sh.Stop()
	if err := waitDone(t, sh); err != shardactor.ErrStopped {
		t.Fatalf("Err = %v", err)
	}

	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "malformed frame") {
			lines = append(lines, l)
		}
	}
	t.Logf("the lines about malformed frames:\n%s", strings.Join(lines, "\n"))
	suppressed := regexp.MustCompile(`suppressed=(\d+)`)
	var accounted uint64
	summaries := 0
	for _, l := range lines {
		if m := suppressed.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			accounted += n
			summaries++
		} else {
			accounted++
		}
	}
	// 3 in full, then about one summary per burst after the first (two if a loaded machine
	// takes longer than an interval over a burst), and the last count when the connection ends.
	if maxLines := 3 + 2*bursts + 1; len(lines) > maxLines || summaries < bursts/2 {
		t.Errorf("%d lines, %d summaries, want ≤ %d lines and ≥ %d summaries:\n%s",
			len(lines), summaries, maxLines, bursts/2, strings.Join(lines, "\n"))
	}
	if accounted != bursts*perBurst {
		t.Errorf("the lines account for %d frames, want %d:\n%s", accounted, bursts*perBurst, strings.Join(lines, "\n"))
	}
}
