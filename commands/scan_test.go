package commands

import (
	"slices"
	"strings"
	"testing"
)

func TestScanner(t *testing.T) {
	tests := []struct {
		line  string
		words []string
		err   string // a substring of the error after words
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"a b  c", []string{"a", "b", "c"}, ""},
		{"\ta\n", []string{"a"}, ""},
		{`"two words" x`, []string{"two words", "x"}, ""},
		{`"" x`, []string{"", "x"}, ""},
		{`"say \"hi\"" \x`, []string{`say "hi"`, `\x`}, ""},
		{`“curly quotes” «guillemets»`, []string{"curly quotes", "guillemets"}, ""},
		{`don't`, []string{"don't"}, ""},
		{`a"b"`, []string{`a"b"`}, ""},
		{`"open`, nil, "is not closed"},
		{`"a"b`, nil, "space after the closing quote"},
		{`x "trailing\`, []string{"x"}, "is not closed"},
	}
	for _, tt := range tests {
		sc := &scanner{s: tt.line}
		var words []string
		var err error
		for {
			w, ok, e := sc.next()
			if e != nil || !ok {
				err = e
				break
			}
			words = append(words, w)
		}
		if !slices.Equal(words, tt.words) {
			t.Errorf("%q: words %q, want %q", tt.line, words, tt.words)
		}
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: error %v, want %q", tt.line, err, tt.err)
		}
	}
}

func TestScannerRest(t *testing.T) {
	sc := &scanner{s: `first   "keeps  its"   spacing  `}
	if w, _, _ := sc.next(); w != "first" {
		t.Fatalf("first word %q", w)
	}
	if got := sc.rest(); got != `"keeps  its"   spacing` {
		t.Errorf("rest %q", got)
	}
	if _, ok, _ := sc.next(); ok {
		t.Error("a word after rest")
	}
}
