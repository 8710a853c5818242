package bonfire

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth bounds the nesting of objects and arrays, so that hostile input cannot exhaust the
// stack. Real frames nest fewer than ten levels.
const maxDepth = 100

// decoder is the token reader that the generated decoders drive. It reads JSON or msgpack from
// buf and keeps the first error (sticky): after an error every read returns a zero value and every
// loop ends, so generated code needs no error checks and always terminates.
type decoder struct {
	buf     []byte
	pos     int
	msgpack bool
	depth   int
	err     *SyntaxError
	scratch []byte       // unescaped JSON strings and keys; valid until the next string read
	strs    *internTable // shared short strings (ids), may be nil
	memo    *objectMemo  // recently decoded embedded objects (memo.go), may be nil
	owned   *byte        // a big string's own buffer, which makeString takes without a copy

	// What tolerant lists (wireopt's tolerant option) skip is recorded in skipped and nskipped,
	// which reset does not clear, so that they cover every child of a Bulk.
	frameType string        // the type of the frame in buf
	base      int           // offset of buf in the frame given to Decoder.Decode (Bulk children)
	fatal     bool          // the error is malformed syntax: no tolerant list may skip past it
	skipped   []SkippedItem // the first maxSkippedDetails items skipped
	nskipped  int           // every item skipped
}

func (d *decoder) reset(buf []byte, msgpack bool) {
	d.buf, d.pos, d.msgpack, d.depth, d.err, d.fatal, d.owned = buf, 0, msgpack, 0, nil, false, nil
}

// maxSkippedDetails bounds the skipped items described per Decode: a hostile Ready of a
// million bad items must not make a million reports.
const maxSkippedDetails = 16

// mark is where a value of a tolerant list begins, to come back to when it fails to decode.
type mark struct{ pos, depth int }

func (d *decoder) mark() mark { return mark{d.pos, d.depth} }

// tolerate ends the decoding of a value of the tolerant list field: an element (index >= 0), or
// the whole list (index < 0). If the value failed to decode, it rewinds to at, skips the value
// with a validating skip and records it as skipped; it reports whether the value failed, and so
// must be left out. If the skip fails too, the value is not well formed: the error stands (the
// skip's, which says what is broken), and it is fatal, so that enclosing tolerant lists do not
// rescan the input.
func (d *decoder) tolerate(at mark, field string, index int, typ string) bool {
	if d.err == nil {
		return false
	}
	if d.fatal {
		return true
	}
	cause := d.err
	d.err, d.pos, d.depth = nil, at.pos, at.depth
	d.ws0()
	start := d.pos
	d.skip()
	if d.err != nil {
		d.fatal = true
		return true
	}
	d.nskipped++
	if len(d.skipped) < maxSkippedDetails {
		path := field
		if index >= 0 {
			path += "[" + strconv.Itoa(index) + "]"
		}
		cause.Offset += d.base
		d.skipped = append(d.skipped, SkippedItem{Frame: d.frameType, Path: path, Type: typ, Offset: d.base + start, Err: cause})
	}
	return true
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &SyntaxError{Offset: d.pos, Reason: reason}
	}
	d.pos = len(d.buf)
}

func (d *decoder) enter() bool {
	d.depth++
	if d.depth > maxDepth {
		d.fail("nesting deeper than " + strconv.Itoa(maxDepth))
		return false
	}
	return true
}

// ws skips JSON white space and reports whether input remains.
func (d *decoder) ws() bool {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\n', '\r', '\t':
			d.pos++
		default:
			return true
		}
	}
	d.fail("unexpected end of input")
	return false
}

