package rest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/ermine-rt/ermine/proto/bonfire"
)

// model returns a decoder of one model object into m, with the codec the rest of ermine uses.
func model(m proto.Message) func([]byte) error {
	return func(data []byte) error { return bonfire.UnmarshalModel(bonfire.JSON, data, m) }
}

// modelList decodes a JSON array of model objects (null or absent: none).
func modelList[T any, P interface {
	*T
	proto.Message
}](data []byte) ([]P, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	out := make([]P, 0, len(items))
	for i, it := range items {
		p := P(new(T))
		if err := bonfire.UnmarshalModel(bonfire.JSON, it, p); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// modelValue decodes one model object (null or absent: nil).
func modelValue[T any, P interface {
	*T
	proto.Message
}](data []byte) (P, error) {
	if d := bytes.TrimSpace(data); len(d) == 0 || string(d) == "null" {
		return nil, nil
	}
	p := P(new(T))
	return p, bonfire.UnmarshalModel(bonfire.JSON, data, p)
}

// firstByte returns the first non-space byte of data.
func firstByte(data []byte) byte {
	if d := bytes.TrimSpace(data); len(d) > 0 {
		return d[0]
	}
	return 0
}
