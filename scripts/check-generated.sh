#!/usr/bin/env bash
# Fails when the committed generated code differs from what `go generate ./proto` produces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh >/dev/null
go generate ./proto
generated=(':(glob)proto/**/*.pb.go' ':(glob)proto/**/*.ermine.go' 'proto/ownerpb/owner.proto' 'stoat.ermine.go')
if ! git diff --exit-code --stat -- "${generated[@]}"; then
  echo "generated code is stale: run 'go generate ./proto' and commit the result" >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- "${generated[@]}")" ]; then
  echo "go generate ./proto created files that are not committed:" >&2
  git status --porcelain -- "${generated[@]}" >&2
  exit 1
fi
echo "generated code is up to date"
