package stoattest

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/proto"
)

// decodeClientFrame decodes one client→server frame as strictly as the real server (serde into
// its ClientMessage enum): the five known types only, required fields present with the right
// types, and a Ping's data a non-negative integer or an array of bytes (a float, a string or a
// negative number fails). typ is the frame's "type" when it could be read; ok reports whether the
// real server would have understood the frame (it ignores the others silently).
func decodeClientFrame(f bonfire.Format, data []byte) (typ string, msg proto.Message, ok bool) {
	fields, typ, parsed := genericFields(f, data)
	if !parsed {
		return typ, nil, false
	}
	switch typ {
	case "Authenticate":
		ok = fields.isString("token")
	case "BeginTyping", "EndTyping":
		ok = fields.isString("channel")
	case "Subscribe":
		ok = fields.isString("server_id")
	case "Ping":
		ok = fields.isPingData("data")
	}
	if !ok {
		return typ, nil, false
	}
	msg, err := bonfire.DecodeClientFrame(f, data)
	if err != nil {
		return typ, nil, false
	}
	return typ, msg, true
}

// frameFields is the top level of a frame: raw JSON values or decoded msgpack values.
type frameFields struct {
	json map[string]json.RawMessage
	mp   map[string]any
}

func genericFields(f bonfire.Format, data []byte) (frameFields, string, bool) {
	var ff frameFields
	if f == bonfire.Msgpack {
		if err := msgpack.Unmarshal(data, &ff.mp); err != nil || ff.mp == nil {
			return ff, "", false
		}
		typ, ok := ff.mp["type"].(string)
		return ff, typ, ok
	}
	if err := json.Unmarshal(data, &ff.json); err != nil || ff.json == nil {
		return ff, "", false
	}
	var typ string
	if raw, ok := ff.json["type"]; !ok || json.Unmarshal(raw, &typ) != nil || !isJSONString(raw) {
		return ff, "", false
	}
	return ff, typ, true
}

func isJSONString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '"'
}

func (ff frameFields) isString(key string) bool {
	if ff.mp != nil {
		_, ok := ff.mp[key].(string)
		return ok
	}
	raw, ok := ff.json[key]
	var s string
	return ok && isJSONString(raw) && json.Unmarshal(raw, &s) == nil
}

// isPingData reports whether the value is a non-negative integer (usize) or a list of bytes.
func (ff frameFields) isPingData(key string) bool {
	if ff.mp != nil {
		v, present := ff.mp[key]
		if !present {
			return false
		}
		if list, ok := v.([]any); ok {
			for _, e := range list {
				if n, ok := mpUint(e); !ok || n > 255 {
					return false
				}
			}
			return true
		}
		_, ok := mpUint(v)
		return ok
	}
	raw, present := ff.json[key]
	if !present {
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return false
		}
		for _, e := range list {
			if _, err := strconv.ParseUint(string(bytes.TrimSpace(e)), 10, 8); err != nil {
				return false
			}
		}
		return true
	}
	_, err := strconv.ParseUint(string(raw), 10, 64)
	return err == nil
}

// mpUint returns a msgpack integer value as a uint64 if it is a non-negative integer.
func mpUint(v any) (uint64, bool) {
	switch n := v.(type) {
	case int8:
		return uint64(n), n >= 0
	case int16:
		return uint64(n), n >= 0
	case int32:
		return uint64(n), n >= 0
	case int64:
		return uint64(n), n >= 0
	case int:
		return uint64(n), n >= 0
	case uint8:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	case uint:
		return uint64(n), true
	}
	return 0, false
}