func (d *decoder) literal(lit string) bool {
	if len(d.buf)-d.pos >= len(lit) && string(d.buf[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	d.fail("invalid literal")
	return false
}

// null consumes a null and reports whether there was one. After an error it reports true, so
// that callers skip their work.
func (d *decoder) null() bool {
	if d.err != nil {
		return true
	}
	if d.msgpack {
		if d.pos < len(d.buf) && d.buf[d.pos] == 0xc0 {
			d.pos++
			return true
		}
		return false
	}
	if !d.ws() {
		return true
	}
	if d.buf[d.pos] == 'n' {
		return d.literal("null")
	}
	return false
}

// openObject starts reading an object. It returns false for null (and on error). n is the
// iteration state for nextKey.
func (d *decoder) openObject() (n int, ok bool) {
	if d.err != nil {
		return 0, false
	}
	if d.msgpack {
		return d.mpOpen(0x80, 0xde, 0xdf, 2, "an object")
	}
	if !d.ws() {
		return 0, false
	}
	switch d.buf[d.pos] {
	case '{':
		d.pos++
		return -1, d.enter()
	case 'n':
		d.literal("null")
		return 0, false
	}
	d.fail("expected an object")
	return 0, false
}

// nextKey returns the next key of the object opened by openObject, or false at its end. The
// key's bytes are valid until the next string is read.
func (d *decoder) nextKey(n *int) ([]byte, bool) {
	if d.err != nil {
		return nil, false
	}
	if d.msgpack {
		if *n == 0 {
			d.depth--
			return nil, false
		}
		*n--
		k := d.mpStr(true)
		return k, d.err == nil
	}
	if !d.ws() {
		return nil, false
	}
	c := d.buf[d.pos]
	if c == '}' {
		d.pos++
		d.depth--
		return nil, false
	}
	if *n != -1 {
		if c != ',' {
			d.fail("expected ',' or '}' after an object member")
			return nil, false
		}
		d.pos++
		if !d.ws() {
			return nil, false
		}
		c = d.buf[d.pos]
	}
	*n = -2
	if c != '"' {
		d.fail("expected a string key")
		return nil, false
	}
	k := d.jsonStr()
	if !d.ws() {
		return nil, false
	}
	if d.buf[d.pos] != ':' {
		d.fail("expected ':' after a key")
		return nil, false
	}
	d.pos++
	return k, d.err == nil
}

// openArray starts reading an array. It returns false for null (and on error).
func (d *decoder) openArray() (n int, ok bool) {
	if d.err != nil {
		return 0, false
	}
	if d.msgpack {
		return d.mpOpen(0x90, 0xdc, 0xdd, 1, "an array")
	}
	if !d.ws() {
		return 0, false
	}
	switch d.buf[d.pos] {
	case '[':
		d.pos++
		return -1, d.enter()
	case 'n':
		d.literal("null")
		return 0, false
	}
	d.fail("expected an array")
	return 0, false
}

// nextElem reports whether the array opened by openArray has another element; the caller must
// then read (or skip) exactly one value.
func (d *decoder) nextElem(n *int) bool {
	if d.err != nil {
		return false
	}
	if d.msgpack {
		if *n == 0 {
			d.depth--
			return false
		}
		*n--
		return true
	}
	if !d.ws() {
		return false
	}
	c := d.buf[d.pos]
	if c == ']' {
		d.pos++
		d.depth--
		return false
	}
	if *n != -1 {
		if c != ',' {
			d.fail("expected ',' or ']' after an array element")
			return false
		}
		d.pos++
	}
	*n = -2
	return true
}

// keyString returns a key as a string that outlives the next read.
func (d *decoder) keyString(k []byte) string {
	return d.makeString(k)
}

// str reads a string (null reads as "").
func (d *decoder) str() string {
	return d.makeString(d.strBytes())
}

// enumBytes reads a string whose bytes are only needed until the next read.
func (d *decoder) enumBytes() []byte {
	return d.strBytes()
}

func (d *decoder) strBytes() []byte {
	if d.err != nil {
		return nil
	}
	if d.msgpack {
		return d.mpStr(false)
	}
	if !d.ws() {
		return nil
	}
	switch d.buf[d.pos] {
	case '"':
		return d.jsonStr()
	case 'n':
		d.literal("null")
		return nil
	}
	d.fail("expected a string")
	return nil
}

// jsonStr reads the JSON string at d.pos (on its opening quote). Strings without escapes are
// returned in place; others are unescaped into d.scratch, or into their own buffer when big.
// Invalid UTF-8 becomes U+FFFD, as in encoding/json.
func (d *decoder) jsonStr() []byte {
	d.pos++
	rest := d.buf[d.pos:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		d.fail("unterminated string")
		return nil
	}
	s := rest[:end]
	if bytes.IndexByte(s, '\\') < 0 {
		d.pos += end + 1
		if !utf8.Valid(s) {
			return d.replaceInvalid(s)
		}
		return s
	}
	return d.jsonStrEscaped()
}

// bigString is the length from which a string that cannot be returned in place (it has escapes
// or invalid UTF-8) is built in a buffer of its own, sized once, that becomes the string without
// a copy (see own). Smaller ones go through scratch, which so stays small.
const bigString = 64 << 10

// replacementChar stands for invalid UTF-8, as in encoding/json.
const replacementChar = "\uFFFD"

// replaceInvalid returns a copy of s, which is not valid UTF-8, with each invalid sequence
// replaced by U+FFFD: in scratch, or in its own buffer for a big string.
func (d *decoder) replaceInvalid(s []byte) []byte {
	if len(s) >= bigString {
		return d.own(bytes.ToValidUTF8(s, []byte(replacementChar)))
	}
	d.scratch = append(d.scratch[:0], bytes.ToValidUTF8(s, []byte(replacementChar))...)
	return d.scratch
}

// own marks b, a buffer allocated for one string and never written again, as the next string:
// makeString then takes it as it is instead of copying it.
func (d *decoder) own(b []byte) []byte {
	if len(b) > 0 {
		d.owned = unsafe.SliceData(b)
	}
	return b
}

// stringEnd returns the index in b of the quote that closes the JSON string whose contents begin
// at from, or -1: the first quote not escaped, that is preceded by an even run of backslashes.
func stringEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		k := j
		for k > from && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j
		}
		i = j + 1
	}
}

