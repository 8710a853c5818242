package ermine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
)

// Resync rebuilds the cache of each id, a cached server's or channel's, from the API: a channel
// from the channel and its newest messages (Config.Backfill.Messages of them, at most the cache's
// MessagesPerChannel), a server from the server with its roles, every member (with their users)
// and every emoji. Each owner holds the events it gets from the start of its rebuild and applies
// them after it, in order, without doubling anything the API's answer already holds; no handler
// runs for the rebuild itself. An entity the API no longer has (404) is dropped from the cache.
// Ids are rebuilt Config.Backfill.Concurrency at a time; Resync returns once every rebuild is
// handed to its owner (Drain waits until they are applied), with the errors of those that
// failed (an id not cached, a REST error): a failed rebuild leaves its owner as it was.
//
// The backfill after a reconnect uses it for channels that missed more messages than it fetches,
// and for the member lists a re-Ready leaves out (see BackfillConfig); cluster mode, for the
// owners of a node that died. A rebuild changes the cache, not the connection's view of which
// entities exist (its router's, used to route and to diff the next Ready): a channel the API no
// longer has is dropped from the cache at once, and from that view at the next Ready.
func (b *Bot) Resync(ctx context.Context, ids ...string) error {
	keys := make([]actors.Key, 0, len(ids))
	var errs []error
	for _, id := range ids {
		switch {
		case b.store.Server(id) != nil:
			keys = append(keys, actors.Key{Kind: actors.KindServer, ID: id})
		case b.store.Channel(id) != nil:
			keys = append(keys, actors.Key{Kind: actors.KindChannel, ID: id})
		default:
			errs = append(errs, fmt.Errorf("ermine: resync %s: not a cached server or channel", id))
		}
	}
	return errors.Join(append(errs, b.backfill.rebuildAll(ctx, keys))...)
}

// rebuildAll rebuilds the owners of keys, concurrency at a time, and joins their errors.
func (bf *backfiller) rebuildAll(ctx context.Context, keys []actors.Key) error {
	var next atomic.Int64
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for range min(bf.concurrency, len(keys)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(keys)); i = next.Add(1) - 1 {
				errs[i] = bf.rebuild(ctx, keys[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rebuild fetches the state of the owner of key (a server's or a channel's) and hands it over
// (cacheactors.Rebuilder). Its requests end when ctx does, or the bot closes.
func (bf *backfiller) rebuild(ctx context.Context, key actors.Key) error {
	bf.open.Add(1)
	return bf.fetchInto(ctx, bf.rebuilder.Begin(key, bf.b.dir.Deliver))
}

// rebuildMoved begins the rebuild of owners whose partition was placed on another node
// (cluster mode): their gates go to gate, before anything re-sent; the fetches run in the
// background. Only the connection's node rebuilds (it sent the events, and knows the API).
func (bf *backfiller) rebuildMoved(keys []actors.Key, gate func(actors.Key, any)) {
	for _, key := range keys {
		r, g := bf.rebuilder.Prepare(key, bf.b.dir.Deliver)
		gate(key, g)
		bf.open.Add(1)
		go func() { bf.logFailure(bf.fetchInto(bf.ctx, r)) }()
	}
}

// fetchInto fetches the state of r's owner and hands it over, then closes r and the open count
// its caller took.
func (bf *backfiller) fetchInto(ctx context.Context, r *cacheactors.Rebuild) (err error) {
	defer bf.open.Add(-1)
	key := r.Key()
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(bf.ctx, cancel)()
	defer cancel()
	defer r.Close()
	defer func() {
		if errors.Is(err, rest.ErrNotFound) {
			r.Gone()
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("ermine: resync %s: %w", key, err)
		} else {
			bf.rebuilt.Add(1)
		}
	}()
	api := bf.b.rest
	switch key.Kind {
	case actors.KindChannel:
		ch, err := api.FetchChannel(ctx, key.ID)
		if err != nil {
			return err
		}
		limit := min(bf.perChannel, 100, bf.b.cfg.Cache.MessageLimit())
		if limit <= 0 {
			r.Channel(ch, nil)
			return nil
		}
		page, err := api.FetchMessages(ctx, key.ID, rest.MessageQuery{Sort: rest.SortLatest, Limit: limit, IncludeUsers: true})
		if err != nil {
			return err
		}
		r.Channel(ch, withAuthors(page))
	case actors.KindServer:
		srv, err := api.FetchServer(ctx, key.ID)
		if err != nil {
			return err
		}
		members, err := api.FetchMembers(ctx, key.ID)
		if err != nil {
			return err
		}
		emojis, err := api.FetchServerEmojis(ctx, key.ID)
		if err != nil {
			return err
		}
		r.Server(srv, members.Members, members.Users, emojis)
	default:
		return fmt.Errorf("an owner of kind %s is not rebuilt", key.Kind)
	}
	return nil
}

// memberLists returns the servers of a Ready whose cached member table holds more than your own
// membership, the largest first, at most n: after a re-Ready (which lists only your own
// memberships) their member lists are fetched again.
func memberLists(count func(server string) int, servers []*stoatpb.Server, n int) []actors.Key {
	type sized struct {
		id      string
		members int
	}
	var big []sized
	for _, srv := range servers {
		if c := count(srv.GetId()); c > 1 {
			big = append(big, sized{srv.GetId(), c})
		}
	}
	slices.SortFunc(big, func(a, b sized) int { return cmp.Or(cmp.Compare(b.members, a.members), cmp.Compare(a.id, b.id)) })
	keys := make([]actors.Key, 0, min(n, len(big)))
	for _, s := range big[:min(n, len(big))] {
		keys = append(keys, actors.Key{Kind: actors.KindServer, ID: s.id})
	}
	return keys
}
