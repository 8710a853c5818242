package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors for errors.Is: a *Error matches the ones that describe it.
var (
	// ErrNotFound matches a 404 and the API's NotFound and Unknown* error types.
	ErrNotFound = errors.New("rest: not found")
	// ErrForbidden matches a 403 and the permission error types (MissingPermission,
	// MissingUserPermission, NotElevated, NotPrivileged, NotOwner, CannotGiveMissingPermissions).
	ErrForbidden = errors.New("rest: forbidden")
	// ErrUnauthorized matches a 401 and the InvalidSession and NotAuthenticated error types: the
	// token was refused.
	ErrUnauthorized = errors.New("rest: unauthorized")
	// ErrRateLimited matches a 429 that was still answered after the retries allowed.
	ErrRateLimited = errors.New("rest: rate limited")
	// ErrServer matches a 5xx answer.
	ErrServer = errors.New("rest: server error")
)

// Error is a failed request: an error answer from the API (Status ≥ 400), or no usable answer
// (Status 0 or a 2xx that could not be decoded, with Err set). It never holds a token: Path has
// the webhook token replaced by "{token}", the bot or session token is only ever sent in a
// header, and a server that echoes a token back in its answer (in location, another field or
// anywhere in the body) has it replaced by "[redacted]" before the body is kept or parsed, so
// that no formatting of an Error (%v, %+v, %#v, slog) can show one.
type Error struct {
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Type is the API error's type, e.g. "NotFound", "MissingPermission", "FailedValidation"
	// ("" when the body was not an API error object).
	Type string
	// Method and Path are the request's; Path has its ids but no query string, and secrets
	// replaced by their placeholder. Route is the template, e.g. "/channels/{channel}/messages".
	Method, Path, Route string
	// Location is where in the server the error was raised, when it says.
	Location string
	// Permission is the missing permission of MissingPermission and MissingUserPermission.
	Permission string
	// Max is the limit of the TooMany* types and FileTooLarge.
	Max int
	// Detail is FailedValidation's error, FeatureDisabled's feature, or DatabaseError's
	// operation and collection.
	Detail string
	// Fields holds every key of the error object other than type and location.
	Fields map[string]json.RawMessage
	// Body is the response body (at most 4 KiB of it), secrets redacted.
	Body []byte
	// RetryAfter is how long a 429 asked to wait.
	RetryAfter time.Duration
	// Err is the cause when no usable answer came: a network error, ctx's error, or a decoding
	// error.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rest: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Status != 0 && (e.Err == nil || e.Status >= 400) {
		b.WriteString(strconv.Itoa(e.Status))
		if e.Type != "" {
			b.WriteByte(' ')
			b.WriteString(e.Type)
		}
		switch {
		case e.Permission != "":
			fmt.Fprintf(&b, " (%s)", e.Permission)
		case e.Detail != "":
			fmt.Fprintf(&b, " (%s)", e.Detail)
		case e.Max != 0:
			fmt.Fprintf(&b, " (max %d)", e.Max)
		}
		if e.Status == 429 && e.RetryAfter > 0 {
			fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
		}
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether the error is described by one of the package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		switch e.Type {
		case "NotFound", "UnknownUser", "UnknownChannel", "UnknownMessage", "UnknownServer", "UnknownAttachment":
			return true
		}
		return e.Status == 404
	case ErrForbidden:
		switch e.Type {
		case "MissingPermission", "MissingUserPermission", "NotElevated", "NotPrivileged", "NotOwner",
			"CannotGiveMissingPermissions":
			return true
		}
		return e.Status == 403
	case ErrUnauthorized:
		return e.Status == 401 || e.Type == "InvalidSession" || e.Type == "NotAuthenticated"
	case ErrRateLimited:
		return e.Status == 429
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports whether err is an answer that the target does not exist (see ErrNotFound).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsForbidden reports whether err is a permission refusal (see ErrForbidden).
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsRateLimited reports whether err is a 429 that outlasted the retries.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// MissingPermission returns the permission a MissingPermission or MissingUserPermission error
// names.
func MissingPermission(err error) (permission string, ok bool) {
	e, isErr := AsError(err)
	if !isErr || e.Permission == "" {
		return "", false
	}
	return e.Permission, true
}

// ErrorType returns the API error type of err ("" if err is not an API error).
func ErrorType(err error) string {
	if e, ok := AsError(err); ok {
		return e.Type
	}
	return ""
}

// maxErrorBody bounds Error.Body.
const maxErrorBody = 4 << 10

// parseBody fills e's API fields from an error response body, with the secrets the request
// carried (its token, a webhook's) replaced first: a server may echo them.
func (e *Error) parseBody(body []byte, secrets []string) {
	body = redactBytes(body, secrets)
	e.Body = body[:min(len(body), maxErrorBody):min(len(body), maxErrorBody)]
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return
	}
	str := func(k string) string {
		var s string
		if raw, ok := fields[k]; ok && json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	e.Type = str("type")
	e.Location = str("location")
	e.Permission = str("permission")
	if raw, ok := fields["max"]; ok {
		var n float64
		if json.Unmarshal(raw, &n) == nil {
			e.Max = int(n)
		}
	}
	switch {
	case str("error") != "":
		e.Detail = str("error")
	case str("feature") != "":
		e.Detail = str("feature")
	case str("operation") != "":
		e.Detail = str("operation") + " " + str("collection")
	}
	delete(fields, "type")
	delete(fields, "location")
	if len(fields) > 0 {
		e.Fields = fields
	}
}

// redacted wraps an error whose message might hold a secret (a transport error can quote the
// URL, and webhook URLs hold the webhook's token): its message has the secrets replaced, while
// errors.Is and errors.As still see the original. Every fmt verb prints the redacted message
// (Format), so that no verb reaches the original's fields.
type redacted struct {
	err error
	msg string
}

// redactErr wraps err with secrets replaced in its message.
func redactErr(err error, secrets []string) *redacted {
	return &redacted{err: err, msg: redact(err.Error(), secrets)}
}

func (r *redacted) Error() string { return r.msg }

func (r *redacted) Unwrap() error { return r.err }

// Format implements fmt.Formatter: whatever the verb, the redacted message.
func (r *redacted) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.msg) }

// redactBytes returns b with every secret replaced, as redact does; b itself when none is in it.
func redactBytes(b []byte, secrets []string) []byte {
	for _, sec := range secrets {
		if sec != "" && bytes.Contains(b, []byte(sec)) {
			b = bytes.ReplaceAll(b, []byte(sec), []byte("[redacted]"))
		}
	}
	return b
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