func (d *decoder) jsonStrEscaped() []byte {
	end := stringEnd(d.buf, d.pos)
	if end < 0 {
		d.fail("unterminated string")
		return nil
	}
	// Unescaping never lengthens a string: the output is sized once, to the escaped length.
	big := end-d.pos >= bigString
	var out []byte
	if big {
		out = make([]byte, 0, end-d.pos)
	} else {
		out = slices.Grow(d.scratch[:0], end-d.pos)
	}
	for d.pos < end {
		i := bytes.IndexByte(d.buf[d.pos:end], '\\')
		if i < 0 {
			out = append(out, d.buf[d.pos:end]...)
			d.pos = end
			break
		}
		out = append(out, d.buf[d.pos:d.pos+i]...)
		// The quote at end is not escaped, so a backslash before it starts an escape inside the
		// string; the check is only a guard.
		if d.pos+i+1 >= end {
			d.fail("unterminated string")
			return nil
		}
		e := d.buf[d.pos+i+1]
		d.pos += i + 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				d.fail("invalid \\u escape in a string")
				return nil
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.pos+1 < end && d.buf[d.pos] == '\\' && d.buf[d.pos+1] == 'u' {
					save := d.pos
					d.pos += 2
					if v, ok := d.hex4(); ok {
						r2 = v
					} else {
						d.pos = save
					}
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
				} else {
					r = utf8.RuneError
					switch {
					case r2 >= 0 && !utf16.IsSurrogate(r2):
						out = utf8.AppendRune(out, r)
						r = r2
					case r2 >= 0: // a surrogate that may pair with the next escape: read it again
						d.pos -= 6
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			d.fail("invalid escape in a string")
			return nil
		}
	}
	d.pos = end + 1
	if !utf8.Valid(out) {
		out = bytes.ToValidUTF8(out, []byte(replacementChar))
	}
	if big {
		return d.own(out)
	}
	d.scratch = out
	return out
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.buf)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.buf[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// makeString converts bytes to a string, sharing short strings (ids) through the intern table.
// A big string built in its own buffer (see own) becomes the string without a copy.
func (d *decoder) makeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if d.strs != nil && len(b) <= maxInternLen {
		return d.strs.get(b)
	}
	if p := unsafe.SliceData(b); p == d.owned {
		d.owned = nil
		return unsafe.String(p, len(b)) // safe: nothing else refers to the buffer or writes it
	}
	return string(b)
}

// maxInternLen covers ULIDs (26) and other short ids and names.
const maxInternLen = 32

// internTable is a direct-mapped cache of recently decoded short strings. Ids repeat across
// frames (channel, author, server), so sharing them saves an allocation per field and memory in
// the cache. It stays bounded: a collision replaces the slot — unless the slot's string was
// found again since it came in, which the miss then only wears down. Ids that never come back (a
// message's own id and nonce, one per frame) would otherwise push out those that do (authors,
// channels).
type internTable struct {
	seed  maphash.Seed
	slots [4096]string
	hits  [4096]uint8 // hits since the slot's string came in, saturating at maxInternHits
}

// maxInternHits bounds how many misses a popular slot resists.
const maxInternHits = 3

func newInternTable() *internTable {
	return &internTable{seed: maphash.MakeSeed()}
}

func (t *internTable) get(b []byte) string {
	i := maphash.Bytes(t.seed, b) & uint64(len(t.slots)-1)
	if s := t.slots[i]; s == string(b) {
		if t.hits[i] < maxInternHits {
			t.hits[i]++
		}
		return s
	}
	s := string(b)
	if t.hits[i] > 0 {
		t.hits[i]--
		return s
	}
	t.slots[i] = s
	return s
}

// numBytes reads a number token: a JSON number, or a number inside a string (the server sends a
// few numbers as strings). It returns nil for null.
func (d *decoder) numBytes() []byte {
	if !d.ws() {
		return nil
	}
	start := d.pos
	switch c := d.buf[d.pos]; {
	case c == '-' || (c >= '0' && c <= '9'):
		d.pos++
		for d.pos < len(d.buf) {
			c := d.buf[d.pos]
			if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
				d.pos++
				continue
			}
			break
		}
		return d.buf[start:d.pos]
	case c == '"':
		s := d.jsonStr()
		if d.err == nil && len(s) == 0 {
			d.fail("expected a number, got an empty string")
		}
		return s
	case c == 'n':
		d.literal("null")
		return nil
	}
	d.fail("expected a number")
	return nil
}

