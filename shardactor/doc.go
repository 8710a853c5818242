// Package shardactor runs one Bonfire connection ("shard") to Stoat as a protoactor-go actor: it
// dials, authenticates, heartbeats, reconnects with backoff, and hands every decoded event, in
// wire order, to a Sink.
//
// # Shape
//
// The actor owns the connection's lifecycle as a state machine driven by messages: the result of a
// dial, the end of a read loop, ping ticks, pong and handshake deadlines, client frames to write,
// and stop. Reading and decoding run on one reader goroutine per connection, outside the actor's
// mailbox, so a multi-megabyte Ready never stalls the heartbeat; every write (Ping, typing,
// Subscribe) goes through the actor.
//
// Connection attempts run one after another: a new one starts only when the previous reader
// goroutine has returned. Events therefore reach the Sink in one ordered stream per shard, across
// reconnects: BeforeConnect, AfterConnect, Authenticated, Ready, live events…, and again
// BeforeConnect after a drop. The Sink may block (that is how the runtime applies backpressure);
// it is handed a context that ends when the shard stops.
//
// # Lifecycle
//
//	connecting ─dial─▶ authenticating ─Authenticated─▶ syncing ─Ready─▶ ready
//	     ▲                      │                          │              │
//	     └──── backoff ◀── closing ◀── handshake timeout, dropped socket, close frame,
//	                                   missed Pong, failed write, 5xx, network error
//
// Reconnects are paced by
// Backoff (exponential, full jitter), whose exponent resets once a connection has stayed Ready for
// Backoff.ResetAfter. Without a URL, each attempt starts by discovering it (Config.Discover); a
// failed discovery is retried like a failed dial.
//
// A shard ends (Done is closed, Err says why) on:
//   - the context given to Spawn ending, or Stop: the socket is closed with StatusNormalClosure and
//     Err is ctx.Err() or ErrStopped;
//   - Stoat refusing the token: Error{InvalidSession} (or OnboardingNotFinished), or a handshake
//     answered 401/403: *AuthError, never retried;
//   - a Logout event, delivered to the Sink first: ErrLoggedOut, never retried;
//   - a handshake answered with another client error (4xx other than 408/425/429, which are
//     retried): *HandshakeError, because retrying a wrong URL does not fix it;
//   - the Sink returning an error while the shard is running: that error, wrapped.
//
// There is no resume in Bonfire: every reconnect brings a fresh Ready, and the events of the gap
// are lost (BONFIRE.md §1.11); consumers diff the new Ready against their state.
//
// # Heartbeat
//
// Once Ready has arrived, the shard sends Ping{data: n} every PingInterval, n increasing across
// connections, with at most one Ping outstanding. A Pong with other data is ignored and counted;
// no matching Pong within PongTimeout replaces the connection. The deadlines on the server (first
// frame, Ready, Pong) do not count the time the reader spends blocked in the Sink, so
// backpressure never passes for a dead connection. Stats.Latency is the last Ping→Pong round trip.
//
// # Recording
//
// With Config.Record set, the reader writes every frame it reads, before decoding it, in the
// format `ermine replay` reads, after a connect marker (ConnectMarker) for each connection; a
// replay turns the marker into that connection's BeforeConnect and AfterConnect. What the shard
// sends is not recorded. A failed write is counted and logged, and never ends the connection.
//
// # Secrets
//
// The token travels in the events URL. It never appears in a log line, an error or Stats: URLs are
// shown with token=REDACTED, and errors from the WebSocket dial, which embed the URL, are rewritten.
package shardactor
