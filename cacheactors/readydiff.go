package cacheactors

import (
	"slices"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// The re-Ready diff. A Ready replaces the sets of servers, channels and emojis it carries; after
// a reconnect, what it lacks was deleted or left while the connection was away, and the events
// that said so are lost. The router compares the sets it knew just before the Ready (its own
// indexes, kept in wire order: the previous Ready and the events since) with the Ready's, and
// the reader routes the difference as a ReadyDiffEvent right after the Ready: the shard owner's
// next event, so it runs after the Ready's handlers, through the pipeline like any event.

// knownSets are the router's entity sets as they were before a Ready replaced them.
type knownSets struct {
	servers  map[string]bool
	channels map[string]string
	emojis   map[string]string
}

// diffReady records the ReadyDiffEvent of Ready e, once r's indexes are the Ready's: nothing for
// a connection's first Ready, which has nothing to compare with. missed are the channels that
// missed messages, the most recently active first; the first len(r.gaps) of them are backfilled.
func (r *Router) diffReady(e *stoatpb.ReadyEvent, before knownSets, missed []*Gap) {
	r.diff = nil
	if !r.readied {
		r.readied = true
		return
	}
	d := &stoatpb.ReadyDiffEvent{Shard: e.GetShard()}
	d.ServersAdded, d.ServersRemoved = setDiff(before.servers, r.servers)
	d.ChannelsAdded, d.ChannelsRemoved = setDiff(before.channels, r.channels)
	d.EmojisAdded, d.EmojisRemoved = setDiff(before.emojis, r.emojiServer)
	for i, g := range missed {
		cg := &stoatpb.ChannelGap{Channel: g.Channel, After: g.After, Until: g.Until}
		if i < len(r.gaps) {
			d.Backfilled = append(d.Backfilled, cg)
		} else {
			d.NotBackfilled = append(d.NotBackfilled, cg)
		}
	}
	r.diff = d
}

// setDiff returns the ids of cur that old lacks and those of old that cur lacks, each sorted.
func setDiff[V any](old, cur map[string]V) (added, removed []string) {
	for id := range cur {
		if _, ok := old[id]; !ok {
			added = append(added, id)
		}
	}
	for id := range old {
		if _, ok := cur[id]; !ok {
			removed = append(removed, id)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// ReadyDiff returns the ReadyDiffEvent of the last event routed if it was a re-Ready (nil
// otherwise: another event, or a connection's first Ready), and forgets it. Route it right after
// the Ready, on the same connection, so that it follows the Ready at the shard owner.
func (r *Router) ReadyDiff() *stoatpb.ReadyDiffEvent {
	d := r.diff
	r.diff = nil
	return d
}