// parseInt parses an integer token, accepting an integral or fractional float (truncated).
func (d *decoder) parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) > 0 && len(digits) <= 18 {
		var v int64
		ok := true
		for _, c := range digits {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if ok {
			if neg {
				v = -v
			}
			return v, true
		}
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		d.fail("invalid integer")
		return 0, false
	}
	return int64(f), true
}

func (d *decoder) int64() int64 {
	if d.err != nil {
		return 0
	}
	if d.msgpack {
		return d.mpInt()
	}
	v, _ := d.parseInt(d.numBytes())
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if d.msgpack {
		return d.mpUint()
	}
	b := d.numBytes()
	if len(b) > 0 && b[0] != '-' && len(b) <= 19 {
		var v uint64
		ok := true
		for _, c := range b {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + uint64(c-'0')
		}
		if ok {
			return v
		}
	}
	if len(b) == 0 {
		return 0
	}
	if v, err := strconv.ParseUint(string(b), 10, 64); err == nil {
		return v
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(f > -1 && f < math.MaxUint64) {
		d.fail("invalid unsigned integer")
		return 0
	}
	return uint64(f)
}

//lint:ignore U1000 protoc-gen-ermine emits it for int32 fields; the model has none today
func (d *decoder) int32() int32 {
	v := d.int64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("integer out of range")
		return 0
	}
	return int32(v)
}

