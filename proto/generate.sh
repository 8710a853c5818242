#!/usr/bin/env bash
# Regenerates the protobuf Go code, the Bonfire codec and the owner protocol from the .proto sources.
# Needs protoc (Debian: apt-get install protobuf-compiler; pinned by scripts/install-tools.sh).
# protoc-gen-go is pinned by go.mod's tool directive; protoc-gen-ermine is built from this tree.
# Usage: go generate ./proto   (or: bash proto/generate.sh)
set -euo pipefail
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
protoc -I . --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --go_out=. --go_opt=module=github.com/ermine-rt/ermine/proto \
  wireopt/options.proto
# protoc-gen-ermine reads the options through wireopt: build it once they are regenerated.
go build -o "$bin/protoc-gen-ermine" ./internal/protoc-gen-ermine
protoc -I . --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-ermine="$bin/protoc-gen-ermine" \
  --go_out=. --go_opt=module=github.com/ermine-rt/ermine/proto \
  --ermine_out=. \
  stoatpb/model.proto stoatpb/events.proto stoatpb/client.proto
gofmt -w bonfire/wire.ermine.go stoatpb/events.ermine.go
# The owner protocol lists every event: its generator reads them from the stoatpb just built.
go run ./internal/gen-ownerpb
protoc -I . --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --go_out=. --go_opt=module=github.com/ermine-rt/ermine/proto \
  ownerpb/owner.proto
protoc -I . --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --go_out=. --go_opt=module=github.com/ermine-rt/ermine/proto \
  clusterpb/cluster.proto
# The root package's aliases of every stoatpb type (the one import a bot needs).
go run ./internal/gen-aliases
gofmt -w ../stoat.ermine.go
