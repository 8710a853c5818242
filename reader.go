package ermine

import (
	"context"
	"errors"
	"time"

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

// Member returns a server's cached member.
func (r Reader) Member(ctx context.Context, server, user string) (*stoatpb.Member, error) {
	if r.b.cluster == nil {
		return found(r.b.store.Member(server, user))
	}
	a, err := r.ask(ctx, actors.Key{Kind: actors.KindServer, ID: server}, user)
	if err != nil {
		return nil, err
	}
	if len(a.GetMembers()) == 0 {
		return nil, ErrNotCached
	}
	return a.GetMembers()[0], nil
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
		a.Server = b.store.Server(key.ID)
		if id == "" {
			a.Members = b.store.Members(key.ID)
		} else if m := b.store.Member(key.ID, id); m != nil {
			a.Members = []*stoatpb.Member{m} // one member (Reader.Member)
		}
	case actors.KindChannel:
		a.Channel, a.Messages = b.store.Channel(key.ID), b.store.Messages(key.ID)
	case actors.KindUserDir:
		a.User = b.store.User(id)
	}
	return a
}

// lookup reads the cache on a handler's behalf: this node's, and in cluster mode, on a miss, the
// node of the entity's owner (Reader), within lookupWait and the handler's context — so that the
// context's accessors see a server or a user owned on another node (one round trip, ~0.3 ms).
type lookup struct {
	b   *Bot
	ctx context.Context
}

// lookupWait bounds one remote read of the accessors.
const lookupWait = 2 * time.Second

// remote runs read against the entity's owner's node, in cluster mode; nil otherwise or on error.
func remote[T any](l lookup, read func(context.Context, Reader) (*T, error)) *T {
	if l.b.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(l.ctx, lookupWait)
	defer cancel()
	v, _ := read(ctx, l.b.Read())
	return v
}

func (l lookup) server(id string) *stoatpb.Server {
	if s := l.b.store.Server(id); s != nil || id == "" {
		return s
	}
	return remote(l, func(ctx context.Context, r Reader) (*stoatpb.Server, error) { return r.Server(ctx, id) })
}

func (l lookup) channel(id string) *stoatpb.Channel {
	if c := l.b.store.Channel(id); c != nil || id == "" {
		return c
	}
	return remote(l, func(ctx context.Context, r Reader) (*stoatpb.Channel, error) { return r.Channel(ctx, id) })
}

func (l lookup) user(id string) *stoatpb.User {
	if u := l.b.store.User(id); u != nil || id == "" {
		return u
	}
	return remote(l, func(ctx context.Context, r Reader) (*stoatpb.User, error) { return r.User(ctx, id) })
}

func (l lookup) member(server, user string) *stoatpb.Member {
	if m := l.b.store.Member(server, user); m != nil || server == "" || user == "" {
		return m
	}
	return remote(l, func(ctx context.Context, r Reader) (*stoatpb.Member, error) { return r.Member(ctx, server, user) })
}
