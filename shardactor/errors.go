package shardactor

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

var (
	// ErrStopped is the error of a shard ended by Stop.
	ErrStopped = errors.New("shardactor: stopped")
	// ErrLoggedOut is the error of a shard ended by a Logout event: the session was invalidated
	// or the bot token reset. The shard does not reconnect.
	ErrLoggedOut = errors.New("shardactor: logged out by the server")
	// ErrNotReady is returned by Send while the shard has no Ready connection.
	ErrNotReady = errors.New("shardactor: shard is not ready")
	// ErrReservedFrame is returned by Send for frames the shard owns: Ping, Pong and Authenticate.
	ErrReservedFrame = errors.New("shardactor: the shard sends this frame itself")
)

// AuthError reports that Stoat refused the token. The shard ends and does not retry: a new token
// is needed.
type AuthError struct {
	// Reason is the error kind of the server's Error event ("InvalidSession",
	// "OnboardingNotFinished"); empty when the handshake was refused.
	Reason string
	// StatusCode is the HTTP status of a refused handshake (401 or 403); 0 for an Error event.
	StatusCode int
}

func (e *AuthError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("shardactor: authentication failed: handshake answered %d %s",
			e.StatusCode, http.StatusText(e.StatusCode))
	}
	return "shardactor: authentication failed: " + e.Reason
}

// HandshakeError reports a WebSocket handshake answered with an HTTP status other than 101.
// Statuses 5xx, 408, 425 and 429 are retried with backoff; other 4xx end the shard (401 and 403
// as *AuthError), since a wrong URL or a refused client does not heal by retrying.
type HandshakeError struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// URL is the events URL with the token redacted.
	URL string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("shardactor: WebSocket handshake with %s answered %d %s",
		e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// retryable reports whether a handshake refused with this status may succeed later.
func (e *HandshakeError) retryable() bool {
	switch c := e.StatusCode; {
	case c >= 500, c < 400, c == http.StatusRequestTimeout, c == http.StatusTooEarly,
		c == http.StatusTooManyRequests:
		return true
	}
	return false
}

// sinkError marks an error returned by the Sink: it ends the shard.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return "shardactor: sink: " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// fatal reports whether err ends the shard rather than causing a reconnect.
func fatal(err error) bool {
	var ae *AuthError
	var he *HandshakeError
	var se *sinkError
	switch {
	case errors.As(err, &ae), errors.Is(err, ErrLoggedOut), errors.As(err, &se):
		return true
	case errors.As(err, &he):
		return !he.retryable()
	}
	return false
}

// scrub returns err with every form of the secrets removed from its text and from its chain.
//
// Errors from the WebSocket dial embed the URL through net/http's *url.Error, so the chain is
// rebuilt around the *url.Error's cause, with the URL redacted; errors.Is and errors.As still see
// the cause (context.DeadlineExceeded, *net.OpError…). Should any text still contain a secret, the
// error is flattened to its scrubbed text.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	if !containsAny(err.Error(), secrets) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && !containsAny(fmt.Sprint(ue.Err), secrets) {
		prefix, suffix, _ := strings.Cut(err.Error(), ue.Error())
		msg := fmt.Sprintf("%s%s %q: %v%s", prefix, ue.Op, redactQuery(ue.URL, secrets), ue.Err, suffix)
		return &scrubbedError{msg: replaceAll(msg, secrets), cause: ue.Err}
	}
	return &scrubbedError{msg: replaceAll(err.Error(), secrets)}
}

type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

func containsAny(s string, secrets []string) bool {
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func replaceAll(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, redacted)
		}
	}
	return s
}

// redactQuery returns raw (a URL) with its token parameter redacted, or raw with the secrets
// replaced when it does not parse.
func redactQuery(raw string, secrets []string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return replaceAll(raw, secrets)
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", redacted)
		u.RawQuery = q.Encode()
	}
	return replaceAll(u.Redacted(), secrets)
}
