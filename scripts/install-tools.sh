#!/usr/bin/env bash
# Installs the tools ermine's code generation and tests need that Go cannot fetch itself:
# protoc (Debian's protobuf-compiler, 3.21.x). Idempotent; needs root for apt-get.
set -euo pipefail
if ! command -v protoc >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq protobuf-compiler >/dev/null
fi
protoc --version
