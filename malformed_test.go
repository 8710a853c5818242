package ermine_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// TestMalformedFramesAreCountedAndLoggedBounded: 1000 malformed frames of one type, interleaved
// with good events, are each counted in Bot.Stats().Shard.DecodeErrors; the good events still
// flow; the log has a bounded number of lines about them, whose full lines and summaries account
// for every one.
func TestMalformedFramesAreCountedAndLoggedBounded(t *testing.T) {
	const n = 1000
	r := runBot(t, bonfire.JSON)
	ch := firstTextChannel(t, r.srv.World())
	user := r.srv.World().Users[0].GetId()
	got := make(chan string, n+1)
	ermine.Handle(r.bot, func(ctx *ermine.Context, ev *stoatpb.ChannelStartTypingEvent) error {
		got <- ev.GetUserId()
		return nil
	})
	r.waitReady(t)

	bad := []byte(`{"type":"Message","_id":"01BAD","channel":`)
	for i := 0; i < n; i++ {
		r.srv.PushRaw(websocket.MessageText, bad)
		if err := r.srv.Push(&stoatpb.ChannelStartTypingEvent{ChannelId: ch.GetId(), UserId: user}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatalf("good event %d never reached the handler; stats %+v", i, r.bot.Stats().Shard)
		}
	}
	if st := r.bot.Stats().Shard; st.DecodeErrors != n {
		t.Errorf("Stats().Shard.DecodeErrors = %d, want %d", st.DecodeErrors, n)
	}

	// Stop the bot: the count of the last interval is logged when the connection ends.
	r.stop()
	select {
	case err := <-r.err:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.err <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}

	var lines []string
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(l, "malformed frame") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 || len(lines) > 10 {
		t.Fatalf("%d log lines about malformed frames, want 1..10:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	suppressed := regexp.MustCompile(`suppressed=(\d+)`)
	var accounted uint64
	summaries := 0
	for _, l := range lines {
		if m := suppressed.FindStringSubmatch(l); m != nil {
			k, _ := strconv.ParseUint(m[1], 10, 64)
			accounted += k
			summaries++
		} else {
			accounted++ // a line in full
		}
		if !strings.Contains(l, "type=Message") {
			t.Errorf("a line does not name the frame type: %s", l)
		}
	}
	if summaries == 0 || accounted != n {
		t.Errorf("%d summaries accounting for %d frames, want ≥ 1 and %d:\n%s", summaries, accounted, n, strings.Join(lines, "\n"))
	}
}
