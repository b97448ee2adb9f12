#!/usr/bin/env bash
# The full test suite, from a fresh clone: builds precis, fetches the three models the tests
# run on (once; sha256-verified, into $PRECIS_MODELS_DIR or models/), then runs every test,
# then the parity tests (llama.cpp's logits, Marian against HF) a second time on the portable
# kernels (PRECIS_CPU=portable), the path of every CPU without AVX2 (the engine's batching tests
# too with PRECIS_TEST_PORTABLE=all; they take several minutes there). PRECIS_TEST_PORTABLE=0
# skips that second pass.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
"${CARGO_TARGET_DIR:-target}/release/precis" fetch-models --all
cargo test --release --locked "$@"
case "${PRECIS_TEST_PORTABLE:-1}" in
    0) ;;
    all) PRECIS_CPU=portable cargo test --release --locked \
        --test parity --test arch_parity --test quant_parity --test engine --test marian "$@" ;;
    *) PRECIS_CPU=portable cargo test --release --locked \
        --test parity --test arch_parity --test quant_parity --test marian "$@" ;;
esac
