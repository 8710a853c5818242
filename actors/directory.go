// Package actors is ermine's owner directory: the one place that maps an entity (a shard, a
// server, a channel, a partition of the user directory) to the actor that owns it, activates that
// actor on first use, supervises it, passivates it when idle and delivers messages to it in order.
//
// Everything above this package addresses owners through the Directory interface only, so that
// cluster mode can place owners as protoactor grains on other nodes without changing any caller.
// LocalDirectory is the single-process implementation on protoactor-go's local actors.
package actors

import (
	"context"
	"strconv"
)

// Kind is the kind of entity an owner owns.
type Kind uint8

const (
	// KindShard owns one connection and its connection-level events.
	KindShard Kind = iota + 1
	// KindServer owns a server: its roles, members, emojis and channel list.
	KindServer
	// KindChannel owns a channel: its messages, typing, voice and webhooks.
	KindChannel
	// KindUserDir owns one partition of the users, chosen by a hash of the user id.
	KindUserDir
)

func (k Kind) String() string {
	switch k {
	case KindShard:
		return "shard"
	case KindServer:
		return "server"
	case KindChannel:
		return "channel"
	case KindUserDir:
		return "userdir"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Key identifies an owner.
type Key struct {
	Kind Kind
	// ID is the shard name, the server or channel id, or the user-directory partition number.
	ID string
}

func (k Key) String() string { return k.Kind.String() + "/" + k.ID }

// IsZero reports whether k names no owner.
func (k Key) IsZero() bool { return k.Kind == 0 }

// Owner is the behaviour that runs inside an owner actor. The directory calls Receive for one
// message at a time, in delivery order; an Owner therefore needs no locks for its own state.
type Owner interface {
	// Receive handles one delivered message.
	Receive(ctx Context, msg any)
}

// Passivator is implemented by owners that keep state across passivation: Passivate returns what
// the next activation of the same key is given (see Factory).
type Passivator interface {
	Passivate() (state any)
}

// Resetter is implemented by owners that can drop their state after a crash. The directory calls
// Reset when Receive panics, so that the owner goes on cold (knowing nothing) rather than
// silently wrong (half of an update applied).
type Resetter interface {
	Reset()
}

// Discarder is implemented by owners whose messages hold something others wait for (a budget
// share, a gate, a barrier). When a directory stops without handling a message (its Close ran
// out of time), it calls Discard instead of Receive, so that nothing waits for it forever.
type Discarder interface {
	Discard(msg any)
}

// Holder is implemented by owners that hold messages back: received, not handled yet, because
// they wait for a message from another owner (cacheactors' gates and Ready barriers), so that
// no owner goroutine ever blocks on another owner. The directory does not passivate an owner
// while Holding reports true. When such an owner stops anyway (Close, or a passivation asked
// for just before it began to hold), the held messages stay in the state it passes on to its
// next activation (Passivator) if the directory keeps that state; otherwise the directory takes
// them with Held and discards them (Discarder), so that nothing waits for them forever.
//
// Close does not wait for the messages owners send each other: drain before closing (as
// ermine.Bot.Close does) for everything held to be handled.
type Holder interface {
	Holding() bool
	Held() []any
}

// Factory creates the owner of key. saved is what the previous activation returned from
// Passivate, or nil.
type Factory func(key Key, saved any) Owner

// Context is what an owner can do while it handles a message.
type Context interface {
	// Key is the owner's own key.
	Key() Key
	// Deliver sends msg to another owner (or to itself, after the current message).
	Deliver(key Key, msg any)
	// MoveOn lets the owner go on without the goroutine handling the current message, which
	// stays with something that may block (a handler that detached): a new goroutine becomes
	// the owner's, runs rest — the rest of the current message — and then the next messages.
	// The calling goroutine must not touch the owner's state again, and the current message's
	// Receive must return without doing anything more once it returns to it. It may be called
	// from another goroutine while the owner's is blocked in the current message.
	MoveOn(rest func())
}

// Directory delivers messages to owners.
//
// Ordering: the messages one goroutine delivers to one key are received in the order they were
// delivered. There is no order between different senders.
type Directory interface {
	// Deliver sends msg to the owner of key, activating the owner if needed. It never blocks on
	// the owner (backpressure is the caller's business; see InFlight).
	Deliver(key Key, msg any)
	// Close stops accepting messages, lets every owner finish what it was sent, then stops them.
	// If ctx ends first, the directory halts: every message not yet handled is discarded (see
	// Discarder) and Close returns, with an error that says what was discarded, once no owner
	// runs any more.
	Close(ctx context.Context) error
	// Keys returns the keys of the owners of kind (0: every kind) that hold state: active, or
	// passivated with their state kept — what a new connection's router can learn the cache
	// from (in cluster mode, after its node died).
	Keys(ctx context.Context, kind Kind) ([]Key, error)
	// Stats returns counters about the owners.
	Stats() Stats
	// Pending is the number of messages delivered through this directory and not yet handled,
	// including the patches owners send each other (0 means quiet).
	Pending() int
}

// Stats counts owner lifecycle events.
type Stats struct {
	// Active is the number of owners alive now, by kind.
	Active map[Kind]int
	// Activations counts owner activations (first use, or after passivation).
	Activations uint64
	// Passivations counts owners stopped because they were idle.
	Passivations uint64
	// Crashes counts panics in an owner's Receive.
	Crashes uint64
	// Discarded counts messages dropped unhandled because Close ran out of time, and messages
	// delivered after Close.
	Discarded uint64
}

// UserDirPartitions is the number of user-directory owners; a user lives in the partition chosen
// by a hash of its id.
const UserDirPartitions = 16

var userDirIDs = func() (ids [UserDirPartitions]string) {
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}()

// UserDirKey returns the key of the user-directory partition that owns userID.
func UserDirKey(userID string) Key {
	return Key{Kind: KindUserDir, ID: userDirIDs[userDirPartition(userID)]}
}

// userDirPartition uses FNV-1a rather than maphash so that the partition of a user is the same in
// every process (cluster mode needs that).
func userDirPartition(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % UserDirPartitions)
}
