package bonfire

import (
	"strings"
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// TestMemoDepth checks that an object remembered at one nesting depth is not reused at a deeper
// one, where decoding it would exceed maxDepth.
func TestMemoDepth(t *testing.T) {
	// The avatar's metadata nests three objects deep in the user.
	user := `{"_id":"01HF7FYKE0VT2KVKJ34J3MHVBD","username":"bob","discriminator":"3141","display_name":"Bob",` +
		`"avatar":{"_id":"P744Yajlh8I9c8PEIOXyvkNFj46kCoR50sobKboFoB","tag":"avatars","metadata":{"type":"Image","width":512}}}`
	buf := []byte(user + strings.Repeat(" ", 8))
	decodeAt := func(d *decoder, depth int) (*stoatpb.User, *SyntaxError) {
		d.reset(buf, false)
		d.depth = depth
		u := memoized(d, nil, decodeUser)
		return u, d.err
	}
	d := &decoder{strs: newInternTable(), memo: newObjectMemo()}
	decodeAt(d, 1) // the first time only notes the object's prefix
	first, err := decodeAt(d, 1)
	if err != nil || first.GetAvatar().GetMetadata().GetWidth() != 512 {
		t.Fatalf("at depth 1: %v, %v", first, err)
	}
	if again, err := decodeAt(d, 0); err != nil || again != first {
		t.Fatalf("at depth 0: %p (first %p), %v; want the remembered object", again, first, err)
	}
	plain := &decoder{}
	for _, depth := range []int{maxDepth - 3, maxDepth - 2} {
		_, want := decodeAt(plain, depth)
		u, err := decodeAt(d, depth)
		switch {
		case (err == nil) != (want == nil) || (err != nil && *err != *want):
			t.Errorf("at depth %d: error %v, without the memo %v", depth, err, want)
		case err == nil && !proto.Equal(u, first):
			t.Errorf("at depth %d: %v, want %v", depth, u, first)
		}
		if depth == maxDepth-2 && err == nil {
			t.Errorf("at depth %d the user decoded; the test needs a depth where it fails", depth)
		}
	}
}
