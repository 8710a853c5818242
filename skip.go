package ermine

import (
	"strings"

	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/proto/wireopt"
	"google.golang.org/protobuf/proto"
)

// skipper decides, for each frame the connection peeks at, whether to leave it undecoded: when
// no event its wire type can decode to is needed — by the runtime itself (cacheactors.Needs: the
// connection's events, and those that change the cache), a handler or a wait. Handlers and waits
// registered later count at once (the registry is read for each frame). Config.Connection.Skip,
// when set, replaces it.
type skipper struct {
	registry *dispatch.Registry
	// events maps each wire type of a single-event frame to the event types it can decode to.
	events map[string][]stoatpb.EventType
}

func newSkipper(registry *dispatch.Registry) *skipper {
	s := &skipper{registry: registry, events: map[string][]stoatpb.EventType{}}
	for t := stoatpb.EventType(1); t < stoatpb.NumEventTypes; t++ {
		opts := stoatpb.NewEvent(t).ProtoReflect().Descriptor().Options()
		frames, _ := proto.GetExtension(opts, wireopt.E_Frame).(string)
		for _, f := range strings.Split(frames, ",") {
			if f = strings.TrimSpace(f); f != "" {
				s.events[f] = append(s.events[f], t)
			}
		}
	}
	return s
}

// skip implements shardactor.Config.Skip. A wire type it does not know (Bulk, or one this
// version of ermine has not met) is decoded.
func (s *skipper) skip(frameType string) bool {
	types, ok := s.events[frameType]
	if !ok {
		return false
	}
	for _, t := range types {
		if cacheactors.Needs(t) || s.registry.HasSubscribers(t) {
			return false
		}
	}
	return true
}
