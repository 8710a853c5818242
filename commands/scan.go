package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// closers maps each opening quote to its closing quote: ASCII quotes, and the curly ones that
// phone keyboards type.
var closers = map[rune]rune{'"': '"', '“': '”', '„': '“', '«': '»'}

// scanner splits a command line into words and quoted phrases, keeping the remainder intact for
// rest-of-line arguments.
type scanner struct {
	s   string
	pos int
}

// next returns the next word or quoted phrase; ok is false at the end of the line. Inside
// quotes a backslash escapes the next character.
func (sc *scanner) next() (tok string, ok bool, err error) {
	sc.skipSpace()
	if sc.pos >= len(sc.s) {
		return "", false, nil
	}
	r, size := utf8.DecodeRuneInString(sc.s[sc.pos:])
	closer, quoted := closers[r]
	if !quoted {
		end := strings.IndexFunc(sc.s[sc.pos:], unicode.IsSpace)
		if end < 0 {
			end = len(sc.s) - sc.pos
		}
		tok = sc.s[sc.pos : sc.pos+end]
		sc.pos += end
		return tok, true, nil
	}
	start := sc.pos
	sc.pos += size
	var b strings.Builder
	for sc.pos < len(sc.s) {
		r, size := utf8.DecodeRuneInString(sc.s[sc.pos:])
		sc.pos += size
		switch {
		case r == '\\' && sc.pos < len(sc.s):
			r, size = utf8.DecodeRuneInString(sc.s[sc.pos:])
			sc.pos += size
			b.WriteRune(r)
		case r == closer:
			if next, _ := utf8.DecodeRuneInString(sc.s[sc.pos:]); sc.pos < len(sc.s) && !unicode.IsSpace(next) {
				return "", false, fmt.Errorf("expected a space after the closing quote in %s", sc.s[start:])
			}
			return b.String(), true, nil
		default:
			b.WriteRune(r)
		}
	}
	return "", false, fmt.Errorf("the quote in %s is not closed", sc.s[start:])
}

// rest returns the remainder of the line, trimmed, and consumes it.
func (sc *scanner) rest() string {
	sc.skipSpace()
	r := strings.TrimRightFunc(sc.s[sc.pos:], unicode.IsSpace)
	sc.pos = len(sc.s)
	return r
}

func (sc *scanner) skipSpace() {
	sc.pos = len(sc.s) - len(strings.TrimLeftFunc(sc.s[sc.pos:], unicode.IsSpace))
}
