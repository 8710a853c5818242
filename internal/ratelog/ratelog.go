// Package ratelog keeps repeated faults from flooding a log: the first occurrences of a key (a
// handler, a frame type, an owner) are logged in full, after that at most one summary line per
// interval says how many were left out. Counting is the caller's business; this package only
// decides what to write.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a Limiter's zero fields.
const (
	DefaultBurst    = 3
	DefaultInterval = 10 * time.Second
	DefaultMaxKeys  = 1024
)

// overflowKey collects the keys past MaxKeys, so that a flood of distinct keys (junk frame types
// from a hostile server) cannot grow the table.
const overflowKey = "(other)"

// Limiter decides, per key, which occurrences of a fault are logged. The zero value is ready to
// use with the defaults; it is safe for concurrent use.
type Limiter struct {
	// Burst is how many occurrences of a key are logged in full (default 3).
	Burst int
	// Interval is the least time between two summaries of one key (default 10s).
	Interval time.Duration
	// MaxKeys bounds the keys remembered (default 1024); later keys share one entry.
	MaxKeys int
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	full       int       // occurrences logged in full
	suppressed uint64    // occurrences left out since the last line
	last       time.Time // when the last line (full or summary) was written
}

// Verdict says how to log one occurrence.
type Verdict struct {
	// Full: log this occurrence with every detail (stack, error, payload facts).
	Full bool
	// Suppressed, when not Full and not 0: log one summary line for this key saying that
	// Suppressed occurrences (this one included) were left out since the last line.
	Suppressed uint64
}

// Skip reports whether nothing is to be logged for this occurrence.
func (v Verdict) Skip() bool { return !v.Full && v.Suppressed == 0 }

// Check records one occurrence of key and says how to log it.
func (l *Limiter) Check(key string) Verdict {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key)
	if e.full < l.burst() {
		e.full++
		e.last = now
		return Verdict{Full: true}
	}
	e.suppressed++
	if now.Sub(e.last) < l.interval() {
		return Verdict{}
	}
	n := e.suppressed
	e.suppressed, e.last = 0, now
	return Verdict{Suppressed: n}
}

// Flush calls fn for every key with occurrences not yet reported, and forgets them: a runtime
// calls it when it stops, so that the last interval's count is not lost.
func (l *Limiter) Flush(fn func(key string, suppressed uint64)) {
	l.mu.Lock()
	var pending []struct {
		key string
		n   uint64
	}
	for k, e := range l.keys {
		if e.suppressed > 0 {
			pending = append(pending, struct {
				key string
				n   uint64
			}{k, e.suppressed})
			e.suppressed = 0
		}
	}
	l.mu.Unlock()
	for _, p := range pending {
		fn(p.key, p.n)
	}
}

// Log writes msg at level for one occurrence of key: with attrs and full() when the verdict is
// Full, as a summary with the count of left-out occurrences otherwise, or not at all. full may be
// nil; it is called only when its attributes are written (a stack is costly to take).
func (l *Limiter) Log(logger *slog.Logger, level slog.Level, key, msg string, full func() []any, attrs ...any) {
	v := l.Check(key)
	switch {
	case v.Full:
		if full != nil {
			attrs = append(attrs, full()...)
		}
		logger.Log(context.Background(), level, msg, attrs...)
	case v.Suppressed > 0:
		attrs = append(attrs, "suppressed", v.Suppressed, "interval", l.interval())
		logger.Log(context.Background(), level, msg+" (repeated; details were logged for the first occurrences)", attrs...)
	}
}

func (l *Limiter) entry(key string) *entry {
	if l.keys == nil {
		l.keys = make(map[string]*entry)
	}
	if e, ok := l.keys[key]; ok {
		return e
	}
	max := l.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	if len(l.keys) >= max {
		key = overflowKey
		if e, ok := l.keys[key]; ok {
			return e
		}
	}
	e := &entry{}
	l.keys[key] = e
	return e
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return DefaultBurst
}

func (l *Limiter) interval() time.Duration {
	if l.Interval > 0 {
		return l.Interval
	}
	return DefaultInterval
}
