package shardactor

import (
	"strconv"
	"sync/atomic"
	"time"
)

// State is where a shard is in its connection lifecycle.
type State int32

// The states of a shard, in lifecycle order.
const (
	// StateConnecting: the events URL is being discovered (Config.Discover), or the WebSocket
	// handshake is under way.
	StateConnecting State = iota
	// StateAuthenticating: the socket is up; waiting for Authenticated.
	StateAuthenticating
	// StateSyncing: authenticated; waiting for Ready.
	StateSyncing
	// StateReady: Ready arrived; events stream and the heartbeat runs. Send works only here.
	StateReady
	// StateBackoff: the connection was lost; waiting before the next attempt.
	StateBackoff
	// StateClosing: the shard is closing the connection, to replace it or to stop.
	StateClosing
	// StateStopped: the shard has ended; see Err.
	StateStopped
)

var stateNames = [...]string{"connecting", "authenticating", "syncing", "ready", "backoff", "closing", "stopped"}

// String returns the state's name, e.g. "ready".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Stats is a snapshot of a shard's counters. Counters only grow, across reconnects. The actor
// updates State concurrently with delivery: the Sink may see Ready a moment before Stats does.
type Stats struct {
	// Name is the shard's name.
	Name string
	// State is the lifecycle state at the time of the snapshot.
	State State
	// Connects counts WebSocket handshakes that succeeded.
	Connects uint64
	// Reconnects counts connection attempts after the first one.
	Reconnects uint64
	// Readies counts Ready events received (one per healthy connection).
	Readies uint64
	// Frames and Bytes count the WebSocket messages read and their payload bytes.
	Frames, Bytes uint64
	// Events counts the events handed to the Sink, synthetic ones included.
	Events uint64
	// DecodeErrors counts frames that could not be decoded (*bonfire.FrameError); the connection
	// kept going.
	DecodeErrors uint64
	// ItemsSkipped counts the items that frames lost to decoding while the rest of them applied
	// (bonfire.Decoder.Skipped): malformed elements of a Ready's lists (users, servers, channels,
	// members, emojis…), and such lists of the wrong type. Each is logged as a warning.
	ItemsSkipped uint64
	// RecordErrors counts the frames (connect markers included) that Config.Record failed to
	// take.
	RecordErrors uint64
	// PingsSent counts heartbeat Pings written.
	PingsSent uint64
	// PongsIgnored counts Pongs whose data did not match the outstanding Ping.
	PongsIgnored uint64
	// PongsMissed counts Pings left unanswered for PongTimeout; each one replaced the connection.
	PongsMissed uint64
	// Latency is the round trip of the last answered Ping; 0 before the first.
	Latency time.Duration
	// LastError says why the last connection ended (token redacted); empty if none ended yet.
	LastError string
}

// counters are the live values behind Stats, written by the actor and the reader goroutine.
type counters struct {
	state                                atomic.Int32
	connects, reconnects, readies        atomic.Uint64
	frames, bytes, events, decodeErrors  atomic.Uint64
	itemsSkipped, recordErrors           atomic.Uint64
	pingsSent, pongsIgnored, pongsMissed atomic.Uint64
	latency                              atomic.Int64
	lastError                            atomic.Pointer[string]
}

func (c *counters) snapshot(name string) Stats {
	st := Stats{
		Name:         name,
		State:        State(c.state.Load()),
		Connects:     c.connects.Load(),
		Reconnects:   c.reconnects.Load(),
		Readies:      c.readies.Load(),
		Frames:       c.frames.Load(),
		Bytes:        c.bytes.Load(),
		Events:       c.events.Load(),
		DecodeErrors: c.decodeErrors.Load(),
		ItemsSkipped: c.itemsSkipped.Load(),
		RecordErrors: c.recordErrors.Load(),
		PingsSent:    c.pingsSent.Load(),
		PongsIgnored: c.pongsIgnored.Load(),
		PongsMissed:  c.pongsMissed.Load(),
		Latency:      time.Duration(c.latency.Load()),
	}
	if p := c.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}
