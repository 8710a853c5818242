package commands

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseDuration parses a duration as time.ParseDuration does ("90s", "1h30m"), with days ("d")
// and weeks ("w") as units too: "2d", "1w3d", "1d12h". Negative durations and numbers without a
// unit are refused: a command argument is a span of time from now.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative", s)
	}
	var total time.Duration
	for rest := s; rest != ""; {
		num := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if num == 0 || rest[0] == '+' {
			return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 10m, 1h30m, 2d)", s)
		}
		if num < 0 {
			return 0, fmt.Errorf("%q has no unit: write e.g. %ss or %sm", s, rest, rest)
		}
		unit := strings.IndexFunc(rest[num:], func(r rune) bool { return r >= '0' && r <= '9' })
		if unit < 0 {
			unit = len(rest) - num
		}
		seg := rest[:num+unit]
		rest = rest[num+unit:]
		d, err := segment(seg)
		if errors.Is(err, errTooLong) {
			return 0, fmt.Errorf("%q is too long", s)
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 10m, 1h30m, 2d)", s)
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("%q is too long", s)
		}
		total += d
	}
	return total, nil
}

var errTooLong = errors.New("too long")

// segment parses one number and its unit.
func segment(seg string) (time.Duration, error) {
	days := map[byte]time.Duration{'d': 24, 'w': 7 * 24}[seg[len(seg)-1]]
	if days == 0 {
		return time.ParseDuration(seg)
	}
	h, err := time.ParseDuration(seg[:len(seg)-1] + "h")
	if err != nil {
		return 0, err
	}
	if h > math.MaxInt64/days {
		return 0, errTooLong
	}
	return h * days, nil
}
