// Package clock is the clock the benchmark's processes share: CLOCK_MONOTONIC, read in Go
// through the runtime's monotonic clock and in Node through process.hrtime.bigint(), so that
// the frame server can write its reading into a frame and the bot's handler, in another
// process, can subtract it from its own. Both processes must run on the same Linux machine.
package clock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// StampLen is the width of a stamp: CLOCK_MONOTONIC nanoseconds as zero-padded decimal digits,
// fixed so the server can overwrite a placeholder in a pre-encoded frame without re-encoding it.
const StampLen = 19

// Clock reads CLOCK_MONOTONIC in nanoseconds.
type Clock struct {
	base  int64     // CLOCK_MONOTONIC at start
	start time.Time // carries Go's monotonic reading, which is CLOCK_MONOTONIC on Linux
}

// New returns a Clock. It reads CLOCK_MONOTONIC once (a system call); Now then costs what
// time.Now costs (a vDSO call).
func New() (*Clock, error) {
	start := time.Now()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("clock: reading CLOCK_MONOTONIC: %w", err)
	}
	return &Clock{base: ts.Nano(), start: start}, nil
}

// Now returns CLOCK_MONOTONIC in nanoseconds.
func (c *Clock) Now() int64 { return c.base + int64(time.Since(c.start)) }

// PutStamp writes ns into b[:StampLen] as zero-padded decimal digits.
func PutStamp(b []byte, ns int64) {
	for i := StampLen - 1; i >= 0; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
}

// ParseStamp reads the stamp at the start of s; ok is false when s does not start with one or
// the stamp is zero (a frame the server did not stamp).
func ParseStamp(s string) (ns int64, ok bool) {
	if len(s) < StampLen {
		return 0, false
	}
	for i := 0; i < StampLen; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		ns = ns*10 + int64(c-'0')
	}
	return ns, ns > 0
}
