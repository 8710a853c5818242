package cacheactors

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

var update = flag.Bool("update", false, "rewrite doc.go's tables from the event specs")

// synthetic are the event types that never reach the router or an owner (the shard actor hands
// them to the handlers itself): they touch no cache and have no spec.
var synthetic = map[stoatpb.EventType]bool{stoatpb.EventTypeBeforeConnect: true, stoatpb.EventTypeAfterConnect: true}

// TestEverySpecIsTested checks that every event type has a spec (or is synthetic), and that
// each spec names tests that exist: a test function, and for "TestName/subtest" a string literal
// with the subtest's name in the test's file (TestEventEffects' case names).
func TestEverySpecIsTested(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]map[string]bool{} // test function → the string literals of its file
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		literals := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if l, ok := n.(*ast.BasicLit); ok && l.Kind == token.STRING {
				if s, err := strconv.Unquote(l.Value); err == nil {
					literals[s] = true
				}
			}
			return true
		})
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				tests[fn.Name.Name] = literals
			}
		}
	}
	for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
		s := &specs[typ]
		if synthetic[typ] {
			if len(s.tests) > 0 {
				t.Errorf("%s is synthetic and has a spec", typ)
			}
			continue
		}
		if len(s.tests) == 0 {
			t.Errorf("%s: no spec (or a spec that names no test)", typ)
		}
		for _, name := range s.tests {
			fn, sub, _ := strings.Cut(name, "/")
			literals, ok := tests[fn]
			if !ok || (sub != "" && !literals[sub]) {
				t.Errorf("%s: its spec names %q, which is not a test of this package", typ, name)
			}
		}
	}
}

// TestRoutesGoToTheSpecsOwner checks each spec's owner kind against its route, for an event the
// router knows nothing about: the spec's own kind, or the shard owner (an owner it cannot know).
func TestRoutesGoToTheSpecsOwner(t *testing.T) {
	for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
		if synthetic[typ] {
			continue
		}
		s := &specs[typ]
		ev := stoatpb.NewEvent(typ)
		key, _ := NewRouter("s").Route(ev, func(actors.Key, any) {})
		if key.Kind != s.owner && key.Kind != actors.KindShard {
			t.Errorf("%s: routed to %s, its spec says %s", typ, key, s.owner)
		}
	}
}

// TestDocTables checks that doc.go's routing table and its list of every event's cache effect
// are what the event specs say. go generate (go test -run TestDocTables -update) rewrites them.
func TestDocTables(t *testing.T) {
	old, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(old)
	doc = replaceBlock(t, doc, "// # Routing: event → primary owner\n", routingTable())
	doc = replaceBlock(t, doc, "// # The cache effect of every event\n", effectsList())
	if doc == string(old) {
		return
	}
	if *update {
		if err := os.WriteFile("doc.go", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("doc.go's tables differ from the event specs: run go generate ./cacheactors")
}

// replaceBlock replaces the first preformatted block (lines "//\t…") after heading with block.
func replaceBlock(t *testing.T, doc, heading string, block []string) string {
	t.Helper()
	i := strings.Index(doc, heading)
	if i < 0 {
		t.Fatalf("doc.go has no %q", heading)
	}
	start := i + strings.Index(doc[i:], "\n//\t") + 1
	end := start
	for strings.HasPrefix(doc[end:], "//\t") {
		end += strings.Index(doc[end:], "\n") + 1
	}
	var b strings.Builder
	for _, l := range block {
		b.WriteString(strings.TrimRight("//\t"+l, " ") + "\n")
	}
	return doc[:start] + b.String() + doc[end:]
}

// byOwner is the order of the documentation's tables: by owner kind, then by event type.
var byOwner = [...]actors.Kind{actors.KindShard, actors.KindChannel, actors.KindServer, actors.KindUserDir}

// documented calls f with the spec of every event type but the synthetic ones, in byOwner order.
func documented(f func(typ stoatpb.EventType, s *spec)) {
	for _, kind := range byOwner {
		for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
			if s := &specs[typ]; !synthetic[typ] && s.owner == kind {
				f(typ, s)
			}
		}
	}
}

func routingTable() []string {
	rows := [][3]string{{"event", "owner", "routing key"}}
	documented(func(typ stoatpb.EventType, s *spec) {
		key := s.key
		if s.owner == actors.KindShard {
			key = "the connection"
		}
		rows = append(rows, [3]string{typ.String(), s.owner.String(), key})
	})
	var w [2]int
	for _, r := range rows {
		w[0], w[1] = max(w[0], len(r[0])), max(w[1], len(r[1]))
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = fmt.Sprintf("%-*s  %-*s  %s", w[0], r[0], w[1], r[1], r[2])
	}
	return lines
}

// effectsList lists each event's cache context, r, w, p and ≠py, then the events with no cache
// effect.
func effectsList() []string {
	var lines []string
	none := map[actors.Kind][]string{}
	documented(func(typ stoatpb.EventType, s *spec) {
		if s.r == "" && s.w == "" && s.p == "" {
			none[s.owner] = append(none[s.owner], typ.String())
			return
		}
		lines = append(lines, fmt.Sprintf("%s (%s)", typ, s.owner))
		lines = append(lines, "  ctx: "+CacheContextKind(typ).String())
		for _, f := range [...]struct{ label, text string }{{"r", s.r}, {"w", s.w}, {"p", s.p}, {"≠py", s.py}} {
			if f.text != "" {
				lines = append(lines, wrap("  "+f.label+": ", "     ", f.text)...)
			}
		}
	})
	for _, kind := range byOwner {
		if len(none[kind]) > 0 {
			lines = append(lines, fmt.Sprintf("no cache effect (%s)", kind))
			lines = append(lines, wrap("  ", "  ", strings.Join(none[kind], ", "))...)
		}
	}
	return lines
}

// wrap fills text into lines of at most 94 columns, the first after prefix, the others after
// indent.
func wrap(prefix, indent, text string) []string {
	const width = 94
	var lines []string
	line, empty := prefix, true
	for _, word := range strings.Fields(text) {
		if !empty && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line, empty = line+word, false
	}
	return append(lines, line)
}
