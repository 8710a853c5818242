package clock

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStampRoundTrip(t *testing.T) {
	for _, ns := range []int64{1, 42, 86_400_000_000_000, 9_223_372_036_854_775_807} {
		b := make([]byte, StampLen+3)
		PutStamp(b, ns)
		got, ok := ParseStamp(string(b[:StampLen]) + " hello")
		if !ok || got != ns {
			t.Errorf("ParseStamp(PutStamp(%d)) = %d, %v", ns, got, ok)
		}
	}
	for _, s := range []string{"", "12345", "0000000000000000000", "00000000000000000x1", "~~~~~~~~~~~~~~~~~~~"} {
		if _, ok := ParseStamp(s); ok {
			t.Errorf("ParseStamp(%q) accepted", s)
		}
	}
}

// TestNowIsClockMonotonic checks Now against CLOCK_MONOTONIC read directly, the clock another
// process (Node's process.hrtime) reads.
func TestNowIsClockMonotonic(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	var ts unix.Timespec
	before := c.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	after := c.Now()
	if d := ts.Nano(); d < before-int64(time.Millisecond) || d > after+int64(time.Millisecond) {
		t.Fatalf("CLOCK_MONOTONIC %d outside [%d, %d] (±1ms)", d, before, after)
	}
}
