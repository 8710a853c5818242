package actors

// holding reports whether the owner holds messages back (Holder): it is not idle then.
func (o *ownerActor) holding() bool {
	h, ok := o.owner.(Holder)
	return ok && h.Holding()
}

// releaseHeld discards what a stopping owner holds (Holder) unless the directory hands it on
// with the owner's state to its next activation: when the directory is closing, or keeps no
// state across passivation, nothing would ever handle it.
func (o *ownerActor) releaseHeld() {
	h, ok := o.owner.(Holder)
	if !ok {
		return
	}
	if _, keeps := o.owner.(Passivator); keeps && o.dir.keepState && !o.dir.closed.Load() {
		return
	}
	var held []any
	func() {
		defer func() {
			if r := recover(); r != nil {
				o.crashed(r)
			}
		}()
		held = h.Held()
	}()
	for _, m := range held {
		o.discard(m)
	}
}
