// Command protoc-gen-ermine is a protoc plugin that generates, from ermine's annotated Stoat model
// (see proto/wireopt/options.proto):
//
//   - stoatpb/events.ermine.go: the EventType enumeration, the methods that make every event
//     message a stoatpb.Event and the marker methods of its categories;
//   - bonfire/wire.ermine.go: the decoder and encoder of every message for Bonfire's JSON and
//     msgpack wire formats, the string tables of every enum and the frame-type dispatch.
//
// Run it through proto/generate.sh (go generate ./proto), never by hand.
package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ermine-rt/ermine/proto/wireopt"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"
)

const (
	stoatpbPath = protogen.GoImportPath("github.com/ermine-rt/ermine/proto/stoatpb")
	bonfirePath = protogen.GoImportPath("github.com/ermine-rt/ermine/proto/bonfire")
)

func main() {
	protogen.Options{}.Run(func(gen *protogen.Plugin) error {
		gen.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		var msgs []*protogen.Message
		var enums []*protogen.Enum
		for _, f := range gen.Files {
			if !f.Generate || f.GoImportPath != stoatpbPath {
				continue
			}
			msgs = append(msgs, f.Messages...)
			enums = append(enums, f.Enums...)
		}
		if len(msgs) == 0 {
			return nil
		}
		g := &generator{msgs: msgs, enums: enums}
		if err := g.check(); err != nil {
			return err
		}
		g.events(gen.NewGeneratedFile("stoatpb/events.ermine.go", stoatpbPath))
		g.wire(gen.NewGeneratedFile("bonfire/wire.ermine.go", bonfirePath))
		return nil
	})
}

type generator struct {
	msgs  []*protogen.Message
	enums []*protogen.Enum
}

func fieldOpt[T any](f *protogen.Field, xt protoreflect.ExtensionType) T {
	return proto.GetExtension(f.Desc.Options(), xt).(T)
}

func msgOpt[T any](m *protogen.Message, xt protoreflect.ExtensionType) T {
	return proto.GetExtension(m.Desc.Options(), xt).(T)
}