func (d *decoder) uint32() uint32 {
	v := d.uint64()
	if v > math.MaxUint32 {
		d.fail("integer out of range")
		return 0
	}
	return uint32(v)
}

//lint:ignore U1000 protoc-gen-ermine emits it for double fields; the model has none today
func (d *decoder) float64() float64 {
	if d.err != nil {
		return 0
	}
	if d.msgpack {
		return d.mpFloat()
	}
	b := d.numBytes()
	if len(b) == 0 {
		return 0
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		d.fail("invalid number")
	}
	return f
}

func (d *decoder) boolean() bool {
	if d.err != nil {
		return false
	}
	if d.msgpack {
		if d.pos >= len(d.buf) {
			d.fail("unexpected end of input")
			return false
		}
		switch d.buf[d.pos] {
		case 0xc3:
			d.pos++
			return true
		case 0xc2, 0xc0:
			d.pos++
			return false
		}
		d.fail("expected a boolean")
		return false
	}
	if !d.ws() {
		return false
	}
	switch d.buf[d.pos] {
	case 't':
		return d.literal("true")
	case 'f':
		d.literal("false")
		return false
	case 'n':
		d.literal("null")
		return false
	}
	d.fail("expected a boolean")
	return false
}

// timestamp reads an instant as milliseconds since the epoch: an ISO-8601 string (JSON), an
// integer (msgpack, or a number in JSON), or null (0).
func (d *decoder) timestamp() int64 {
	if d.err != nil {
		return 0
	}
	if d.msgpack {
		if d.pos < len(d.buf) && isMpStr(d.buf[d.pos]) {
			return d.parseTime(d.mpStr(false))
		}
		return d.mpInt()
	}
	if !d.ws() {
		return 0
	}
	if d.buf[d.pos] == '"' {
		return d.parseTime(d.jsonStr())
	}
	v, _ := d.parseInt(d.numBytes())
	return v
}

// parseTime parses the server's fixed form 2006-01-02T15:04:05.000Z quickly and anything else
// RFC 3339 allows through package time.
func (d *decoder) parseTime(b []byte) int64 {
	if d.err != nil {
		return 0
	}
	if len(b) == 24 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[23] == 'Z' {
		if ms, ok := fastTime(b); ok {
			return ms
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		d.fail("invalid timestamp")
		return 0
	}
	return t.UnixMilli()
}

func fastTime(b []byte) (int64, bool) {
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	dd, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	ms, ok7 := num(b[20:23])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || dd < 1 || dd > 31 || h > 23 || mi > 59 || s > 60 {
		return 0, false
	}
	days := daysFromCivil(y, mo, dd)
	return ((days*24+int64(h))*60+int64(mi))*60000 + int64(s)*1000 + int64(ms), true
}

// daysFromCivil is Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian
// date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// bytes reads a byte string sent as an array of integers 0–255 (or msgpack bin); null is nil.
func (d *decoder) bytes() []byte {
	if d.err != nil {
		return nil
	}
	if d.msgpack && d.pos < len(d.buf) && d.buf[d.pos] >= 0xc4 && d.buf[d.pos] <= 0xc6 {
		return bytes.Clone(d.mpStr(false))
	}
	n, ok := d.openArray()
	if !ok {
		return nil
	}
	out := []byte{}
	for d.nextElem(&n) {
		v := d.int64()
		if v < 0 || v > 255 {
			d.fail("byte out of range")
			return nil
		}
		out = append(out, byte(v))
	}
	return out
}

// skip consumes one value of any kind, checking that it is well formed.
func (d *decoder) skip() {
	if d.err != nil {
		return
	}
	if d.msgpack {
		d.mpSkip()
		return
	}
	if !d.ws() {
		return
	}
	switch c := d.buf[d.pos]; {
	case c == '{':
		n, _ := d.openObject()
		for {
			if _, more := d.nextKey(&n); !more {
				return
			}
			d.skip()
		}
	case c == '[':
		n, _ := d.openArray()
		for d.nextElem(&n) {
			d.skip()
		}
	case c == '"':
		d.jsonStr()
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		b := d.numBytes()
		if !validJSONNumber(b) {
			d.fail("invalid number")
		}
	default:
		d.fail("unexpected character")
	}
}

func validJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// end checks that only white space follows the top-level value.
func (d *decoder) end() {
	if d.err != nil || d.msgpack {
		if d.err == nil && d.pos != len(d.buf) {
			d.fail("trailing data after the frame")
		}
		return
	}
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\n', '\r', '\t':
			d.pos++
		default:
			d.fail("trailing data after the frame")
			return
		}
	}
}

