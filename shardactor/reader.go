package shardactor

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/bonfire"
)

// Sizes of a frameReader's storage.
const (
	// minFrameBuffer is the first buffer's size: most frames fit.
	minFrameBuffer = 4 << 10
	// maxChunk bounds the chunks a frame larger than the buffer is read into, and so what the
	// last one can waste.
	maxChunk = 4 << 20
	// bigBufferLinger is how long a buffer larger than maxKeptBuffer is kept after the last frame
	// that needed it: long enough for a run of huge frames, with heartbeats between them, to share
	// it; short enough that a Ready's buffer does not outlive the Ready for long.
	bigBufferLinger = 5 * time.Second
)

// frameReader reads WebSocket messages into one buffer reused from message to message.
//
// A message's length is not known before it is read (coder/websocket does not expose it, and a
// fragmented message has none). So a message larger than the buffer is read on into chunks,
// then gathered into a new buffer of exactly its size, which becomes the buffer: a huge message
// is copied once, whatever its size (where growing a buffer by doubling allocates and copies it
// about twice over), and a run of huge frames allocates that buffer once. A buffer larger than
// maxKeptBuffer is dropped at the first frame that needs less than a quarter of it
// bigBufferLinger after the last one that needed it (see done).
type frameReader struct {
	buf      []byte        // the space for the next message: len(buf) == cap(buf)
	chunks   [][]byte      // the overflow of the message being read
	neededAt time.Duration // when a frame last needed most of buf (shard clock)
	probe    [1]byte       // reads past a full buffer; a field, so that it does not escape
}

// read reads one message from r. The bytes are valid until the next read.
func (fr *frameReader) read(r io.Reader) ([]byte, error) {
	if len(fr.buf) == 0 {
		fr.buf = make([]byte, minFrameBuffer)
	}
	n, err := readFull(r, fr.buf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fr.buf[:n], nil
		}
		return nil, err
	}
	// The buffer is full: the message may end here, or go on.
	m, err := readFull(r, fr.probe[:])
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	case m == 0:
		return fr.buf, nil
	}
	total := len(fr.buf)
	chunk := make([]byte, min(max(total, minFrameBuffer), maxChunk))
	chunk[0] = fr.probe[0]
	filled := 1
	for {
		k, err := readFull(r, chunk[filled:])
		filled += k
		if err == nil { // the chunk is full
			fr.chunks = append(fr.chunks, chunk)
			total += len(chunk)
			chunk, filled = make([]byte, min(total, maxChunk)), 0
			continue
		}
		if !errors.Is(err, io.EOF) {
			fr.dropChunks()
			return nil, err
		}
		fr.chunks = append(fr.chunks, chunk[:filled])
		total += filled
		break
	}
	msg := make([]byte, total)
	at := copy(msg, fr.buf)
	for _, c := range fr.chunks {
		at += copy(msg[at:], c)
	}
	fr.dropChunks()
	fr.buf = msg
	return msg, nil
}

// done tells the reader, at now on the shard clock, that the n-byte message it read last is
// decoded, before its events are delivered (which may take long): a big buffer that no frame
// has needed most of for bigBufferLinger is released now rather than held for the next one.
func (fr *frameReader) done(n int, now time.Duration) {
	switch {
	case len(fr.buf) <= maxKeptBuffer:
	case n >= len(fr.buf)/4:
		fr.neededAt = now
	case now-fr.neededAt >= bigBufferLinger:
		fr.buf = nil
	}
}

func (fr *frameReader) dropChunks() {
	clear(fr.chunks)
	fr.chunks = fr.chunks[:0]
}

// readFull reads into p until p is full (nil error) or r fails (io.EOF at the message's end),
// and returns the bytes read.
func readFull(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := r.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// skippedMsg is the log message of an item a frame lost to decoding.
const skippedMsg = "malformed item skipped; the rest of the frame applied"

// itemsSkipped counts the n items that the last decoded frame lost (bonfire.Decoder.Skipped)
// and logs them through lim, keyed by frame and item type: the path, the type, the offset and
// the reason of the first ones, never the frame's bytes. When the decoder described fewer items
// than it skipped, one more line gives the count.
func (ss *session) itemsSkipped(lim *ratelog.Limiter, items []bonfire.SkippedItem, n int) {
	ss.sh.stats.itemsSkipped.Add(uint64(n))
	format := ss.sh.cfg.WireFormat.String()
	for _, it := range items {
		full := func() []any {
			return []any{"offset", it.Offset, "reason", it.Err.Reason, "reason_offset", it.Err.Offset}
		}
		lim.Log(ss.env.log, slog.LevelWarn, it.Frame+" "+it.Type, skippedMsg, full,
			"frame", it.Frame, "path", it.Path, "item", it.Type, "format", format)
	}
	if n > len(items) && len(items) > 0 {
		ss.env.log.Warn("malformed items skipped; only the first were described", "frame", items[0].Frame,
			"format", format, "skipped", n, "described", len(items))
	}
}
