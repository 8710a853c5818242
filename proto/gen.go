// Package proto holds ermine's protobuf sources (stoatpb, wireopt) and the Bonfire codec
// (bonfire). Run `go generate ./proto` to regenerate the Go code after editing a .proto file.
package proto

//go:generate bash generate.sh
