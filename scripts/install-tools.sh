#!/usr/bin/env bash
# Installs the tools ermine's code generation and tests need that Go cannot fetch itself:
#   protoc (Debian's protobuf-compiler, 3.21.x) for code generation;
#   etcd (Debian's etcd-server, 3.4.x) for the cluster tests (internal/clustertest.StartEtcd).
# Idempotent and quiet: apt-get runs only when a binary is missing; needs root for apt-get.
set -euo pipefail
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
if ((${#missing[@]} > 0)); then
  export DEBIAN_FRONTEND=noninteractive
  # apt's notices (debconf without apt-utils…) are noise unless something failed.
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
fi
protoc --version
etcd --version | sed -n 1p
