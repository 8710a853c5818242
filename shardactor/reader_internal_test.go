package shardactor

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// pieces is a message reader that returns its bytes in pieces of random sizes, then io.EOF on
// a read of its own, as coder/websocket does.
type pieces struct {
	data []byte
	rng  *rand.Rand
	err  error // returned instead of io.EOF at the end, if set
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		return 0, io.EOF
	}
	n := min(len(b), len(p.data), 1+p.rng.IntN(3*minFrameBuffer))
	copy(b, p.data[:n])
	p.data = p.data[n:]
	return n, nil
}

// TestFrameReaderSizes reads messages of sizes around every boundary of the buffer and the
// chunks, in several orders, and checks each message's bytes, and that the buffer is reused.
func TestFrameReaderSizes(t *testing.T) {
	sizes := []int{0, 1, minFrameBuffer - 1, minFrameBuffer, minFrameBuffer + 1, 2*minFrameBuffer + 7,
		maxChunk - 1, maxChunk, maxChunk + 1, 3*maxChunk + 5, 100, minFrameBuffer}
	rng := rand.New(rand.NewPCG(1, 2))
	var fr frameReader
	for i, size := range sizes {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		had := max(len(fr.buf), minFrameBuffer)
		got, err := fr.read(&pieces{data: msg, rng: rng})
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, size, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes): got %d different bytes", i, size, len(got))
		}
		if want := max(had, size); len(fr.buf) != want || cap(fr.buf) != want {
			t.Fatalf("message %d (%d bytes): a buffer of %d (cap %d), want %d", i, size, len(fr.buf), cap(fr.buf), want)
		}
	}
	// Readers that return the last bytes with io.EOF, or a byte at a time.
	for _, r := range []io.Reader{iotest.DataErrReader(bytes.NewReader(make([]byte, 3*minFrameBuffer))),
		iotest.OneByteReader(bytes.NewReader(make([]byte, 2*minFrameBuffer+1)))} {
		var fr frameReader
		got, err := fr.read(r)
		if err != nil || len(got) == 0 {
			t.Errorf("%T: %d bytes, %v", r, len(got), err)
		}
	}
}

// TestFrameReaderReuse: a message no larger than the buffer allocates nothing; a bigger one is
// gathered into a buffer of exactly its size.
func TestFrameReaderReuse(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 3*maxChunk/2)
	var fr frameReader
	if _, err := fr.read(bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if len(fr.buf) != len(msg) || cap(fr.buf) != len(msg) {
		t.Fatalf("buffer of %d (cap %d) for a %d-byte message", len(fr.buf), cap(fr.buf), len(msg))
	}
	if n := testing.AllocsPerRun(10, func() {
		if _, err := fr.read(bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}); n > 1 { // the bytes.Reader itself
		t.Errorf("reading a message that fits allocates %v times", n)
	}
}

// TestFrameReaderRelease: a big buffer survives frames that need most of it and, for
// bigBufferLinger, small ones; after that the first small frame releases it.
func TestFrameReaderRelease(t *testing.T) {
	big := make([]byte, 2*maxKeptBuffer)
	var fr frameReader
	read := func(msg []byte, now time.Duration) {
		t.Helper()
		got, err := fr.read(bytes.NewReader(msg))
		if err != nil || len(got) != len(msg) {
			t.Fatalf("read: %d bytes, %v", len(got), err)
		}
		fr.done(len(got), now)
	}
	read(big, time.Second)
	read([]byte("small"), time.Second+bigBufferLinger/2)
	if len(fr.buf) != len(big) {
		t.Fatalf("the big buffer went %v after the frame that needed it", bigBufferLinger/2)
	}
	read(big[:len(big)/2], 2*time.Second)
	read([]byte("small"), 2*time.Second+bigBufferLinger-1)
	if len(fr.buf) != len(big) {
		t.Fatal("the big buffer went although a frame needed it within bigBufferLinger")
	}
	read([]byte("small"), 2*time.Second+bigBufferLinger)
	if fr.buf != nil {
		t.Fatalf("a %d-byte buffer is kept %v after the last frame that needed it", len(fr.buf), bigBufferLinger)
	}
	// A buffer of at most maxKeptBuffer is always kept.
	read(make([]byte, maxKeptBuffer), 0)
	read([]byte("small"), time.Hour)
	if len(fr.buf) != maxKeptBuffer {
		t.Errorf("a %d-byte buffer was released", maxKeptBuffer)
	}
}

// TestFrameReaderErrors: an error while reading, in the buffer or in the chunks, is returned and
// the reader stays usable.
func TestFrameReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	rng := rand.New(rand.NewPCG(3, 4))
	var fr frameReader
	for _, size := range []int{10, minFrameBuffer, 5 * minFrameBuffer} {
		if _, err := fr.read(&pieces{data: make([]byte, size), rng: rng, err: boom}); !errors.Is(err, boom) {
			t.Errorf("%d bytes then an error: err = %v", size, err)
		}
		if len(fr.chunks) != 0 {
			t.Errorf("%d chunks kept after an error", len(fr.chunks))
		}
	}
	msg := []byte("after")
	if got, err := fr.read(bytes.NewReader(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("after errors: %q, %v", got, err)
	}
}