func frames(m *protogen.Message) []string {
	s := msgOpt[string](m, wireopt.E_Frame)
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func isEvent(m *protogen.Message) bool {
	return strings.HasSuffix(m.GoIdent.GoName, "Event") && !msgOpt[bool](m, wireopt.E_Client)
}

func wireFields(m *protogen.Message) []*protogen.Field {
	var out []*protogen.Field
	for _, f := range m.Fields {
		if !fieldOpt[bool](f, wireopt.E_Local) {
			out = append(out, f)
		}
	}
	return out
}

// check rejects annotations the generator cannot honour, so a mistake in the .proto fails the
// build instead of producing a codec that silently drops data.
func (g *generator) check() error {
	for _, m := range g.msgs {
		if isEvent(m) && m.Desc.Fields().ByName("shard") == nil {
			return fmt.Errorf("%s: every event needs a local shard field", m.GoIdent.GoName)
		}
		if msgOpt[bool](m, wireopt.E_Wrapper) && (len(m.Fields) != 1 || !m.Fields[0].Desc.IsList()) {
			return fmt.Errorf("%s: a wrapper has exactly one repeated field", m.GoIdent.GoName)
		}
		for _, f := range m.Fields {
			if f.Oneof != nil && !f.Oneof.Desc.IsSynthetic() {
				return fmt.Errorf("%s.%s: oneofs are not supported; flatten the union", m.GoIdent.GoName, f.GoName)
			}
			if f.Desc.IsMap() {
				return fmt.Errorf("%s.%s: proto maps are not supported; use map_key", m.GoIdent.GoName, f.GoName)
			}
			if fieldOpt[bool](f, wireopt.E_Tolerant) && (!f.Desc.IsList() || fieldOpt[string](f, wireopt.E_Custom) != "" ||
				msgOpt[bool](m, wireopt.E_Tuple) || msgOpt[bool](m, wireopt.E_Wrapper)) {
				return fmt.Errorf("%s.%s: tolerant needs a repeated, non-custom field of an object message", m.GoIdent.GoName, f.GoName)
			}
			if fieldOpt[bool](f, wireopt.E_Memo) && (f.Message == nil || f.Desc.IsList() || fieldOpt[string](f, wireopt.E_Custom) != "" ||
				msgOpt[bool](m, wireopt.E_Tuple) || msgOpt[bool](m, wireopt.E_Wrapper) || holdsTolerant(f.Message, nil)) {
				return fmt.Errorf("%s.%s: memo needs a singular, non-custom message field of an object message, whose message holds no tolerant field", m.GoIdent.GoName, f.GoName)
			}
			if k := fieldOpt[string](f, wireopt.E_MapKey); k != "" {
				if f.Message == nil || f.Message.Desc.Fields().ByName(protoreflect.Name(k)) == nil {
					return fmt.Errorf("%s.%s: map_key %q is not a field of the element", m.GoIdent.GoName, f.GoName, k)
				}
			}
		}
	}
	return nil
}

// holdsTolerant reports whether m, or a message it holds at any depth, has a tolerant field.
func holdsTolerant(m *protogen.Message, seen map[*protogen.Message]bool) bool {
	if seen[m] {
		return false
	}
	if seen == nil {
		seen = map[*protogen.Message]bool{}
	}
	seen[m] = true
	for _, f := range m.Fields {
		if fieldOpt[bool](f, wireopt.E_Tolerant) || (f.Message != nil && holdsTolerant(f.Message, seen)) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------------
// stoatpb/events.ermine.go

func eventTypeName(m *protogen.Message) string {
	return "EventType" + strings.TrimSuffix(m.GoIdent.GoName, "Event")
}

func (g *generator) events(f *protogen.GeneratedFile) {
	f.P("// Code generated by protoc-gen-ermine. DO NOT EDIT.")
	f.P()
	f.P("package stoatpb")
	f.P()
	var evs []*protogen.Message
	for _, m := range g.msgs {
		if isEvent(m) {
			evs = append(evs, m)
		}
	}
	f.P("// The event classes, in the order of events.proto.")
	f.P("const (")
	f.P("\t// EventTypeNone is the zero EventType; no event has it.")
	f.P("\tEventTypeNone EventType = iota")
	for _, m := range evs {
		f.P("\t// ", eventTypeName(m), " identifies ", m.GoIdent.GoName, ".")
		f.P("\t", eventTypeName(m))
	}
	f.P("\t// NumEventTypes is one more than the largest EventType.")
	f.P("\tNumEventTypes")
	f.P(")")
	f.P()
	f.P("var eventTypeNames = [NumEventTypes]string{")
	f.P("\tEventTypeNone: \"None\",")
	for _, m := range evs {
		f.P("\t", eventTypeName(m), ": \"", m.GoIdent.GoName, "\",")
	}
	f.P("}")
	f.P()
	f.P("var eventTypeCategories = [NumEventTypes]EventCategory{")
	for _, m := range evs {
		var cats []string
		for _, c := range strings.Split(msgOpt[string](m, wireopt.E_Categories), ",") {
			switch c {
			case "shard":
				cats = append(cats, "CategoryShard")
			case "channel_create":
				cats = append(cats, "CategoryChannelCreate")
			case "authifier":
				cats = append(cats, "CategoryAuthifier")
			}
		}
		if len(cats) == 0 {
			cats = []string{"0"}
		}
		f.P("\t", eventTypeName(m), ": ", strings.Join(cats, "|"), ",")
	}
	f.P("}")
	f.P()
	f.P("// NewEvent returns a new, empty event of type t, or nil for EventTypeNone or an unknown t.")
	f.P("func NewEvent(t EventType) Event {")
	f.P("\tswitch t {")
	for _, m := range evs {
		f.P("\tcase ", eventTypeName(m), ":")
		f.P("\t\treturn new(", m.GoIdent.GoName, ")")
	}
	f.P("\t}")
	f.P("\treturn nil")
	f.P("}")
	for _, m := range g.msgs {
		name := m.GoIdent.GoName
		f.P()
		f.P("// ShallowClone returns a copy of x that shares x's nested messages, lists and strings.")
		f.P("// Cached objects are immutable snapshots, so an update builds its new version from a")
		f.P("// shallow clone, which is much cheaper than proto.Clone.")
		f.P("func (x *", name, ") ShallowClone() *", name, " {")
		f.P("\tif x == nil {")
		f.P("\t\treturn nil")
		f.P("\t}")
		f.P("\treturn &", name, "{")
		for _, fl := range m.Fields {
			f.P("\t\t", fl.GoName, ": x.", fl.GoName, ",")
		}
		f.P("\t}")
		f.P("}")
	}
	for _, m := range evs {
		name := m.GoIdent.GoName
		f.P()
		f.P("// EventType returns ", eventTypeName(m), ".")
		f.P("func (*", name, ") EventType() EventType { return ", eventTypeName(m), " }")
		f.P()
		f.P("// SetShard records the shard the event arrived on.")
		f.P("func (x *", name, ") SetShard(shard string) { x.Shard = shard }")
		for _, c := range strings.Split(msgOpt[string](m, wireopt.E_Categories), ",") {
			switch c {
			case "shard":
				f.P()
				f.P("func (*", name, ") isShardEvent() {}")
			case "channel_create":
				f.P()
				f.P("func (*", name, ") isChannelCreateEvent() {}")
			case "authifier":
				f.P()
				f.P("func (*", name, ") isAuthifierEvent() {}")
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// bonfire/wire.ermine.go

type wireGen struct {
	f *protogen.GeneratedFile
}

func (w *wireGen) pb(name string) string {
	return w.f.QualifiedGoIdent(protogen.GoIdent{GoName: name, GoImportPath: stoatpbPath})
}

func (g *generator) wire(f *protogen.GeneratedFile) {
	w := &wireGen{f: f}
	f.P("// Code generated by protoc-gen-ermine. DO NOT EDIT.")
	f.P()
	f.P("package bonfire")
	f.P()
	for _, e := range g.enums {
		w.enum(e)
	}
	for _, m := range g.msgs {
		w.decodeMessage(m)
		w.encodeMessage(m)
	}
	w.frameTables(g.msgs)
}

func enumWire(v *protogen.EnumValue) string {
	return proto.GetExtension(v.Desc.Options(), wireopt.E_Value).(string)
}

func (w *wireGen) enum(e *protogen.Enum) {
	f, name := w.f, e.GoIdent.GoName
	f.P("func enum", name, "(b []byte) ", w.pb(name), " {")
	f.P("\tswitch string(b) {")
	for _, v := range e.Values {
		if s := enumWire(v); s != "" {
			f.P("\tcase ", fmt.Sprintf("%q", s), ":")
			f.P("\t\treturn ", w.pb(v.GoIdent.GoName))
		}
	}
	f.P("\t}")
	f.P("\treturn 0")
	f.P("}")
	f.P()
	f.P("func wire", name, "(v ", w.pb(name), ") string {")
	f.P("\tswitch v {")
	for _, v := range e.Values {
		if s := enumWire(v); s != "" {
			f.P("\tcase ", w.pb(v.GoIdent.GoName), ":")
			f.P("\t\treturn ", fmt.Sprintf("%q", s))
		}
	}
	f.P("\t}")
	f.P("\treturn \"\"")
	f.P("}")
	f.P()
}

// readScalar is the expression that reads one scalar wire value of f's kind.
func (w *wireGen) readScalar(f *protogen.Field) string {
	switch f.Desc.Kind() {
	case protoreflect.StringKind:
		return "d.str()"
	case protoreflect.BoolKind:
		return "d.boolean()"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if fieldOpt[bool](f, wireopt.E_Timestamp) {
			return "d.timestamp()"
		}
		return "d.int64()"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "d.uint64()"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "d.int32()"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "d.uint32()"
	case protoreflect.BytesKind:
		return "d.bytes()"
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return "d.float64()"
	case protoreflect.EnumKind:
		return "enum" + f.Enum.GoIdent.GoName + "(d.enumBytes())"
	}
	panic("unsupported kind " + f.Desc.Kind().String())
}

// decodeValue emits the statements that decode one wire value of field f into target (appending
// for lists).
func (w *wireGen) decodeValue(f *protogen.Field, target, indent string) {
	p := func(s ...any) { w.f.P(append([]any{indent}, s...)...) }
	if c := fieldOpt[string](f, wireopt.E_Custom); c != "" {
		p(target, " = decodeCustom", c, "(d)")
		return
	}
	if f.Desc.IsList() {
		// A tolerant list marks where it and each element begin, and asks the decoder after each
		// whether it failed (see decoder.tolerate): a failed element is skipped, not appended.
		tolerant := fieldOpt[bool](f, wireopt.E_Tolerant)
		wire := fmt.Sprintf("%q", f.Desc.JSONName())
		elemType := elemTypeName(f)
		if tolerant {
			p("list := d.mark()")
		}
		if key := fieldOpt[string](f, wireopt.E_MapKey); key != "" {
			elem := f.Message
			keyField := fieldByName(elem, key)
			p("if n, ok := d.openObject(); ok {")
			if tolerant {
				p("\tfor i := 0; ; i++ {")
			} else {
				p("\tfor {")
			}
			p("\t\tk, more := d.nextKey(&n)")
			p("\t\tif !more {")
			p("\t\t\tbreak")
			p("\t\t}")
			if tolerant {
				p("\t\tat := d.mark()")
			}
			p("\t\te := &", w.pb(elem.GoIdent.GoName), "{", keyField.GoName, ": d.keyString(k)}")
			if val := fieldOpt[string](f, wireopt.E_MapValue); val != "" {
				w.decodeValue(fieldByName(elem, val), "e."+fieldByName(elem, val).GoName, indent+"\t\t")
			} else {
				p("\t\tkey := e.", keyField.GoName)
				p("\t\tdecode", elem.GoIdent.GoName, "(d, e)")
				p("\t\te.", keyField.GoName, " = key")
			}
			if tolerant {
				p("\t\tif d.tolerate(at, ", wire, ", i, ", fmt.Sprintf("%q", elemType), ") {")
				p("\t\t\tcontinue")
				p("\t\t}")
			}
			p("\t\t", target, " = append(", target, ", e)")
			p("\t}")
			p("}")
			if tolerant {
				p("d.tolerate(list, ", wire, ", -1, ", fmt.Sprintf("%q", "[]"+elemType), ")")
			}
			return
		}
		p("if n, ok := d.openArray(); ok {")
		if tolerant {
			p("\tfor i := 0; d.nextElem(&n); i++ {")
			p("\t\tat := d.mark()")
		} else {
			p("\tfor d.nextElem(&n) {")
		}
		switch {
		case f.Message != nil:
			p("\t\te := new(", w.pb(f.Message.GoIdent.GoName), ")")
			p("\t\tdecode", f.Message.GoIdent.GoName, "(d, e)")
		case tolerant:
			p("\t\te := ", w.readScalar(f))
		default:
			p("\t\t", target, " = append(", target, ", ", w.readScalar(f), ")")
		}
		if tolerant {
			p("\t\tif d.tolerate(at, ", wire, ", i, ", fmt.Sprintf("%q", elemType), ") {")
			p("\t\t\tcontinue")
			p("\t\t}")
		}
		if f.Message != nil || tolerant {
			p("\t\t", target, " = append(", target, ", e)")
		}
		p("\t}")
		p("}")
		if tolerant {
			p("d.tolerate(list, ", wire, ", -1, ", fmt.Sprintf("%q", "[]"+elemType), ")")
		}
		return
	}
	if f.Message != nil && fieldOpt[bool](f, wireopt.E_Memo) {
		p("if d.null() {")
		p("\t", target, " = nil")
		p("} else {")
		p("\t", target, " = memoized(d, ", target, ", decode", f.Message.GoIdent.GoName, ")")
		p("}")
		return
	}
	if f.Message != nil {
		p("if d.null() {")
		p("\t", target, " = nil")
		p("} else {")
		p("\tif ", target, " == nil {")
		p("\t\t", target, " = new(", w.pb(f.Message.GoIdent.GoName), ")")
		p("\t}")
		p("\tdecode", f.Message.GoIdent.GoName, "(d, ", target, ")")
		p("}")
		return
	}
	if f.Desc.HasPresence() {
		p("if d.null() {")
		p("\t", target, " = nil")
		p("} else {")
		p("\tv := ", w.readScalar(f))
		p("\t", target, " = &v")
		p("}")
		return
	}
	p(target, " = ", w.readScalar(f))
}

// elemTypeName names the type of a list's elements for reports: the model message, or the
// scalar kind.
func elemTypeName(f *protogen.Field) string {
	if f.Message != nil {
		return f.Message.GoIdent.GoName
	}
	if f.Enum != nil {
		return f.Enum.GoIdent.GoName
	}
	return f.Desc.Kind().String()
}

func fieldByName(m *protogen.Message, name string) *protogen.Field {
	for _, f := range m.Fields {
		if string(f.Desc.Name()) == name {
			return f
		}
	}
	panic(m.GoIdent.GoName + " has no field " + name)
}

func inlineField(m *protogen.Message) *protogen.Field {
	for _, f := range m.Fields {
		if fieldOpt[bool](f, wireopt.E_Inline) {
			return f
		}
	}
	return nil
}

func (w *wireGen) decodeMessage(m *protogen.Message) {
	f, name := w.f, m.GoIdent.GoName
	typ := w.pb(name)
	switch {
	case msgOpt[bool](m, wireopt.E_Wrapper):
		f.P("func decode", name, "(d *decoder, m *", typ, ") {")
		w.decodeValue(m.Fields[0], "m."+m.Fields[0].GoName, "\t")
		f.P("}")
		f.P()
		return
	case msgOpt[bool](m, wireopt.E_Tuple):
		f.P("func decode", name, "(d *decoder, m *", typ, ") {")
		f.P("\tn, ok := d.openArray()")
		f.P("\tif !ok {")
		f.P("\t\treturn")
		f.P("\t}")
		for _, fl := range wireFields(m) {
			if fieldOpt[bool](fl, wireopt.E_KeyOnly) {
				continue
			}
			f.P("\tif !d.nextElem(&n) {")
			f.P("\t\treturn")
			f.P("\t}")
			w.decodeValue(fl, "m."+fl.GoName, "\t")
		}
		f.P("\tfor d.nextElem(&n) {")
		f.P("\t\td.skip()")
		f.P("\t}")
		f.P("}")
		f.P()
		return
	}
	inl := inlineField(m)
	f.P("func decode", name, "(d *decoder, m *", typ, ") {")
	f.P("\tn, ok := d.openObject()")
	f.P("\tif !ok {")
	f.P("\t\treturn")
	f.P("\t}")
	if inl != nil {
		f.P("\tif m.", inl.GoName, " == nil {")
		f.P("\t\tm.", inl.GoName, " = new(", w.pb(inl.Message.GoIdent.GoName), ")")
		f.P("\t}")
	}
	f.P("\tfor {")
	f.P("\t\tk, more := d.nextKey(&n)")
	f.P("\t\tif !more {")
	// Fields the server always sends are never nil after decoding, so that handlers need no nil
	// checks and an encode/decode round trip is exact.
	w.ensureAlways(m, "m.")
	if inl != nil {
		w.ensureAlways(inl.Message, "m."+inl.GoName+".")
	}
	f.P("\t\t\treturn")
	f.P("\t\t}")
	f.P("\t\tif !decode", name, "Field(d, m, k) {")
	f.P("\t\t\td.skip()")
	f.P("\t\t}")
	f.P("\t}")
	f.P("}")
	f.P()
	f.P("func decode", name, "Field(d *decoder, m *", typ, ", k []byte) bool {")
	var cases []*protogen.Field
	for _, fl := range wireFields(m) {
		if fl != inl && !fieldOpt[bool](fl, wireopt.E_KeyOnly) {
			cases = append(cases, fl)
		}
	}
	if len(cases) == 0 {
		if inl != nil {
			f.P("\treturn decode", inl.Message.GoIdent.GoName, "Field(d, m.", inl.GoName, ", k)")
		} else {
			f.P("\treturn false")
		}
		f.P("}")
		f.P()
		return
	}
	f.P("\tswitch string(k) {")
	for _, fl := range cases {
		f.P("\tcase ", fmt.Sprintf("%q", fl.Desc.JSONName()), ":")
		w.decodeValue(fl, "m."+fl.GoName, "\t\t")
	}
	f.P("\tdefault:")
	if inl != nil {
		f.P("\t\treturn decode", inl.Message.GoIdent.GoName, "Field(d, m.", inl.GoName, ", k)")
	} else {
		f.P("\t\treturn false")
	}
	f.P("\t}")
	f.P("\treturn true")
	f.P("}")
	f.P()
}

// ensureAlways emits the statements that give every always-sent message field of m (reached
// through prefix) a value when the input lacked it.
func (w *wireGen) ensureAlways(m *protogen.Message, prefix string) {
	for _, fl := range wireFields(m) {
		if fl.Message != nil && !fl.Desc.IsList() && fieldOpt[string](fl, wireopt.E_Always) == "*" && !fieldOpt[bool](fl, wireopt.E_Nullable) {
			w.f.P("\t\t\tif ", prefix, fl.GoName, " == nil {")
			w.f.P("\t\t\t\t", prefix, fl.GoName, " = new(", w.pb(fl.Message.GoIdent.GoName), ")")
			w.f.P("\t\t\t}")
		}
	}
}

// tagField is the message's union tag, if it is a flattened union.
func tagField(m *protogen.Message) *protogen.Field {
	for _, f := range m.Fields {
		if fieldOpt[bool](f, wireopt.E_Tag) {
			return f
		}
	}
	return nil
}

// alwaysCond is the condition under which a zero-valued field is still emitted, or "".
func (w *wireGen) alwaysCond(m *protogen.Message, f *protogen.Field, src string) string {
	a := fieldOpt[string](f, wireopt.E_Always)
	if a == "" {
		return ""
	}
	if a == "*" {
		return "true"
	}
	tag := tagField(m)
	if tag == nil {
		panic(m.GoIdent.GoName + "." + f.GoName + ": always by variant needs a tag field")
	}
	var conds []string
	for _, want := range strings.Split(a, ",") {
		found := false
		for _, v := range tag.Enum.Values {
			if enumWire(v) == want {
				conds = append(conds, src+"."+tag.GoName+" == "+w.pb(v.GoIdent.GoName))
				found = true
			}
		}
		if !found {
			panic(m.GoIdent.GoName + "." + f.GoName + ": no tag value " + want)
		}
	}
	return strings.Join(conds, " || ")
}

func nonZero(f *protogen.Field, v string) string {
	switch {
	case f.Desc.IsList(), f.Desc.Kind() == protoreflect.BytesKind:
		return "len(" + v + ") != 0"
	case f.Message != nil, f.Desc.HasPresence():
		return v + " != nil"
	}
	switch f.Desc.Kind() {
	case protoreflect.StringKind:
		return v + ` != ""`
	case protoreflect.BoolKind:
		return v
	}
	return v + " != 0"
}

func (w *wireGen) writeScalar(f *protogen.Field, v string) string {
	switch f.Desc.Kind() {
	case protoreflect.StringKind:
		return "e.str(" + v + ")"
	case protoreflect.BoolKind:
		return "e.boolean(" + v + ")"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if fieldOpt[bool](f, wireopt.E_Timestamp) {
			return "e.timestamp(" + v + ")"
		}
		return "e.int64(" + v + ")"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "e.int64(int64(" + v + "))"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "e.uint64(" + v + ")"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "e.uint64(uint64(" + v + "))"
	case protoreflect.BytesKind:
		return "e.bytes(" + v + ")"
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return "e.float64(float64(" + v + "))"
	case protoreflect.EnumKind:
		return "e.enum(wire" + f.Enum.GoIdent.GoName + "(" + v + "))"
	}
	panic("unsupported kind " + f.Desc.Kind().String())
}

// encodeValue emits the statements that write field f's value v (never a key).
func (w *wireGen) encodeValue(f *protogen.Field, v, indent string) {
	p := func(s ...any) { w.f.P(append([]any{indent}, s...)...) }
	if c := fieldOpt[string](f, wireopt.E_Custom); c != "" {
		p("encodeCustom", c, "(e, ", v, ")")
		return
	}
	if f.Desc.IsList() {
		if key := fieldOpt[string](f, wireopt.E_MapKey); key != "" {
			elem := f.Message
			keyField := fieldByName(elem, key)
			p("e.beginObject()")
			p("for _, x := range ", v, " {")
			p("\te.key(x.", keyField.GoName, ")")
			if val := fieldOpt[string](f, wireopt.E_MapValue); val != "" {
				vf := fieldByName(elem, val)
				w.encodeValue(vf, "x."+vf.GoName, indent+"\t")
			} else {
				p("\tencode", elem.GoIdent.GoName, "(e, x)")
			}
			p("}")
			p("e.endObject()")
			return
		}
		p("e.beginArray()")
		p("for _, x := range ", v, " {")
		if f.Message != nil {
			p("\tencode", f.Message.GoIdent.GoName, "(e, x)")
		} else {
			p("\t", w.writeScalar(f, "x"))
		}
		p("}")
		p("e.endArray()")
		return
	}
	if f.Message != nil {
		p("encode", f.Message.GoIdent.GoName, "(e, ", v, ")")
		return
	}
	if f.Desc.HasPresence() {
		p(w.writeScalar(f, "*"+v))
		return
	}
	p(w.writeScalar(f, v))
}

// encodeField emits the key and value of f from message src when the server would send it.
func (w *wireGen) encodeField(m *protogen.Message, f *protogen.Field, src, indent string) {
	p := func(s ...any) { w.f.P(append([]any{indent}, s...)...) }
	v := src + "." + f.GoName
	nz := nonZero(f, v)
	always := w.alwaysCond(m, f, src)
	key := fmt.Sprintf("e.key(%q)", f.Desc.JSONName())
	switch {
	case always == "":
		p("if ", nz, " {")
		p("\t", key)
		w.encodeValue(f, v, indent+"\t")
		p("}")
	case fieldOpt[bool](f, wireopt.E_Nullable) || (f.Desc.HasPresence() && f.Message == nil):
		cond := "if " + always + " {"
		if always == "true" {
			cond = "{"
		}
		p("if ", nz, " {")
		p("\t", key)
		w.encodeValue(f, v, indent+"\t")
		p("} else ", cond)
		p("\t", key)
		p("\te.null()")
		p("}")
	default:
		if always == "true" {
			p(key)
			w.encodeValue(f, v, indent)
			return
		}
		p("if ", nz, " || ", always, " {")
		p("\t", key)
		w.encodeValue(f, v, indent+"\t")
		p("}")
	}
}

func sortedWireFields(m *protogen.Message) []*protogen.Field {
	var fs []*protogen.Field
	for _, f := range wireFields(m) {
		if !fieldOpt[bool](f, wireopt.E_KeyOnly) && !fieldOpt[bool](f, wireopt.E_Inline) {
			fs = append(fs, f)
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Desc.JSONName() < fs[j].Desc.JSONName() })
	return fs
}

func (w *wireGen) encodeMessage(m *protogen.Message) {
	f, name := w.f, m.GoIdent.GoName
	typ := w.pb(name)
	switch {
	case msgOpt[bool](m, wireopt.E_Wrapper):
		f.P("func encode", name, "(e *encoder, m *", typ, ") {")
		w.encodeValue(m.Fields[0], "m.Get"+m.Fields[0].GoName+"()", "\t")
		f.P("}")
		f.P()
		return
	case msgOpt[bool](m, wireopt.E_Tuple):
		f.P("func encode", name, "(e *encoder, m *", typ, ") {")
		f.P("\te.beginArray()")
		for _, fl := range wireFields(m) {
			if !fieldOpt[bool](fl, wireopt.E_KeyOnly) {
				w.encodeValue(fl, "m.Get"+fl.GoName+"()", "\t")
			}
		}
		f.P("\te.endArray()")
		f.P("}")
		f.P()
		return
	}
	f.P("func encode", name, "(e *encoder, m *", typ, ") {")
	f.P("\te.beginObject()")
	f.P("\tif m != nil {")
	f.P("\t\tencode", name, "Fields(e, m)")
	f.P("\t}")
	f.P("\te.endObject()")
	f.P("}")
	f.P()
	f.P("func encode", name, "Fields(e *encoder, m *", typ, ") {")
	f.P("\tif m == nil {")
	f.P("\t\treturn")
	f.P("\t}")
	for _, fl := range sortedWireFields(m) {
		w.encodeField(m, fl, "m", "\t")
	}
	if inl := inlineField(m); inl != nil {
		f.P("\tencode", inl.Message.GoIdent.GoName, "Fields(e, m.", inl.GoName, ")")
	}
	f.P("}")
	f.P()
}

// frameTables emits the frame-type name table and the dispatch of frames to event decoders and
// encoders.
func (w *wireGen) frameTables(msgs []*protogen.Message) {
	f := w.f
	byFrame := map[string][]*protogen.Message{}
	clientByFrame := map[string]*protogen.Message{}
	var names []string
	seen := map[string]bool{}
	for _, m := range msgs {
		for _, fr := range frames(m) {
			if !seen[fr] {
				seen[fr] = true
				names = append(names, fr)
			}
			if msgOpt[bool](m, wireopt.E_Client) {
				clientByFrame[fr] = m
			} else {
				byFrame[fr] = append(byFrame[fr], m)
			}
		}
	}
	for _, extra := range []string{"Bulk", "Auth", "UserPresence"} {
		if !seen[extra] {
			names = append(names, extra)
		}
	}
	sort.Strings(names)
	f.P("// knownFrameType returns the constant string for a known frame type, so that peeking the")
	f.P("// type of a frame does not allocate, or \"\" for an unknown one.")
	f.P("func knownFrameType(b []byte) string {")
	f.P("\tswitch string(b) {")
	for _, n := range names {
		f.P("\tcase ", fmt.Sprintf("%q", n), ":")
		f.P("\t\treturn ", fmt.Sprintf("%q", n))
	}
	f.P("\t}")
	f.P("\treturn \"\"")
	f.P("}")
	f.P()
	f.P("// decodeSimpleEvent decodes the frames that map to exactly one event class.")
	f.P("func decodeSimpleEvent(d *decoder, typ string) ", w.pb("Event"), " {")
	f.P("\tswitch typ {")
	for _, n := range names {
		ms := byFrame[n]
		if len(ms) != 1 {
			continue
		}
		f.P("\tcase ", fmt.Sprintf("%q", n), ":")
		f.P("\t\tm := new(", w.pb(ms[0].GoIdent.GoName), ")")
		f.P("\t\tdecode", ms[0].GoIdent.GoName, "(d, m)")
		f.P("\t\treturn m")
	}
	f.P("\t}")
	f.P("\treturn nil")
	f.P("}")
	f.P()
	f.P("// decodeClientFrameBody decodes the frames a client sends.")
	f.P("func decodeClientFrameBody(d *decoder, typ string) ", w.f.QualifiedGoIdent(protogen.GoIdent{GoName: "Message", GoImportPath: "google.golang.org/protobuf/proto"}), " {")
	f.P("\tswitch typ {")
	for _, n := range names {
		m, ok := clientByFrame[n]
		if !ok {
			continue
		}
		f.P("\tcase ", fmt.Sprintf("%q", n), ":")
		f.P("\t\tm := new(", w.pb(m.GoIdent.GoName), ")")
		f.P("\t\tdecode", m.GoIdent.GoName, "(d, m)")
		f.P("\t\treturn m")
	}
	f.P("\t}")
	f.P("\treturn nil")
	f.P("}")
	f.P()
	f.P("// encodeFrameBody writes the frame of a wire message: its type tag, then its fields. It")
	f.P("// reports false for messages that are not frames.")
	f.P("func encodeFrameBody(e *encoder, msg any) bool {")
	f.P("\tswitch m := msg.(type) {")
	for _, m := range msgs {
		fr := frames(m)
		if len(fr) == 0 {
			continue
		}
		f.P("\tcase *", w.pb(m.GoIdent.GoName), ":")
		f.P("\t\te.beginObject()")
		f.P("\t\te.key(\"type\")")
		f.P("\t\te.str(", fmt.Sprintf("%q", fr[0]), ")")
		f.P("\t\tencode", m.GoIdent.GoName, "Fields(e, m)")
		f.P("\t\te.endObject()")
	}
	f.P("\tdefault:")
	f.P("\t\treturn false")
	f.P("\t}")
	f.P("\treturn true")
	f.P("}")
	f.P()
	w.modelSwitch(msgs, "// encodeModel writes any model message as the server sends it.", "encodeModel(e *encoder", "encode", "e")
	w.modelSwitch(msgs, "// decodeModel reads any model message.", "decodeModel(d *decoder", "decode", "d")
}

// modelSwitch emits a function that calls the generated <verb><Message>(arg, m) for any model
// message (not events or frames) and reports false for other types.
func (w *wireGen) modelSwitch(msgs []*protogen.Message, doc, signature, verb, arg string) {
	f := w.f
	f.P()
	f.P(doc)
	f.P("func ", signature, ", msg any) bool {")
	f.P("\tswitch m := msg.(type) {")
	for _, m := range msgs {
		if len(frames(m)) != 0 || isEvent(m) {
			continue
		}
		f.P("\tcase *", w.pb(m.GoIdent.GoName), ":")
		f.P("\t\t", verb, m.GoIdent.GoName, "(", arg, ", m)")
	}
	f.P("\tdefault:")
	f.P("\t\treturn false")
	f.P("\t}")
	f.P("\treturn true")
	f.P("}")
}
