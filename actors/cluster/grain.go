package cluster

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
	pacluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/proto/clusterpb"
	"github.com/ermine-rt/ermine/proto/ownerpb"
)

// grain is one partition of the owners (or the connection) on the node it is placed on: it
// hands the batches of every link to the owners of its node, each seq of an epoch once, and
// acknowledges them.
type grain struct {
	d        *Directory
	conn     bool
	identity string
	// applied is, per link, the epoch and the last seq handed over.
	applied map[string]position
	// keys are the owners it handed messages to: when it stops while its node goes on (the
	// partition was placed elsewhere), they drop their state, which is no longer theirs.
	keys map[actors.Key]struct{}
}

type position struct{ epoch, seq uint64 }

var dropAll = &ownerpb.Drop{}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pacluster.ClusterInit:
		g.identity = m.Identity.Identity
		g.applied = map[string]position{}
		g.keys = map[actors.Key]struct{}{}
		g.d.stats.activations.Add(1)
		if g.conn {
			g.startConnection()
		}
	case *clusterpb.Batch:
		g.take(ctx, m)
	case *clusterpb.KeysQuery:
		ctx.Respond(g.describe())
	case *clusterpb.ReadRequest:
		a := &clusterpb.ReadAnswer{}
		if h := g.d.hooks.Read; h != nil {
			a = h(actors.Key{Kind: actors.Kind(m.GetKey().GetKind()), ID: m.GetKey().GetId()}, m.Id)
		}
		ctx.Respond(a)
	case *clusterpb.LimitWait:
		if h := g.d.hooks.Limit; h != nil {
			// Waiting may take seconds: the grain goes on meanwhile.
			sender := ctx.Sender()
			go func() {
				id, err := h(g.d.ctx, m)
				grant := &clusterpb.LimitGrant{Permit: id}
				if err != nil {
					grant.Error = err.Error()
				}
				g.d.sys.Root.Send(sender, grant)
			}()
		}
	case *clusterpb.LimitDone:
		if h := g.d.hooks.LimitDone; h != nil {
			h(m)
		}
	case *clusterpb.Touch:
		ctx.Respond(&clusterpb.TouchAnswer{Node: g.d.self})
	case *actor.Stopping:
		if g.conn {
			if cs := g.d.conn.Swap(nil); cs != nil {
				cs.stop()
			}
		}
		if !g.d.closing() {
			for k := range g.keys {
				g.d.local.Deliver(k, dropAll)
			}
		}
	}
}

// take hands a batch's envelopes it has not handed over yet to the owners, then acknowledges.
func (g *grain) take(ctx actor.Context, b *clusterpb.Batch) {
	at := g.applied[b.Link]
	switch {
	case b.Epoch < at.epoch:
		return // an old epoch's batch, overtaken by a move
	case b.Epoch > at.epoch:
		at = position{epoch: b.Epoch}
	}
	for i, env := range b.Envelopes {
		seq := b.First + uint64(i)
		if seq <= at.seq {
			continue
		}
		at.seq = seq
		key := actors.Key{Kind: actors.Kind(env.GetKey().GetKind()), ID: env.GetKey().GetId()}
		msg := env.GetMessage().Unwrap()
		if msg == nil {
			continue
		}
		if p, ok := msg.(*ownerpb.Processed); ok && g.conn {
			g.d.processed(actors.Key{Kind: actors.Kind(p.GetOwner().GetKind()), ID: p.GetOwner().GetId()}, p.Stream, p.Seq)
			continue
		}
		g.keys[key] = struct{}{}
		g.d.local.Deliver(key, msg)
		g.d.stats.remoteApplied.Add(1)
	}
	g.applied[b.Link] = at
	ctx.Send(actor.NewPID(b.Reply, nodeActor), &clusterpb.BatchAck{Link: b.Link, Epoch: at.epoch, Seq: at.seq})
}

// describe says what the partition's owners hold.
func (g *grain) describe() *clusterpb.KeysAnswer {
	a := &clusterpb.KeysAnswer{}
	for k := range g.keys {
		info := &clusterpb.KeyInfo{Key: &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(k.Kind), Id: k.ID}}
		if h := g.d.hooks.Describe; h != nil {
			last, members, ok := h(k)
			if !ok {
				continue // its entity is gone
			}
			info.LastMessageId, info.Members = last, int64(members)
		}
		a.Keys = append(a.Keys, info)
	}
	return a
}

// startConnection runs the connection on this node while the grain is active here.
func (g *grain) startConnection() {
	d := g.d
	if d.hooks.Connect == nil || d.ctx == nil {
		return
	}
	ctx, stop := context.WithCancel(d.ctx)
	cs := &connState{stop: stop, done: make(chan struct{})}
	if old := d.conn.Swap(cs); old != nil {
		old.stop()
	}
	go func() {
		defer close(cs.done)
		d.hooks.Connect(ctx, g.identity)
	}()
}
