package stoatpb_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// openAPIEnv names the environment variable that points the coverage test at Stoat's OpenAPI file.
const openAPIEnv = "ERMINE_OPENAPI"

// openAPIRel is where the OpenAPI file sits relative to the folder that holds the checkout: the
// repository is checked out as <dir>/main (or another name in CI) with the shared material at
// <dir>/shared.
var openAPIRel = filepath.Join("shared", "protocol", "OpenAPI.json")

// schemaMapping maps one OpenAPI schema (components.schemas) to the proto message that models it.
type schemaMapping struct {
	schema string
	msg    protoreflect.MessageDescriptor
}

func desc(m proto.Message) protoreflect.MessageDescriptor { return m.ProtoReflect().Descriptor() }

// openAPIMappings lists every OpenAPI schema that an event, or the Ready / ServerCreate payload,
// carries, with the proto message that models it. A schema may map to several messages (and a
// message may model several schemas); each pair is checked on its own.
//
// Deliberately left out: the Data* request bodies, Fields* (clear/remove enums, not objects),
// REST-only responses (Bot, PublicBot, Invite, ServerBan, BannedUser, AccountInfo, …) and
// SendableEmbed / ReplyIntent (what a client sends, not what an event carries).
var openAPIMappings = []schemaMapping{
	// Users.
	{"User", desc(&stoatpb.User{})},
	{"UserStatus", desc(&stoatpb.UserStatus{})},
	{"BotInformation", desc(&stoatpb.BotInformation{})},
	{"Relationship", desc(&stoatpb.Relationship{})},
	// REST only (BONFIRE §3.1), but modelled: User.profile holds it locally.
	{"UserProfile", desc(&stoatpb.UserProfile{})},

	// Files.
	{"File", desc(&stoatpb.File{})},
	{"Metadata", desc(&stoatpb.FileMetadata{})},

	// Servers, roles and permissions.
	{"Server", desc(&stoatpb.Server{})},
	{"Category", desc(&stoatpb.Category{})},
	{"SystemMessageChannels", desc(&stoatpb.SystemMessageChannels{})},
	{"Role", desc(&stoatpb.Role{})},
	{"OverrideField", desc(&stoatpb.PermissionOverride{})},
	// The values of Channel.role_permissions ({role_id: OverrideField}), flattened with their key.
	{"OverrideField", desc(&stoatpb.RoleOverride{})},

	// Channels and read state.
	{"Channel", desc(&stoatpb.Channel{})},
	{"VoiceInformation", desc(&stoatpb.VoiceInformation{})},
	{"ChannelUnread", desc(&stoatpb.ChannelUnread{})},
	{"ChannelCompositeKey", desc(&stoatpb.ChannelCompositeKey{})},

	// Members.
	{"Member", desc(&stoatpb.Member{})},
	{"MemberCompositeKey", desc(&stoatpb.MemberId{})},

	// Messages.
	{"Message", desc(&stoatpb.Message{})},
	{"MessageWebhook", desc(&stoatpb.MessageWebhook{})},
	{"SystemMessage", desc(&stoatpb.SystemMessage{})},
	{"Embed", desc(&stoatpb.Embed{})},
	{"Image", desc(&stoatpb.EmbedImage{})},
	{"Video", desc(&stoatpb.EmbedVideo{})},
	{"Special", desc(&stoatpb.EmbedSpecial{})},
	{"Masquerade", desc(&stoatpb.Masquerade{})},
	{"Interactions", desc(&stoatpb.Interactions{})},

	// Emojis and webhooks.
	{"Emoji", desc(&stoatpb.Emoji{})},
	{"EmojiParent", desc(&stoatpb.EmojiParent{})},
	{"Webhook", desc(&stoatpb.Webhook{})},

	// Sessions (CreateSession carries the full session; OpenAPI only has the REST projection).
	{"SessionInfo", desc(&stoatpb.Session{})},
	{"WebPushSubscription", desc(&stoatpb.WebPushSubscription{})},

	// Reports (ReportCreate, internal).
	{"ReportedContent", desc(&stoatpb.ReportedContent{})},
}

// openAPIExceptions lists "Schema.property" keys that the proto model deliberately lacks because
// the current server no longer sends them, each justified from BONFIRE.md. Keep it empty unless
// BONFIRE.md documents the removal.
var openAPIExceptions = map[string]string{}

