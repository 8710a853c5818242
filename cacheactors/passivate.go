package cacheactors

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/ermine-rt/ermine/proto/ownerpb"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Passivation hands an owner's state to its next activation as an ownerpb snapshot (one message
// per kind), never as the owner object: NewOwner rebuilds the owner from it. What the owner has
// published stays in the Store meanwhile; the rebuilt owner publishes its rebuilt tables (member
// table, message window) in their place, with the same content and the same records: each
// rebuilt member and message takes the kind of its last write (Store.LastWrite) from the entry
// it replaces (the snapshot does not carry them).

// Passivate hands the channel's state over.
func (o *channelOwner) Passivate() any {
	return &ownerpb.ChannelSnapshot{State: o.state(), Channel: o.channelNow(), Messages: o.window.snapshot(),
		Voice: o.voice, Webhooks: o.webhooks, ReadState: o.readState}
}

// Passivate hands the server's state over.
func (o *serverOwner) Passivate() any {
	snap := &ownerpb.ServerSnapshot{State: o.state(), Server: o.server, HasMembers: o.members != nil, Emojis: o.emojis}
	if o.members != nil {
		snap.Members = o.members.list()
	}
	return snap
}

// Passivate hands the partition's users over.
func (o *userDirOwner) Passivate() any {
	snap := &ownerpb.UserDirSnapshot{State: o.state(), Users: make([]*stoatpb.User, 0, len(o.users)), Epochs: make([]uint32, 0, len(o.users))}
	for _, id := range slices.Sorted(maps.Keys(o.users)) {
		snap.Users = append(snap.Users, o.users[id].user)
		snap.Epochs = append(snap.Epochs, o.users[id].epoch)
	}
	for _, id := range slices.Sorted(maps.Keys(o.rels)) {
		snap.Relations = append(snap.Relations, &stoatpb.Relationship{Id: id, Status: o.rels[id]})
	}
	return snap
}

// Passivate hands the connection owner's protocol state over (acks counted for a Ready not
// arrived yet, messages held).
func (o *shardOwner) Passivate() any { return &ownerpb.ShardSnapshot{State: o.state()} }

func (o *channelOwner) restore(snap *ownerpb.ChannelSnapshot) {
	o.ownerBase.restore(snap.State)
	o.channel, o.voice, o.webhooks, o.readState = snap.Channel, snap.Voice, snap.Webhooks, snap.ReadState
	if w := windowOf(o.key.ID, snap.Messages); w != nil {
		o.window = w
		o.slot = o.store().messages.get(o.key.ID)
		if o.slot == nil { // the owner publishes its window: the slot is only gone if it had none
			o.slot = &msgSlot{}
			o.store().messages.set(o.key.ID, o.slot)
		}
		w.recordsFrom(o.slot.load())
		o.slot.w.Store(w) // the same messages: the global message count does not change
	}
}

func (o *serverOwner) restore(snap *ownerpb.ServerSnapshot) {
	o.ownerBase.restore(snap.State)
	o.server, o.emojis = snap.Server, snap.Emojis
	if snap.HasMembers {
		shards := 1
		if len(snap.Members) > memberShardAt {
			shards = memberShards
		}
		published := o.store().members.get(o.key.ID)
		o.members = newMemberTable(o.store().members.seed, shards)
		for _, m := range snap.Members {
			var kind CacheContextKind
			if published != nil {
				kind, _ = published.lastWrite(m.GetId().GetUser())
			}
			o.members.set(m.GetId().GetUser(), m, kind)
		}
		o.store().members.set(o.key.ID, o.members)
	}
}

func (o *userDirOwner) restore(snap *ownerpb.UserDirSnapshot) {
	o.ownerBase.restore(snap.State)
	if len(snap.Users) > 0 {
		o.users = make(map[string]userEntry, len(snap.Users))
		for i, u := range snap.Users {
			o.users[u.GetId()] = userEntry{user: u, epoch: snap.Epochs[i]}
		}
	}
	for _, r := range snap.Relations {
		o.setRel(r.GetId(), r.GetStatus())
	}
}

