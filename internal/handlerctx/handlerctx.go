// Package handlerctx lets a package that waits (the REST client) detach the handler whose context
// it was given — the handler's own or one derived from it — without importing the pipeline: a
// handler's context answers Value(Key{}) with itself.
package handlerctx

import "context"

// Key is the context key under which a handler's context is found.
type Key struct{}

// Detach ends the synchronous phase of the handler whose context ctx is, or derives from, so
// that its owner goes on while the caller waits. Outside a handler it does nothing.
func Detach(ctx context.Context) {
	if d, ok := ctx.Value(Key{}).(interface{ Detach() }); ok {
		d.Detach()
	}
}
