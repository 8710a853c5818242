package ownerpb

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ownerFields maps each message of the protocol to its field of OwnerMessage. It is computed
// once, on first use (the generated descriptors are built by init functions, after package
// variables), and never changed.
var ownerFields = sync.OnceValue(func() map[protoreflect.FullName]protoreflect.FieldDescriptor {
	fields := (&OwnerMessage{}).ProtoReflect().Descriptor().Oneofs().ByName("message").Fields()
	out := make(map[protoreflect.FullName]protoreflect.FieldDescriptor, fields.Len())
	for i := range fields.Len() {
		out[fields.Get(i).Message().FullName()] = fields.Get(i)
	}
	return out
})

// Wrap returns msg, a message of the owner protocol (one of OwnerMessage's fields' types), as
// an OwnerMessage: what holds it in a snapshot, or carries it to another process.
func Wrap(msg proto.Message) (*OwnerMessage, error) {
	m := msg.ProtoReflect()
	fd, ok := ownerFields()[m.Descriptor().FullName()]
	if !ok {
		return nil, fmt.Errorf("ownerpb: %s is not a message of the owner protocol", m.Descriptor().FullName())
	}
	om := &OwnerMessage{}
	om.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(m))
	return om, nil
}

// Unwrap returns the message x wraps, nil if none.
func (x *OwnerMessage) Unwrap() proto.Message {
	r := x.ProtoReflect()
	fd := r.WhichOneof(r.Descriptor().Oneofs().ByName("message"))
	if fd == nil {
		return nil
	}
	return r.Get(fd).Message().Interface()
}
