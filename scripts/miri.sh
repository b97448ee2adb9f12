#!/usr/bin/env bash
# Miri (nightly) on the unit tests that reach precis's own unsafe code: the portable kernels
# and the quantized matrices' loading and products (`engine::quant`: raw block reads,
# `set_len` over vectors the parallel tasks filled, the tasks' writes through `SharedOut`), the
# Marian products and attention (`engine::marian::gemm`, `int8`, `attention`: tiles written
# through raw pointers), and the worker pool (`engine::pool`: the job handed to the workers
# through an `UnsafeCell`, with two workers, so that Miri checks it for data races).
#
# Miri detects no CPU features, so every kernel runs at the `portable` level (PRECIS_CPU says
# so too); the SIMD kernels are checked by the parity tests instead. The pool takes its worker
# count from RAYON_NUM_THREADS under Miri without starting rayon's pool (see `pool::shared`);
# its workers never exit, hence -Zmiri-ignore-leaks. Extra arguments go to the test harness
# (a name filter, --nocapture, ...). Needs `rustup +nightly component add miri rust-src`.
# About 12 minutes on one core (docs/fuzzing.md), after a first build of the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

export PRECIS_CPU=portable RAYON_NUM_THREADS=3
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-env-forward=PRECIS_CPU -Zmiri-env-forward=RAYON_NUM_THREADS -Zmiri-ignore-leaks"
cargo +nightly miri test --lib --locked -- \
    engine::quant:: engine::marian::gemm:: engine::marian::int8:: engine::marian::attention:: engine::pool:: "$@"
