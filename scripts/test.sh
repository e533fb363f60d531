#!/usr/bin/env bash
# THE test command (see README): installs the real test peers, makes sure
# PostgreSQL answers, then runs every test of the workspace.
#
#   scripts/test.sh                 # everything, all provider kinds
#   SHARDGATE_PROVIDER_KINDS=memory,s3 scripts/test.sh
#   scripts/test.sh -p shardgate-tests   # args replace `--workspace` (and skip doctests)
#
# Tests that need peers FAIL (never skip) when the tools are missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export SHARDGATE_TOOLS="${SHARDGATE_TOOLS:-$REPO/.tools}"
export SHARDGATE_PROVIDER_KINDS="${SHARDGATE_PROVIDER_KINDS:-memory,fs,s3,gcs,b2,azure}"
# Where the PostgreSQL index backend's tests connect (trust auth, db `test`).
export SHARDGATE_TEST_POSTGRES_URL="${SHARDGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:${PGPORT:-5432}/test}"

section() { printf '\n==== %s ====\n' "$*"; }
run_timed() {
    local label="$1" start=$SECONDS
    shift
    section "$label"
    "$@"
    printf -- '---- %s: %d s\n' "$label" "$((SECONDS - start))"
}

total_start=$SECONDS
run_timed "install test peers" scripts/install-test-peers.sh
run_timed "PostgreSQL" scripts/ensure-postgres.sh
# The download page's crypto, in Node against fixed vectors (under a second).
run_timed "download page crypto (node --test)" node --test tests/browser/crypto.test.mjs

printf '\nprovider kinds: %s\ntools: %s\n' "$SHARDGATE_PROVIDER_KINDS" "$SHARDGATE_TOOLS"
if [ "$#" -eq 0 ]; then
    scope=(--workspace)
else
    scope=("$@")
fi
# The end-to-end tests start the real `shardgate` binary, found through
# SHARDGATE_BIN so that no test process runs cargo. A whole-workspace run
# builds it anyway (crates/cli's integration tests need it) before any test
# starts: building it separately first, with the production feature set,
# compiled the whole dependency graph a second time (about 5 minutes of CI).
# A targeted run may not build it, so it builds the binary first.
if [ -z "${SHARDGATE_BIN:-}" ]; then
    if [ "$#" -ne 0 ]; then
        run_timed "build the shardgate binary" cargo build -p shardgate-cli --bin shardgate
    fi
    export SHARDGATE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/shardgate"
fi

if command -v cargo-nextest >/dev/null 2>&1; then
    run_timed "tests (cargo nextest)" cargo nextest run --no-fail-fast "${scope[@]}"
    # nextest does not run doctests; a targeted run (args given) skips them.
    if [ "$#" -eq 0 ]; then
        run_timed "doctests" cargo test --workspace --doc
    fi
else
    run_timed "tests (cargo test)" cargo test --no-fail-fast "${scope[@]}"
fi
printf '\n==== all tests passed in %d s ====\n' "$((SECONDS - total_start))"