// apiSchema is the subset of an OpenAPI 3.0 schema object that the coverage test reads.
type apiSchema struct {
	Ref                  string                `json:"$ref"`
	Type                 string                `json:"type"`
	Enum                 []any                 `json:"enum"`
	Properties           map[string]*apiSchema `json:"properties"`
	Items                *apiSchema            `json:"items"`
	AdditionalProperties json.RawMessage       `json:"additionalProperties"` // bool or schema
	AllOf                []*apiSchema          `json:"allOf"`
	OneOf                []*apiSchema          `json:"oneOf"`
	AnyOf                []*apiSchema          `json:"anyOf"`
}

type apiDoc struct {
	Components struct {
		Schemas map[string]*apiSchema `json:"schemas"`
	} `json:"components"`
}

const schemaRefPrefix = "#/components/schemas/"

// refName returns the schema name a local $ref points at.
func refName(ref string) (string, bool) {
	name, ok := strings.CutPrefix(ref, schemaRefPrefix)
	if !ok {
		return "", false
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(name), true
}

// resolver resolves $refs against components.schemas.
type resolver struct {
	schemas map[string]*apiSchema
}

func (r resolver) lookup(ref string) (*apiSchema, string, error) {
	name, ok := refName(ref)
	if !ok {
		return nil, "", fmt.Errorf("unsupported $ref %q", ref)
	}
	s := r.schemas[name]
	if s == nil {
		return nil, "", fmt.Errorf("dangling $ref %q", ref)
	}
	return s, name, nil
}

// properties collects the properties of a schema and, recursively, of everything it composes
// ($ref, allOf, oneOf, anyOf): the flattened union of all variants. A property defined by several
// variants keeps each variant's schema.
func (r resolver) properties(s *apiSchema) (map[string][]*apiSchema, error) {
	out := map[string][]*apiSchema{}
	err := r.collect(s, out, map[string]bool{})
	return out, err
}

func (r resolver) collect(s *apiSchema, out map[string][]*apiSchema, visiting map[string]bool) error {
	if s == nil {
		return nil
	}
	if s.Ref != "" {
		t, name, err := r.lookup(s.Ref)
		if err != nil {
			return err
		}
		if visiting[name] {
			return nil // A recursive schema adds nothing new at this level.
		}
		visiting[name] = true
		defer delete(visiting, name)
		if err := r.collect(t, out, visiting); err != nil {
			return err
		}
	}
	for _, group := range [][]*apiSchema{s.AllOf, s.OneOf, s.AnyOf} {
		for _, v := range group {
			if err := r.collect(v, out, visiting); err != nil {
				return err
			}
		}
	}
	for name, p := range s.Properties {
		out[name] = append(out[name], p)
	}
	return nil
}

// shape is what a property holds, as far as the proto model can be checked against it.
type shape struct {
	list  bool     // an array or an id-keyed map: a repeated proto field
	refs  []string // the object schemas it holds (after $ref / allOf / items / map values)
	enums []string // the string values it allows, if it is a string enum
}

// shapeOf describes a property schema. Arrays and maps (additionalProperties) become lists of
// their element's shape; $ref, allOf, oneOf and anyOf are followed.
func (r resolver) shapeOf(s *apiSchema) (shape, error) {
	var sh shape
	if s.Type == "array" && s.Items != nil {
		inner, err := r.shapeOf(s.Items)
		inner.list = true
		return inner, err
	}
	if s.Type == "object" && len(s.AdditionalProperties) > 0 && string(s.AdditionalProperties) != "true" &&
		string(s.AdditionalProperties) != "false" {
		var v apiSchema
		if err := json.Unmarshal(s.AdditionalProperties, &v); err != nil {
			return sh, fmt.Errorf("additionalProperties: %w", err)
		}
		inner, err := r.shapeOf(&v)
		inner.list = true // Maps keyed by id are flattened into repeated fields.
		return inner, err
	}
	err := r.enumsAndRefs(s, &sh, map[string]bool{})
	return sh, err
}

func (r resolver) enumsAndRefs(s *apiSchema, sh *shape, visiting map[string]bool) error {
	if s.Ref != "" {
		t, name, err := r.lookup(s.Ref)
		if err != nil {
			return err
		}
		if visiting[name] {
			return nil
		}
		visiting[name] = true
		defer delete(visiting, name)
		if len(t.Properties) > 0 || hasObjectVariants(t) {
			sh.refs = append(sh.refs, name)
			return nil
		}
		return r.enumsAndRefs(t, sh, visiting)
	}
	for _, v := range s.Enum {
		if str, ok := v.(string); ok {
			sh.enums = append(sh.enums, str)
		}
	}
	for _, group := range [][]*apiSchema{s.AllOf, s.OneOf, s.AnyOf} {
		for _, v := range group {
			if err := r.enumsAndRefs(v, sh, visiting); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasObjectVariants reports whether a union schema's variants are objects (a tagged union such as
// Channel) rather than plain values (a string enum such as Presence).
func hasObjectVariants(s *apiSchema) bool {
	for _, group := range [][]*apiSchema{s.AllOf, s.OneOf, s.AnyOf} {
		for _, v := range group {
			if v.Ref != "" || len(v.Properties) > 0 {
				return true
			}
		}
	}
	return false
}

// findOpenAPI returns the path of OpenAPI.json, and the paths it tried.
func findOpenAPI(t *testing.T) (path string, tried []string) {
	t.Helper()
	if p := os.Getenv(openAPIEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%q: %v", openAPIEnv, p, err)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	// Walk up from the package directory to the module root (the folder with go.mod), looking for
	// shared/ beside each folder: <repo root>/../shared/protocol/OpenAPI.json in the end.
	for dir := wd; ; {
		p := filepath.Join(filepath.Dir(dir), openAPIRel)
		tried = append(tried, p)
		if _, err := os.Stat(p); err == nil {
			return p, tried
		}
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		parent := filepath.Dir(dir)
		if err == nil || parent == dir {
			return "", tried
		}
		dir = parent
	}
}

// wireOptionSet reports whether a boolean ermine.wire.* field option (e.g. "local") is set. The
// options are read reflectively so that the test depends on protobuf alone.
func wireOptionSet(fd protoreflect.FieldDescriptor, name protoreflect.FullName) bool {
	set := false
	fd.Options().ProtoReflect().Range(func(xd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if xd.FullName() == name && xd.Kind() == protoreflect.BoolKind && v.Bool() {
			set = true
			return false
		}
		return true
	})
	return set
}

// enumWireValue returns an enum value's wire spelling (its ermine.wire.value option).
func enumWireValue(vd protoreflect.EnumValueDescriptor) (string, bool) {
	var s string
	var ok bool
	vd.Options().ProtoReflect().Range(func(xd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if xd.FullName() == "ermine.wire.value" {
			s, ok = v.String(), true
			return false
		}
		return true
	})
	return s, ok
}

// wireFields returns the fields of a message that are on the wire, by wire key (json_name).
func wireFields(md protoreflect.MessageDescriptor) map[string]protoreflect.FieldDescriptor {
	out := map[string]protoreflect.FieldDescriptor{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if wireOptionSet(fd, "ermine.wire.local") {
			continue
		}
		out[fd.JSONName()] = fd
	}
	return out
}

// TestOpenAPICoverage checks that the proto model has a wire field for every property of every
// OpenAPI schema that events carry, with the right message type, cardinality and enum values.
// Proto fields that the (older) OpenAPI file does not know are logged, not failed.
func TestOpenAPICoverage(t *testing.T) {
	path, tried := findOpenAPI(t)
	if path == "" {
		t.Skipf("Stoat's OpenAPI.json not found; looked at:\n  %s\nset %s=/path/to/OpenAPI.json to run this test",
			strings.Join(tried, "\n  "), openAPIEnv)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc apiDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(doc.Components.Schemas) == 0 {
		t.Fatalf("%s: no components.schemas", path)
	}
	r := resolver{schemas: doc.Components.Schemas}
	t.Logf("OpenAPI: %s (%d schemas)", path, len(doc.Components.Schemas))

	// The wire options must be linked in, or local fields and enum spellings would go unseen.
	for _, x := range []protoreflect.FullName{"ermine.wire.local", "ermine.wire.value"} {
		if _, err := protoregistry.GlobalTypes.FindExtensionByName(x); err != nil {
			t.Fatalf("extension %s not registered: %v", x, err)
		}
	}

	// The messages each schema maps to, for checking the type of nested objects.
	targets := map[string][]protoreflect.FullName{}
	for _, m := range openAPIMappings {
		if _, err := protoregistry.GlobalFiles.FindDescriptorByName(m.msg.FullName()); err != nil {
			t.Errorf("%s: %v", m.msg.FullName(), err)
		}
		targets[m.schema] = append(targets[m.schema], m.msg.FullName())
	}

	var missing, wrong []string
	usedExceptions := map[string]bool{}
	known := map[protoreflect.FullName]map[string]bool{} // wire keys OpenAPI knows, per message
	for _, m := range openAPIMappings {
		s := doc.Components.Schemas[m.schema]
		if s == nil {
			t.Errorf("schema %q is not in %s (components.schemas)", m.schema, path)
			continue
		}
		props, err := r.properties(s)
		if err != nil {
			t.Errorf("schema %s: %v", m.schema, err)
			continue
		}
		if len(props) == 0 {
			t.Errorf("schema %s has no properties (not an object schema?)", m.schema)
			continue
		}
		fields := wireFields(m.msg)
		if known[m.msg.FullName()] == nil {
			known[m.msg.FullName()] = map[string]bool{}
		}
		for _, name := range slices.Sorted(maps.Keys(props)) {
			known[m.msg.FullName()][name] = true
			key := m.schema + "." + name
			fd, ok := fields[name]
			if !ok {
				if _, ok := openAPIExceptions[key]; ok {
					usedExceptions[key] = true
					continue
				}
				missing = append(missing, fmt.Sprintf("%s → %s", key, m.msg.FullName()))
				continue
			}
			for _, ps := range props[name] {
				sh, err := r.shapeOf(ps)
				if err != nil {
					t.Errorf("%s: %v", key, err)
					continue
				}
				if problem := checkShape(sh, fd, targets); problem != "" {
					wrong = append(wrong, fmt.Sprintf("%s → %s: %s", key, fd.FullName(), problem))
				}
			}
		}
	}
	for key := range openAPIExceptions {
		if !usedExceptions[key] {
			t.Errorf("stale exception %s: the proto model has the field, or OpenAPI lacks the property", key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d OpenAPI properties have no proto wire field (json_name):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	if len(wrong) > 0 {
		wrong = slices.Compact(wrong)
		t.Errorf("%d proto fields do not match their OpenAPI property:\n  %s",
			len(wrong), strings.Join(wrong, "\n  "))
	}

	// Informational: wire fields that OpenAPI 0.8.9 does not know (newer fields, e.g. pronouns,
	// slowmode, thumbhash; and the Session fields beyond the SessionInfo projection). Map keys
	// flattened into a value (ermine.wire.key_only) are skipped.
	var extra []string
	for _, name := range slices.Sorted(maps.Keys(known)) {
		md, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			continue
		}
		fields := wireFields(md.(protoreflect.MessageDescriptor))
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			if !known[name][key] && !wireOptionSet(fields[key], "ermine.wire.key_only") {
				extra = append(extra, fmt.Sprintf("%s.%s", name, key))
			}
		}
	}
	if len(extra) > 0 {
		t.Logf("%d proto wire fields have no OpenAPI property (newer than the OpenAPI file, or not in the mapped schema):\n  %s",
			len(extra), strings.Join(extra, "\n  "))
	}
}

// checkShape compares a property's shape with its proto field and describes a mismatch ("" if
// none).
func checkShape(sh shape, fd protoreflect.FieldDescriptor, targets map[string][]protoreflect.FullName) string {
	if sh.list != fd.IsList() {
		if sh.list {
			return "OpenAPI has an array or map, proto a singular field"
		}
		return "OpenAPI has a single value, proto a repeated field"
	}
	for _, ref := range sh.refs {
		want, mapped := targets[ref]
		if !mapped {
			continue // An unmapped schema (e.g. ISO8601 Timestamp) is not checked.
		}
		if fd.Message() == nil {
			return fmt.Sprintf("OpenAPI has %s, proto a %s field", ref, fd.Kind())
		}
		if !slices.Contains(want, fd.Message().FullName()) {
			return fmt.Sprintf("OpenAPI has %s (→ %v), proto %s", ref, want, fd.Message().FullName())
		}
	}
	if len(sh.enums) > 0 && fd.Enum() != nil {
		have := map[string]bool{}
		values := fd.Enum().Values()
		for i := range values.Len() {
			if s, ok := enumWireValue(values.Get(i)); ok {
				have[s] = true
			}
		}
		var lacking []string
		for _, v := range sh.enums {
			if !have[v] {
				lacking = append(lacking, v)
			}
		}
		if len(lacking) > 0 {
			sort.Strings(lacking)
			return fmt.Sprintf("enum %s lacks wire values %q", fd.Enum().FullName(), lacking)
		}
	}
	return ""
}
