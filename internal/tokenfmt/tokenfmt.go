// Package tokenfmt has what the types holding a token share to format themselves without it.
package tokenfmt

import (
	"fmt"
	"io"
)

// Format writes str(), or gostr() for %#v, whatever the verb: the fmt.Formatter of a type that
// holds a token, so that no verb (%d, %t…) prints its fields as they are.
func Format(f fmt.State, verb rune, str, gostr func() string) {
	s := str
	if verb == 'v' && f.Flag('#') {
		s = gostr
	}
	_, _ = io.WriteString(f, s())
}
