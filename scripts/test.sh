#!/usr/bin/env bash
# The full test suite, from a fresh clone: builds precis, fetches the three models the tests
# run on (once; sha256-verified, into $PRECIS_MODELS_DIR or models/), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
"${CARGO_TARGET_DIR:-target}/release/precis" fetch-models --all
cargo test --release --locked "$@"