// --- msgpack -----------------------------------------------------------------------------------

func (d *decoder) need(n int) bool {
	if len(d.buf)-d.pos < n {
		d.fail("unexpected end of input")
		return false
	}
	return true
}

func (d *decoder) be(n int) uint64 {
	if !d.need(n) {
		return 0
	}
	var v uint64
	switch n {
	case 1:
		v = uint64(d.buf[d.pos])
	case 2:
		v = uint64(binary.BigEndian.Uint16(d.buf[d.pos:]))
	case 4:
		v = uint64(binary.BigEndian.Uint32(d.buf[d.pos:]))
	case 8:
		v = binary.BigEndian.Uint64(d.buf[d.pos:])
	}
	d.pos += n
	return v
}

// mpOpen reads a map or array header (fix prefix, 16- and 32-bit forms). A header claiming more
// entries than the remaining bytes could hold is rejected before anything is allocated.
func (d *decoder) mpOpen(fix, b16, b32 byte, minEntry int, what string) (int, bool) {
	if !d.need(1) {
		return 0, false
	}
	c := d.buf[d.pos]
	var n uint64
	switch {
	case c >= fix && c <= fix+0x0f:
		d.pos++
		n = uint64(c - fix)
	case c == b16:
		d.pos++
		n = d.be(2)
	case c == b32:
		d.pos++
		n = d.be(4)
	case c == 0xc0:
		d.pos++
		return 0, false
	default:
		d.fail("expected " + what)
		return 0, false
	}
	if d.err != nil {
		return 0, false
	}
	if n > uint64(len(d.buf)-d.pos)/uint64(minEntry) {
		d.fail(what + " claims more entries than the frame holds")
		return 0, false
	}
	return int(n), d.enter()
}

func isMpStr(c byte) bool {
	return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb)
}

// mpStr reads a str (or, leniently, bin) in place; nil reads as nil unless a key is required.
func (d *decoder) mpStr(key bool) []byte {
	if !d.need(1) {
		return nil
	}
	c := d.buf[d.pos]
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf:
		d.pos++
		n = uint64(c - 0xa0)
	case c == 0xd9 || c == 0xc4:
		d.pos++
		n = d.be(1)
	case c == 0xda || c == 0xc5:
		d.pos++
		n = d.be(2)
	case c == 0xdb || c == 0xc6:
		d.pos++
		n = d.be(4)
	case c == 0xc0 && !key:
		d.pos++
		return nil
	default:
		if key {
			d.fail("expected a string key")
		} else {
			d.fail("expected a string")
		}
		return nil
	}
	if d.err != nil || !d.need(int(n)) {
		return nil
	}
	s := d.buf[d.pos : d.pos+int(n)]
	d.pos += int(n)
	if !utf8.Valid(s) {
		return d.replaceInvalid(s)
	}
	return s
}

