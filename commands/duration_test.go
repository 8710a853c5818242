package commands

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90s", 90 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"2d", 48 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{"1w", 7 * 24 * time.Hour, ""},
		{"1w1d1h1m1s", (8*24+1)*time.Hour + time.Minute + time.Second, ""},
		{"12h1d", 36 * time.Hour, ""},
		{"0s", 0, ""},
		{"", 0, "empty"},
		{"10", 0, "no unit"},
		{"1h30", 0, "no unit"},
		{"-5m", 0, "negative"},
		{"+5m", 0, "not a duration"},
		{"5x", 0, "not a duration"},
		{"d", 0, "not a duration"},
		{"1dh", 0, "not a duration"},
		{"1..2h", 0, "not a duration"},
		{"1000000w", 0, "too long"},
		{"106751d106751d", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
		}
	}
}
