#!/usr/bin/env bash
# contract-gate's demo on a fresh machine: installs the build packages rdkafka needs when they
# are missing (as scripts/test.sh does), then runs `contract-gate demo` (debug build: quicker
# to compile, and fast enough for the demo). Extra arguments go to the demo (--output json, --plain,
# --listen 127.0.0.1:8080). No Kafka, Redis or Docker needed.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CG_LOG_TAG="demo"

REPO=$(cg_repo_root)
cd "$REPO"

command -v cargo >/dev/null || cg_die "cargo not found: install Rust (rustup) first"
cg_ensure_packages \
    cc:build-essential c++:build-essential make:build-essential \
    pkg-config:pkg-config cmake:cmake :libcurl4-openssl-dev :libssl-dev
exec cargo run --quiet -p gate -- demo "$@"
