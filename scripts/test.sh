#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. tools the tests need (protoc, etcd), and a check that generated code is fresh;
#   2. gofmt, go vet, staticcheck (pinned in go.mod as a tool) and go test -race over every package —
#      the 3-process cluster tests (cmd/ermine TestCluster*) on their own afterwards, so that
#      their node processes do not share the 2 cores with every other package's tests;
#   3. the protoactor cluster probes once more without -race: with two members in one process
#      protoactor-go's own data races fail -race, so those probes skip under it
#      (internal/clustertest, skipUnderRace);
#   4. each fuzz target for a short, bounded time (FUZZTIME, default 30s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
bash scripts/check-generated.sh
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "not gofmt-formatted (run gofmt -w):" $unformatted >&2
	exit 1
fi
go vet ./...
go tool staticcheck ./...
go test -race -count=1 -skip '^TestCluster' ./...
go test -race -count=1 -run '^TestCluster' ./cmd/ermine
go test -count=1 ./internal/clustertest
fuzztime=${FUZZTIME:-30s}
for target in FuzzDecodeJSON FuzzDecodeMsgpack; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" ./proto/bonfire
done