// mpNumber reads any msgpack number (or a number inside a string) as int64, uint64 or float64.
func (d *decoder) mpNumber() (i int64, u uint64, f float64, kind byte) {
	if !d.need(1) {
		return
	}
	c := d.buf[d.pos]
	switch {
	case c <= 0x7f:
		d.pos++
		return 0, uint64(c), 0, 'u'
	case c >= 0xe0:
		d.pos++
		return int64(int8(c)), 0, 0, 'i'
	case c >= 0xcc && c <= 0xcf:
		d.pos++
		return 0, d.be(1 << (c - 0xcc)), 0, 'u'
	case c >= 0xd0 && c <= 0xd3:
		d.pos++
		n := 1 << (c - 0xd0)
		v := d.be(n)
		switch n {
		case 1:
			return int64(int8(v)), 0, 0, 'i'
		case 2:
			return int64(int16(v)), 0, 0, 'i'
		case 4:
			return int64(int32(v)), 0, 0, 'i'
		}
		return int64(v), 0, 0, 'i'
	case c == 0xca:
		d.pos++
		return 0, 0, float64(math.Float32frombits(uint32(d.be(4)))), 'f'
	case c == 0xcb:
		d.pos++
		return 0, 0, math.Float64frombits(d.be(8)), 'f'
	case c == 0xc0:
		d.pos++
		return 0, 0, 0, 'u'
	case isMpStr(c):
		s := d.mpStr(false)
		if d.err != nil {
			return
		}
		if u, err := strconv.ParseUint(string(s), 10, 64); err == nil {
			return 0, u, 0, 'u'
		}
		if i, err := strconv.ParseInt(string(s), 10, 64); err == nil {
			return i, 0, 0, 'i'
		}
		if f, err := strconv.ParseFloat(string(s), 64); err == nil {
			return 0, 0, f, 'f'
		}
	}
	d.fail("expected a number")
	return
}

func (d *decoder) mpInt() int64 {
	i, u, f, kind := d.mpNumber()
	switch kind {
	case 'u':
		if u > math.MaxInt64 {
			d.fail("integer out of range")
			return 0
		}
		return int64(u)
	case 'f':
		if math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			d.fail("integer out of range")
			return 0
		}
		return int64(f)
	}
	return i
}

func (d *decoder) mpUint() uint64 {
	i, u, f, kind := d.mpNumber()
	switch kind {
	case 'i':
		if i < 0 {
			d.fail("negative value for an unsigned integer")
			return 0
		}
		return uint64(i)
	case 'f':
		if !(f > -1 && f < math.MaxUint64) {
			d.fail("integer out of range")
			return 0
		}
		return uint64(f)
	}
	return u
}

//lint:ignore U1000 protoc-gen-ermine emits it for double fields; the model has none today
func (d *decoder) mpFloat() float64 {
	i, u, f, kind := d.mpNumber()
	switch kind {
	case 'i':
		return float64(i)
	case 'u':
		return float64(u)
	}
	return f
}

func (d *decoder) mpSkip() {
	if !d.need(1) {
		return
	}
	c := d.buf[d.pos]
	skipN := func(n uint64) {
		if d.err == nil && d.need(int(min(n, uint64(len(d.buf))+1))) {
			d.pos += int(n)
		}
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		d.pos++
	case (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf:
		n, ok := d.openObject()
		if !ok {
			return
		}
		for i := 0; i < n && d.err == nil; i++ {
			d.mpSkip()
			d.mpSkip()
		}
		d.depth--
	case (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd:
		n, ok := d.openArray()
		if !ok {
			return
		}
		for i := 0; i < n && d.err == nil; i++ {
			d.mpSkip()
		}
		d.depth--
	case isMpStr(c) || (c >= 0xc4 && c <= 0xc6):
		d.mpStr(false)
	case c >= 0xcc && c <= 0xd3, c == 0xca, c == 0xcb:
		d.mpNumber()
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
		d.pos++
		skipN(1 + 1<<(c-0xd4))
	case c >= 0xc7 && c <= 0xc9: // ext 8, 16, 32
		d.pos++
		n := d.be(1 << (c - 0xc7))
		skipN(1 + n)
	default:
		d.fail("invalid msgpack type byte")
	}
}
