package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Keep decides whether the cache keeps an entry it is about to write (a new one or a new
// version), given the write's context: the event class or patch that writes it and, for the
// event's primary owner, the event. An entry it refuses is not cached, and a version of it
// already cached is removed, so that the cache never serves a stale entry; handlers receive the
// same events either way, only what before_dispatch finds in the cache changes. A Keep runs on
// the goroutine of the entity's owner, for every write of its kind (owners of different
// entities call it in parallel): it must be fast and safe for concurrent use, and must not
// block.
type Keep[T any] func(ctx CacheContext, entry T) bool

// And keeps an entry every one of ps keeps (a nil Keep keeps every entry).
func And[T any](ps ...Keep[T]) Keep[T] {
	ps = slices.DeleteFunc(slices.Clone(ps), func(p Keep[T]) bool { return p == nil })
	return func(ctx CacheContext, e T) bool {
		for _, p := range ps {
			if !p(ctx, e) {
				return false
			}
		}
		return true
	}
}

// Or keeps an entry one of ps keeps (a nil Keep keeps every entry).
func Or[T any](ps ...Keep[T]) Keep[T] {
	ps = slices.Clone(ps)
	return func(ctx CacheContext, e T) bool {
		for _, p := range ps {
			if p == nil || p(ctx, e) {
				return true
			}
		}
		return false
	}
}

// Not keeps an entry p does not keep (a nil p keeps every entry, so Not(nil) keeps none).
func Not[T any](p Keep[T]) Keep[T] {
	return func(ctx CacheContext, e T) bool { return p != nil && !p(ctx, e) }
}

// From keeps the entries written in a context of one of kinds.
func From[T any](kinds ...CacheContextKind) Keep[T] {
	var set [NumCacheContextKinds]bool
	for _, k := range kinds {
		if k < NumCacheContextKinds {
			set[k] = true
		}
	}
	return func(ctx CacheContext, _ T) bool { return ctx.Kind < NumCacheContextKinds && set[ctx.Kind] }
}

// never is what a toggle (NoUsers…) stands for.
func never[T any](CacheContext, T) bool { return false }

// keepers are a Policy's predicates with its toggles applied: nil keeps every entry, so that the
// default policy costs one nil check per write.
type keepers struct {
	users      Keep[*stoatpb.User]
	members    Keep[*stoatpb.Member]
	messages   Keep[*stoatpb.Message]
	emojis     Keep[*stoatpb.Emoji]
	voice      Keep[*stoatpb.ChannelVoiceState]
	readStates Keep[*stoatpb.ChannelUnread]
}

func (p *Policy) keepers() keepers {
	return keepers{
		users:      toggled(p.NoUsers, p.Users),
		members:    toggled(p.NoMembers, p.Members),
		messages:   toggled(p.NoMessages, p.Messages),
		emojis:     toggled(p.NoEmojis, p.Emojis),
		voice:      toggled(p.NoVoice, p.Voice),
		readStates: toggled(p.NoReadStates, p.ReadStates),
	}
}

// toggled is k, or never if off is set.
func toggled[T any](off bool, k Keep[T]) Keep[T] {
	if off {
		return never[T]
	}
	return k
}
