package ownerpb

// Holding reports whether the state holds messages back: behind a wait, or ahead of a gap.
func (x *OwnerState) Holding() bool { return len(x.GetHeld()) > 0 || len(x.GetEarly()) > 0 }

// Holding reports whether the passivated owner holds messages back (see OwnerState.Holding).
func (x *ChannelSnapshot) Holding() bool { return x.GetState().Holding() }

// Holding reports whether the passivated owner holds messages back (see OwnerState.Holding).
func (x *ServerSnapshot) Holding() bool { return x.GetState().Holding() }

// Holding reports whether the passivated owner holds messages back (see OwnerState.Holding).
func (x *UserDirSnapshot) Holding() bool { return x.GetState().Holding() }

// Holding reports whether the passivated owner holds messages back (see OwnerState.Holding).
func (x *ShardSnapshot) Holding() bool { return x.GetState().Holding() }
