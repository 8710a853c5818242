package stoattest

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32: no I, L, O or U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulidGen generates ULIDs: 48 bits of milliseconds since the Unix epoch, then 80 random bits.
// Within one millisecond (or if the clock steps back) it is monotonic: the random part of the
// previous id is incremented, so ids always sort in generation order, as message ids must.
type ulidGen struct {
	mu     sync.Mutex
	now    func() time.Time
	rnd    *rand.ChaCha8
	lastMs uint64
	hi     uint16 // the top 16 bits of the last random part
	lo     uint64 // the low 64 bits of the last random part
}

func newULIDGen(now func() time.Time, seed [32]byte) *ulidGen {
	return &ulidGen{now: now, rnd: rand.NewChaCha8(seed)}
}

// New returns a fresh ULID, greater than every id this generator returned before.
func (g *ulidGen) New() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := uint64(g.now().UnixMilli())
	if ms <= g.lastMs {
		ms = g.lastMs
		g.lo++
		if g.lo == 0 {
			g.hi++
			if g.hi == 0 { // 2^80 ids in one millisecond: move to the next one
				ms++
				g.fresh()
			}
		}
	} else {
		g.fresh()
	}
	g.lastMs = ms
	return encodeULID(ms, g.hi, g.lo)
}

func (g *ulidGen) fresh() {
	var b [10]byte
	_, _ = g.rnd.Read(b[:])
	g.hi = binary.BigEndian.Uint16(b[:2])
	g.lo = binary.BigEndian.Uint64(b[2:])
}

// encodeULID writes the 128-bit value ms<<80 | hi<<64 | lo as 26 base32 digits.
func encodeULID(ms uint64, hi uint16, lo uint64) string {
	top := ms<<16 | uint64(hi) // bits 127..64
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | top<<59
		top >>= 5
	}
	return string(out[:])
}

// isULID reports whether s parses as a ULID (26 base32 digits, case-insensitive, first digit ≤ 7).
func isULID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		ok := false
		for j := 0; j < len(crockford); j++ {
			if crockford[j] == c {
				ok = true
				if i == 0 && j > 7 {
					return false
				}
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
