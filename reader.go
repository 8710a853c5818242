package ermine

import (
	"context"
	"errors"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ErrNotCached is returned by a Reader when the cache does not hold what was asked for.
var ErrNotCached = errors.New("ermine: not cached")

// Reader reads the cache wherever the owner of an entity is. Out of cluster mode it reads this
// process's cache (as Cache does). In cluster mode Cache reads only what the owners of this
// node hold; a Reader asks the node of the entity's owner (one round trip over the cluster's
// transport; none when it is owned here), so that an entity cached on another node never reads
// as "not cached". Each answer is the owner's state as published when the request arrives:
// events already read from the connection but not yet processed by the owner are not in it.
type Reader struct{ b *Bot }

// Read returns the bot's Reader.
func (b *Bot) Read() Reader { return Reader{b} }

func (r Reader) ask(ctx context.Context, key actors.Key, id string) (*clusterpb.ReadAnswer, error) {
	return r.b.cluster.Read(ctx, key, id)
}

// Server returns a cached server.
func (r Reader) Server(ctx context.Context, id string) (*stoatpb.Server, error) {
	if r.b.cluster == nil {
		return found(r.b.store.Server(id))
	}
	a, err := r.ask(ctx, actors.Key{Kind: actors.KindServer, ID: id}, "")
	if err != nil {
		return nil, err
	}
	return found(a.GetServer())
}

// Members returns the cached members of a server.
func (r Reader) Members(ctx context.Context, server string) ([]*stoatpb.Member, error) {
	if r.b.cluster == nil {
		return r.b.store.Members(server), nil
	}
	a, err := r.ask(ctx, actors.Key{Kind: actors.KindServer, ID: server}, "")
	return a.GetMembers(), err
}

// Channel returns a cached channel.
func (r Reader) Channel(ctx context.Context, id string) (*stoatpb.Channel, error) {
	if r.b.cluster == nil {
		return found(r.b.store.Channel(id))
	}
	a, err := r.ask(ctx, actors.Key{Kind: actors.KindChannel, ID: id}, "")
	if err != nil {
		return nil, err
	}
	return found(a.GetChannel())
}

// Messages returns the cached messages of a channel, oldest first.
func (r Reader) Messages(ctx context.Context, channel string) ([]*stoatpb.Message, error) {
	if r.b.cluster == nil {
		return r.b.store.Messages(channel), nil
	}
	a, err := r.ask(ctx, actors.Key{Kind: actors.KindChannel, ID: channel}, "")
	return a.GetMessages(), err
}

// User returns a cached user.
func (r Reader) User(ctx context.Context, id string) (*stoatpb.User, error) {
	if r.b.cluster == nil {
		return found(r.b.store.User(id))
	}
	a, err := r.ask(ctx, actors.UserDirKey(id), id)
	if err != nil {
		return nil, err
	}
	return found(a.GetUser())
}

func found[T comparable](v T) (T, error) {
	var zero T
	if v == zero {
		return v, ErrNotCached
	}
	return v, nil
}

// readLocal answers a read from another node from this node's cache.
func (b *Bot) readLocal(key actors.Key, id string) *clusterpb.ReadAnswer {
	a := &clusterpb.ReadAnswer{}
	switch key.Kind {
	case actors.KindServer:
		a.Server, a.Members = b.store.Server(key.ID), b.store.Members(key.ID)
	case actors.KindChannel:
		a.Channel, a.Messages = b.store.Channel(key.ID), b.store.Messages(key.ID)
	case actors.KindUserDir:
		a.User = b.store.User(id)
	}
	return a
}
