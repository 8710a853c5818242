package ownerpb

import (
	"testing"

	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Every event type has its field in Dispatch's oneof, NewDispatch puts it there, GetStoatEvent
// takes it out, and a Dispatch survives the wire.
func TestDispatchCarriesEveryEvent(t *testing.T) {
	oneof := (&Dispatch{}).ProtoReflect().Descriptor().Oneofs().ByName("event")
	if got, want := oneof.Fields().Len(), int(stoatpb.NumEventTypes)-1; got != want {
		t.Errorf("Dispatch.event has %d fields for %d event types", got, want)
	}
	for typ := stoatpb.EventType(1); typ < stoatpb.NumEventTypes; typ++ {
		ev := stoatpb.NewEvent(typ)
		ev.SetShard("s1")
		d := NewDispatch(ev)
		if d == nil {
			t.Errorf("%s: NewDispatch returned nil", typ)
			continue
		}
		fd := d.ProtoReflect().WhichOneof(oneof)
		if fd == nil || fd.Message().FullName() != ev.ProtoReflect().Descriptor().FullName() {
			t.Errorf("%s: carried in field %v", typ, fd)
		}
		if got := d.GetStoatEvent(); got != ev {
			t.Errorf("%s: GetStoatEvent = %v, want the event given", typ, got)
		}
		d.Seq = uint64(typ)
		b, err := proto.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		back := &Dispatch{}
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, d) || back.GetStoatEvent().EventType() != typ {
			t.Errorf("%s: %v after the wire, want %v", typ, back, d)
		}
	}
}

// A Dispatch is one allocation, its oneof wrapper included.
func TestNewDispatchAllocatesOnce(t *testing.T) {
	ev := &stoatpb.MessageCreateEvent{}
	if n := testing.AllocsPerRun(100, func() { NewDispatch(ev) }); n != 1 {
		t.Errorf("%v allocations per Dispatch", n)
	}
}
