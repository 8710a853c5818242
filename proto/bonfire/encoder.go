package bonfire

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// encoder is the token writer that the generated encoders drive, for JSON or msgpack.
//
// msgpack maps and arrays need their length up front; the encoder writes a 32-bit header and
// patches the count when the container ends, which keeps the generated code a single pass.
type encoder struct {
	buf     []byte
	msgpack bool
	comma   bool       // JSON: the next member or element needs a separating comma
	open    []mpOpened // msgpack: the containers being written
	openBuf [16]mpOpened
}

type mpOpened struct {
	header int // offset of the 32-bit count
	count  uint32
	isMap  bool
}

func (e *encoder) reset(buf []byte, msgpack bool) {
	e.buf, e.msgpack, e.comma = buf, msgpack, false
	e.open = e.openBuf[:0]
}

// value is called before every value: it separates JSON array elements and counts msgpack ones.
func (e *encoder) value() {
	if e.msgpack {
		if n := len(e.open); n > 0 && !e.open[n-1].isMap {
			e.open[n-1].count++
		}
		return
	}
	if e.comma {
		e.buf = append(e.buf, ',')
	}
	e.comma = true
}

func (e *encoder) begin(isMap bool) {
	e.value()
	if e.msgpack {
		tag := byte(0xdd)
		if isMap {
			tag = 0xdf
		}
		e.open = append(e.open, mpOpened{header: len(e.buf) + 1, isMap: isMap})
		e.buf = append(e.buf, tag, 0, 0, 0, 0)
		return
	}
	if isMap {
		e.buf = append(e.buf, '{')
	} else {
		e.buf = append(e.buf, '[')
	}
	e.comma = false
}

func (e *encoder) end(close byte) {
	if e.msgpack {
		top := e.open[len(e.open)-1]
		e.open = e.open[:len(e.open)-1]
		binary.BigEndian.PutUint32(e.buf[top.header:], top.count)
		return
	}
	e.buf = append(e.buf, close)
	e.comma = true
}

func (e *encoder) beginObject() { e.begin(true) }
func (e *encoder) endObject()   { e.end('}') }
func (e *encoder) beginArray()  { e.begin(false) }
func (e *encoder) endArray()    { e.end(']') }

// key writes an object key; the next write is its value.
func (e *encoder) key(k string) {
	if e.msgpack {
		e.open[len(e.open)-1].count++
		e.mpStr(k)
		return
	}
	if e.comma {
		e.buf = append(e.buf, ',')
	}
	e.jsonStr(k)
	e.buf = append(e.buf, ':')
	e.comma = false
}

func (e *encoder) str(s string) {
	e.value()
	if e.msgpack {
		e.mpStr(s)
		return
	}
	e.jsonStr(s)
}

func (e *encoder) enum(s string) {
	if s == "" {
		e.null()
		return
	}
	e.str(s)
}

func (e *encoder) null() {
	e.value()
	if e.msgpack {
		e.buf = append(e.buf, 0xc0)
		return
	}
	e.buf = append(e.buf, "null"...)
}

func (e *encoder) boolean(b bool) {
	e.value()
	switch {
	case e.msgpack && b:
		e.buf = append(e.buf, 0xc3)
	case e.msgpack:
		e.buf = append(e.buf, 0xc2)
	case b:
		e.buf = append(e.buf, "true"...)
	default:
		e.buf = append(e.buf, "false"...)
	}
}

func (e *encoder) int64(v int64) {
	if v >= 0 {
		e.uint64(uint64(v))
		return
	}
	e.value()
	if !e.msgpack {
		e.buf = strconv.AppendInt(e.buf, v, 10)
		return
	}
	switch {
	case v >= -32:
		e.buf = append(e.buf, byte(int8(v)))
	case v >= math.MinInt8:
		e.buf = append(e.buf, 0xd0, byte(int8(v)))
	case v >= math.MinInt16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xd1), uint16(int16(v)))
	case v >= math.MinInt32:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xd2), uint32(int32(v)))
	default:
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xd3), uint64(v))
	}
}

func (e *encoder) uint64(v uint64) {
	e.value()
	if !e.msgpack {
		e.buf = strconv.AppendUint(e.buf, v, 10)
		return
	}
	switch {
	case v <= 0x7f:
		e.buf = append(e.buf, byte(v))
	case v <= math.MaxUint8:
		e.buf = append(e.buf, 0xcc, byte(v))
	case v <= math.MaxUint16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xce), uint32(v))
	default:
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xcf), v)
	}
}

//lint:ignore U1000 protoc-gen-ermine emits it for double fields; the model has none today
func (e *encoder) float64(f float64) {
	if e.msgpack {
		e.value()
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xcb), math.Float64bits(f))
		return
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.null()
		return
	}
	e.value()
	e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, 64)
}

// timestamp writes milliseconds since the epoch as the server does: an ISO-8601 string with
// exactly three fractional digits in JSON, an integer in msgpack.
func (e *encoder) timestamp(ms int64) {
	if e.msgpack {
		e.int64(ms)
		return
	}
	e.value()
	e.buf = append(e.buf, '"')
	e.buf = time.UnixMilli(ms).UTC().AppendFormat(e.buf, "2006-01-02T15:04:05.000Z")
	e.buf = append(e.buf, '"')
}

// bytes writes a byte string as an array of integers, as the server does in both formats.
func (e *encoder) bytes(b []byte) {
	e.beginArray()
	for _, c := range b {
		e.uint64(uint64(c))
	}
	e.endArray()
}

func (e *encoder) mpStr(s string) {
	switch n := len(s); {
	case n <= 31:
		e.buf = append(e.buf, 0xa0|byte(n))
	case n <= math.MaxUint8:
		e.buf = append(e.buf, 0xd9, byte(n))
	case n <= math.MaxUint16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xda), uint16(n))
	default:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xdb), uint32(n))
	}
	e.buf = append(e.buf, s...)
}

const hexDigits = "0123456789abcdef"

func (e *encoder) jsonStr(s string) {
	e.buf = append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				e.buf = append(e.buf, s[start:i]...)
				e.buf = append(e.buf, `\ufffd`...)
				i += size
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				e.buf = append(e.buf, s[start:i]...)
				e.buf = append(e.buf, `\u202`...)
				e.buf = append(e.buf, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		e.buf = append(e.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			e.buf = append(e.buf, '\\', c)
		case '\n':
			e.buf = append(e.buf, '\\', 'n')
		case '\r':
			e.buf = append(e.buf, '\\', 'r')
		case '\t':
			e.buf = append(e.buf, '\\', 't')
		default:
			e.buf = append(e.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	e.buf = append(e.buf, s[start:]...)
	e.buf = append(e.buf, '"')
}
