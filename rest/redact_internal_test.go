package rest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRedactedPrintsOnlyItsMessage: whatever the verb, a redacted error prints its redacted
// message, never the fields of the error it wraps.
func TestRedactedPrintsOnlyItsMessage(t *testing.T) {
	err := redactErr(fmt.Errorf("parse https://x/webhooks/1/%s: %w", "S3CRET", errors.New("bad")), []string{"S3CRET"})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%t", "%x", "%e"} {
		if out := fmt.Sprintf(verb, err); strings.Contains(out, "S3CRET") {
			t.Errorf("%s shows the secret: %s", verb, out)
		}
	}
}
