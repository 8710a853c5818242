// Package rest is a typed client of the Stoat (formerly Revolt) REST API for bots, with Stoat's
// rate limits handled: requests wait for their bucket instead of earning 429s, a 429 that comes
// anyway is waited out and retried, and requests that are safe to repeat are retried after a
// 5xx or a network error, with exponential back-off and jitter.
//
//	lim := rest.NewLimiter()                        // one per runtime, shared by every Client
//	c := rest.New(token, rest.WithLimiter(lim))     // a bot token; WithSessionToken for a user's
//	msg, err := c.SendMessage(ctx, channel, rest.SendMessage{
//		Content: "pong",
//		Replies: []rest.Reply{{ID: replyTo, Mention: false}},
//	})
//	if rest.IsNotFound(err) { … }
//
// Answers are the protobuf model the rest of ermine uses (stoatpb), decoded with its codec;
// request bodies are plain structs whose nil fields are left out (Go 1.26's new("x") makes the
// pointers). A failed call returns an *Error: the API's error type and fields, the method and
// the path (ids in, secrets out), and errors.Is works with ErrNotFound, ErrForbidden and the
// other sentinels. Tokens never appear in errors or logs.
//
// # Rate limits
//
// Stoat counts requests in fixed 10-second windows per bucket, and names the bucket of every
// answer in X-RateLimit-Bucket, with X-RateLimit-Limit, -Remaining and -Reset-After
// (milliseconds). A Limiter maps each request to its bucket before it is sent; see LocalLimiter
// for how buckets are learned. The Limiter interface is small so that a cluster-wide limiter can
// replace the in-process one.
package rest
