#!/usr/bin/env bash
# Marian speed, side by side in one run: HF transformers, CTranslate2 fp32/int8, precis f32/int8,
# on a full-size random checkpoint with the opus-mt-fr-en shape (made once under target/marian-bench/),
# 200 FLORES devtest lines, beam 4, batch 32, 40 tokens per output, 2 threads.
# Needs the Marian reference environment: bash scripts/setup-reference.sh --marian
# Usage: bash scripts/bench-marian.sh [--lines N] [--threads N] [--skip hf,ct2-fp32,...] [--shape tc-big]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec .venv/bin/python scripts/ref/marian_bench.py "$@"