// state is the owner's part of every snapshot, its lists in order (a snapshot of the same state is
// the same message). The hold's timer stops: the next activation starts its wait anew.
func (o *ownerBase) state() *ownerpb.OwnerState {
	st := &ownerpb.OwnerState{Me: o.me, Stream: o.seq.stream, Next: o.seq.next, Done: o.seq.done}
	for _, d := range o.seq.takeEarly() {
		st.Early = append(st.Early, d.(*ownerpb.Dispatch))
	}
	h := o.hold
	if h == nil {
		return st
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	for _, m := range h.msgs[h.head:] {
		st.Held = append(st.Held, ownerMessage(m))
	}
	for id, apply := range h.outcomes {
		st.Outcomes = append(st.Outcomes, &ownerpb.GateResolved{Router: id.router, Seq: id.seq, Apply: apply})
	}
	for router, seq := range h.lastSeq {
		st.LastGates = append(st.LastGates, &ownerpb.GateMark{Router: router, Seq: seq})
	}
	if h.recent != nil {
		for i := range recentGates {
			if r := h.recent[(h.next+i)%recentGates]; r.id != (seqID{}) {
				st.Recent = append(st.Recent, &ownerpb.GateResolved{Router: r.id.router, Seq: r.id.seq, Apply: r.apply})
			}
		}
	}
	for id, n := range h.acks {
		st.Acks = append(st.Acks, &ownerpb.BarrierCount{Router: id.router, Seq: id.seq, Acks: int64(n)})
	}
	slices.SortFunc(st.Outcomes, func(a, b *ownerpb.GateResolved) int { return cmpGate(a.Router, a.Seq, b.Router, b.Seq) })
	slices.SortFunc(st.LastGates, func(a, b *ownerpb.GateMark) int { return cmpGate(a.Router, a.Seq, b.Router, b.Seq) })
	slices.SortFunc(st.Acks, func(a, b *ownerpb.BarrierCount) int { return cmpGate(a.Router, a.Seq, b.Router, b.Seq) })
	return st
}

func cmpGate(r1, s1, r2, s2 uint64) int {
	if c := cmp.Compare(r1, r2); c != 0 {
		return c
	}
	return cmp.Compare(s1, s2)
}

// restore is state() undone.
func (o *ownerBase) restore(st *ownerpb.OwnerState) {
	o.me = st.Me
	o.seq = sequence{stream: st.Stream, next: st.Next, done: st.Done}
	for _, d := range st.Early {
		if o.seq.early == nil {
			o.seq.early = map[uint64]*ownerpb.Dispatch{}
		}
		o.seq.early[d.Seq] = d
	}
	if len(st.Held)+len(st.Outcomes)+len(st.LastGates)+len(st.Recent)+len(st.Acks) == 0 {
		return
	}
	h := o.holdState()
	for _, m := range st.Held {
		h.push(fromOwnerMessage(m))
	}
	for _, r := range st.Outcomes {
		if h.outcomes == nil {
			h.outcomes = map[seqID]bool{}
		}
		h.outcomes[seqID{router: r.Router, seq: r.Seq}] = r.Apply
	}
	for _, g := range st.LastGates {
		if h.lastSeq == nil {
			h.lastSeq = map[uint64]uint64{}
		}
		h.lastSeq[g.Router] = g.Seq
	}
	for _, r := range st.Recent {
		h.remember(seqID{router: r.Router, seq: r.Seq}, r.Apply)
	}
	for _, a := range st.Acks {
		if h.acks == nil {
			h.acks = map[seqID]int{}
		}
		h.acks[seqID{router: a.Router, seq: a.Seq}] = int(a.Acks)
	}
}

// snapshot is the window in its protobuf form.
func (w *window) snapshot() *ownerpb.MessageWindow {
	n := w.Len()
	if n == 0 {
		return nil
	}
	mw := &ownerpb.MessageWindow{Text: make([]string, n), Author: make([]string, n), Edited: make([]int64, n), Flags: make([]uint32, n),
		IdLen: make([]uint32, n), NonceLen: make([]uint32, n), Pinned: make([]bool, n), Replies: make([]uint32, n),
		Mentions: make([]uint32, n), RoleMentions: make([]uint32, n)}
	for i := range n {
		c := w.at(i)
		if m := c.full(); m != nil {
			mw.Text[i], mw.IdLen[i] = m.Id, uint32(len(m.Id))
			mw.FullAt = append(mw.FullAt, uint32(i))
			mw.Full = append(mw.Full, m)
			continue
		}
		m := c.message(w.channel)
		mw.Text[i] = m.Id + m.Nonce + m.Content + strings.Join(m.Replies, "") + strings.Join(m.Mentions, "") + strings.Join(m.RoleMentions, "")
		mw.Author[i], mw.Edited[i], mw.Flags[i] = m.Author, m.Edited, m.Flags
		mw.IdLen[i], mw.NonceLen[i], mw.Pinned[i] = uint32(len(m.Id)), uint32(len(m.Nonce)), m.Pinned
		mw.Replies[i], mw.Mentions[i], mw.RoleMentions[i] = uint32(len(m.Replies)), uint32(len(m.Mentions)), uint32(len(m.RoleMentions))
	}
	return mw
}

// windowOf is the window of a snapshot, or nil.
func windowOf(channel string, mw *ownerpb.MessageWindow) *window {
	msgs := make([]*cmsg, len(mw.GetText()))
	fullAt, j := mw.GetFullAt(), 0 // ascending, as snapshot writes them
	var records recordArena
	for i := range msgs {
		if j < len(fullAt) && int(fullAt[j]) == i {
			msgs[i] = compact(mw.Full[j], channel, true, &records, CacheUndefined)
			j++
			continue
		}
		msgs[i] = compact(columnMessage(channel, mw, i), channel, false, &records, CacheUndefined)
	}
	return newWindow(channel, msgs, 0)
}

// columnMessage is the i-th compact message of a snapshot.
func columnMessage(channel string, mw *ownerpb.MessageWindow, i int) *stoatpb.Message {
	text := mw.Text[i]
	n, nonce := int(mw.IdLen[i]), int(mw.NonceLen[i])
	refs := [3]int{int(mw.Replies[i]), int(mw.Mentions[i]), int(mw.RoleMentions[i])}
	end := len(text) - (refs[0]+refs[1]+refs[2])*refLen
	m := &stoatpb.Message{Id: text[:n], Nonce: text[n : n+nonce], Content: text[n+nonce : end], Channel: channel,
		Author: mw.Author[i], Edited: mw.Edited[i], Flags: mw.Flags[i], Pinned: mw.Pinned[i]}
	lists := [3]*[]string{&m.Replies, &m.Mentions, &m.RoleMentions}
	for l, count := range refs {
		for range count {
			*lists[l] = append(*lists[l], text[end:end+refLen])
			end += refLen
		}
	}
	return m
}

// recordsFrom gives w's messages, not published yet, the kinds of the same messages in old (the
// window w is rebuilt from).
func (w *window) recordsFrom(old *window) {
	if old.Len() != w.Len() {
		return
	}
	for i := range w.msgs {
		if c, o := w.at(i), old.at(i); sameID(c, o) {
			c.kind = o.kind
		}
	}
}

// ownerMessage wraps a message of the protocol (one an owner holds) in an OwnerMessage.
func ownerMessage(msg any) *ownerpb.OwnerMessage {
	om, err := ownerpb.Wrap(msg.(proto.Message))
	if err != nil {
		panic(err) // an owner holds only the protocol's messages
	}
	return om
}

// fromOwnerMessage is the message an OwnerMessage wraps.
func fromOwnerMessage(om *ownerpb.OwnerMessage) any { return om.Unwrap() }
