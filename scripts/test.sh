#!/usr/bin/env bash
# The full test suite, from a fresh clone: builds precis, fetches the three models the tests
# run on (once; sha256-verified, into $PRECIS_MODELS_DIR or models/), then runs every test,
# then the parity tests (llama.cpp's logits, Marian against HF) a second time on the portable
# kernels (PRECIS_CPU=portable), the path of every CPU without AVX2 (the engine's batching tests
# too with PRECIS_TEST_PORTABLE=all; they take several minutes there). PRECIS_TEST_PORTABLE=0
# skips that second pass. On a CPU with AVX-512 the first pass runs the `avx512` level (against
# llama.cpp's AVX-512 outputs), and llama.cpp's parity tests run once more at `avx2` (against
# its AVX2 outputs), so that both orders are checked on one machine.
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
# The detected level is avx512 where the CPU has these (src/engine/cpu.rs).
flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true) "
avx512=1
for f in avx2 fma f16c avx512f avx512cd avx512vl avx512dq avx512bw; do
    [[ "$flags" == *" $f "* ]] || avx512=0
done
if [[ $avx512 == 1 && -z "${PRECIS_CPU:-}" ]]; then
    PRECIS_CPU=avx2 cargo test --release --locked --test parity --test arch_parity --test quant_parity "$@"
fi
