package commands

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestParseArgs parses lines against a command with one argument of each type that needs no
// cache; the entity types are tested over the runtime (router_test.go).
func TestParseArgs(t *testing.T) {
	n := Int("n", "")
	d := Duration("d", "").Default(time.Minute)
	word := String("word", "").Optional()
	rest := Rest("rest", "").Optional()
	cmd := &Command{Name: "c", Args: []Arg{n, d, word, rest}, Run: func(*Context) error { return nil }}
	cmd.index(nil, false)

	tests := []struct {
		line string
		want string // n d word(given) rest(given), or the usage error
	}{
		{"5", "5 1m0s (false) (false)"},
		{"-3 2d", "-3 48h0m0s (false) (false)"},
		{`7 10s hello`, "7 10s hello(true) (false)"},
		{`7 10s "two words" and  the rest `, `7 10s two words(true) and  the rest(true)`},
		{`7 10s "" x`, `7 10s (true) x(true)`},
		{"", "<n> is missing"},
		{"abc", `n: "abc" is not a whole number`},
		{"99999999999999999999", `n: "99999999999999999999" is too large`},
		{"1 soon", `d: "soon" is not a duration (e.g. 90s, 10m, 1h30m, 2d)`},
		{"1 -1h", `d: "-1h" is negative`},
		{`1 1h "open`, `the quote in "open is not closed`},
	}
	for _, tt := range tests {
		ctx := &Context{Command: cmd}
		err := ctx.parseArgs(&scanner{s: tt.line})
		got := fmt.Sprintf("%d %v %s(%v) %s(%v)", n.Get(ctx), d.Get(ctx), word.Get(ctx), word.Given(ctx), rest.Get(ctx), rest.Given(ctx))
		var usage *usageError
		if errors.As(err, &usage) {
			got = usage.what
		} else if err != nil {
			t.Errorf("%q: unexpected error %v", tt.line, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestParseArgsExtra(t *testing.T) {
	n := Int("n", "")
	cmd := &Command{Name: "c", Args: []Arg{n}, Run: func(*Context) error { return nil }}
	cmd.index(nil, false)
	err := (&Context{Command: cmd}).parseArgs(&scanner{s: "1 2"})
	if err == nil || err.Error() != `I did not expect "2"` {
		t.Errorf("got %v", err)
	}
}

func TestConverterInternalError(t *testing.T) {
	boom := errors.New("boom")
	p := NewParam("x", "", "thing", func(*Context, string) (int, error) { return 0, Internal(boom) })
	cmd := &Command{Name: "c", Args: []Arg{p}, Run: func(*Context) error { return nil }}
	cmd.index(nil, false)
	err := (&Context{Command: cmd}).parseArgs(&scanner{s: "1"})
	if !errors.Is(err, boom) || !isInternal(err) {
		t.Errorf("got %v, want the converter's internal error", err)
	}
}

func TestMentionID(t *testing.T) {
	const id = "01KBZ4W8ZJ3Y2D6TQ5VG7XHNMR"
	tests := []struct {
		word, sigil, want string
		ok                bool
	}{
		{"<@" + id + ">", "@", id, true},
		{id, "@", id, true},
		{"<#" + id + ">", "#", id, true},
		{"<%" + id + ">", "%", id, true},
		{"<#" + id + ">", "@", "", false}, // a channel mention is no user
		{"<@" + id, "@", "", false},
		{"<@alice>", "@", "", false},
		{"alice", "@", "alice", false},
		{"01KBZ4W8ZJ3Y2D6TQ5VG7XHNMU", "@", "01KBZ4W8ZJ3Y2D6TQ5VG7XHNMU", false}, // U is not base32
		{"01kbz4w8zj3y2d6tq5vg7xhnmr", "@", "01kbz4w8zj3y2d6tq5vg7xhnmr", true},
	}
	for _, tt := range tests {
		got, ok := mentionID(tt.word, tt.sigil)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("mentionID(%q, %q) = %q, %v; want %q, %v", tt.word, tt.sigil, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUsage(t *testing.T) {
	r := New(WithPrefix("!"))
	set := &Command{Name: "set", Args: []Arg{String("key", ""), Rest("value", "")}, Run: func(*Context) error { return nil }}
	config := &Command{Name: "config", Subcommands: []*Command{set, {Name: "get", Args: []Arg{String("key", "")}, Run: set.Run}}}
	greet := &Command{Name: "greet", Args: []Arg{User("user", ""), Int("times", "").Default(1), Rest("note", "").Optional()}, Run: set.Run}
	r.Add(config, greet)
	for c, want := range map[*Command]string{
		config: "!config <set|get>",
		set:    "!config set <key> <value...>",
		greet:  "!greet <user> [times=1] [note...]",
	} {
		if got := r.usage(c); got != want {
			t.Errorf("usage %q, want %q", got, want)
		}
	}
}

func TestDefinitionMistakes(t *testing.T) {
	run := func(*Context) error { return nil }
	tests := map[string][]*Command{
		"two words":          {{Name: "a b", Run: run}},
		"no run":             {{Name: "a"}},
		"same name":          {{Name: "a", Run: run}, {Name: "b", Aliases: []string{"a"}, Run: run}},
		"same sub":           {{Name: "a", Subcommands: []*Command{{Name: "x", Run: run}, {Name: "x", Run: run}}}},
		"same argument":      {{Name: "a", Args: []Arg{Int("n", ""), Int("n", "")}, Run: run}},
		"rest not last":      {{Name: "a", Args: []Arg{Rest("r", ""), Int("n", "")}, Run: run}},
		"required after opt": {{Name: "a", Args: []Arg{Int("n", "").Optional(), Int("m", "")}, Run: run}},
	}
	for name, cmds := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Add did not panic", name)
				}
			}()
			New().Add(cmds...)
		}()
	}
}
