package shardactor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"

	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// The connect markers: a frame no Stoat server sends, of a type of ermine's own, that a recording
// holds where a connection began.
var (
	connectJSON    = []byte(`{"type":"ermine.Connect"}`)
	connectMsgpack = append([]byte{0x81, 0xa4, 't', 'y', 'p', 'e', 0xa0 | 14}, "ermine.Connect"...)
)

// ConnectMarker returns the frame that a recording (Config.Record) in format f holds before the
// first frame of each connection: {"type":"ermine.Connect"}, in JSON or msgpack. A reader of the
// recording compares each frame with it (bytes.Equal); `ermine replay` turns it into what a
// connection means for the runtime, a BeforeConnectEvent and an AfterConnectEvent, before the
// connection's Authenticated and Ready. The slice is the caller's.
func ConnectMarker(f bonfire.Format) []byte {
	if f == bonfire.Msgpack {
		return bytes.Clone(connectMsgpack)
	}
	return bytes.Clone(connectJSON)
}

// recordMsg is the log message of a failed recording write.
const recordMsg = "recording a frame failed; the connection goes on"

// errRecordTooBig refuses a msgpack frame whose length does not fit the 4-byte prefix.
var errRecordTooBig = errors.New("shardactor: a frame of 4 GiB or more cannot be recorded")

// recorder writes what a shard receives to Config.Record, in the format `ermine replay` reads:
// JSONL for JSON, each frame after its length (4 bytes, big-endian) for msgpack. Only the
// session goroutine calls it, and sessions never overlap, so it needs no lock.
type recorder struct {
	w      io.Writer
	format bonfire.Format
	sh     *Shard
	log    ratelog.Limiter // paces the warnings of failed writes
	prefix [4]byte         // a msgpack frame's length; a field, so that writing it allocates nothing
	eol    [1]byte
	line   []byte // a JSON frame holding line breaks, written on one line
}

func newRecorder(sh *Shard) *recorder {
	cfg := sh.cfg
	return &recorder{w: cfg.Record, format: cfg.WireFormat, sh: sh, eol: [1]byte{'\n'},
		log: ratelog.Limiter{Interval: cfg.RepeatLogInterval}}
}

// connect records the start of a connection.
func (r *recorder) connect(log *slog.Logger) {
	marker := connectJSON
	if r.format == bonfire.Msgpack {
		marker = connectMsgpack
	}
	r.frame(marker, log)
}

// frame records one frame. A failure is counted and logged, never returned: a recording is an
// observer and does not end the connection. The writes of a frame that failed may have left a
// part of it in the recording.
func (r *recorder) frame(frame []byte, log *slog.Logger) {
	if err := r.write(frame); err != nil {
		r.sh.stats.recordErrors.Add(1)
		secrets := r.sh.cfg.secrets
		r.log.Log(log, slog.LevelWarn, "record", recordMsg, nil, "error", replaceAll(err.Error(), secrets))
	}
}

// flush logs the failed writes left out of the log since its last line.
func (r *recorder) flush(log *slog.Logger) {
	r.log.Flush(func(_ string, n uint64) {
		log.Warn(recordMsg+" (repeated; counted when the connection ended)", "suppressed", n)
	})
}

func (r *recorder) write(frame []byte) error {
	if r.format == bonfire.Msgpack {
		if uint64(len(frame)) > math.MaxUint32 {
			return errRecordTooBig
		}
		binary.BigEndian.PutUint32(r.prefix[:], uint32(len(frame)))
		if _, err := r.w.Write(r.prefix[:]); err != nil {
			return err
		}
		_, err := r.w.Write(frame)
		return err
	}
	// A line break can only be whitespace between JSON tokens (a string holds none raw): as a
	// space it means the same, and the frame stays one line.
	if bytes.IndexByte(frame, '\n') >= 0 {
		r.line = append(r.line[:0], frame...)
		for i, c := range r.line {
			if c == '\n' {
				r.line[i] = ' '
			}
		}
		frame = r.line
		if cap(r.line) > maxKeptBuffer {
			r.line = nil // a big Ready's copy does not outlive it
		}
	}
	if _, err := r.w.Write(frame); err != nil {
		return err
	}
	_, err := r.w.Write(r.eol[:])
	return err
}
