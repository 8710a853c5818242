// Package stoattest is a fake Stoat server for tests, demos and benchmarks: like
// net/http/httptest, but for Stoat bots. A real HTTP and WebSocket server on loopback speaks the
// real protocol — the REST API a bot uses, with the real rate limits, and the Bonfire events
// socket in JSON or msgpack — backed by a World that REST calls change, emitting the same events
// the real server emits. Controls let a test push any event or malformed frame, stall the
// connections, delay or drop Pongs, cut or close connections, refuse WebSocket upgrades with an
// HTTP status, log the bot out, reject its token, restart with another world, and wait on what
// the clients did (close codes they sent included). Messages posted while no client is connected
// stay in the history, and the next Ready's last_message_id names them, as on the real server.
//
//	srv := stoattest.NewServer(t)                   // SmallWorld(1), closed when the test ends
//	bot := mybot.New(srv.URL, srv.Token())          // the API root advertises srv.EventsURL()
//	srv.WaitAuthenticated(ctx, 1)
//	srv.Push(&stoatpb.MessageCreateEvent{Message: …})
//
// Behaviour follows the real server (stoatchat/stoatchat, see shared/protocol/BONFIRE.md):
// Authenticated then Ready, Pings answered only after Ready, an invalid token answered with
// Error{InvalidSession} and a dropped socket without a close frame, undecodable client frames
// ignored silently. Every push goes to every authenticated connection, in its own format, through
// a bounded per-connection queue: one slow client never delays another, and a client that falls
// too far behind is dropped.
package stoattest
