package cacheactors

import (
	"runtime"
	"testing"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/synth"
)

func heap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestZZBaseline(t *testing.T) {
	w := synth.Small(1)
	w.Servers, w.ChannelsPerServer = 10, 10
	g := synth.New(w)
	r := newRig(t, Policy{MessagesPerChannel: 1 << 30})
	r.run(g.Ready())
	// frames
	var frames [][]byte
	for len(frames) < 100000 {
		ev := g.Next()
		if _, ok := ev.(*stoatpb.MessageCreateEvent); !ok {
			continue
		}
		b, err := bonfire.AppendFrame(nil, bonfire.JSON, ev)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b)
	}
	t.Logf("frame sample: %s", frames[0])
	dec := bonfire.NewDecoder(bonfire.JSON)
	var evs []stoatpb.Event
	h0 := heap()
	for _, f := range frames {
		evs, _ = dec.Decode(f, evs[:0])
		r.ingest(evs...)
	}
	r.drain()
	h1 := heap()
	n := r.store.Counts()["messages"]
	t.Logf("messages %d, %.0f B/message", n, float64(h1-h0)/float64(n))
	runtime.KeepAlive(frames)
}
