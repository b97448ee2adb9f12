#!/usr/bin/env bash
# Set up the Python reference side (scripts/ref/*.py): llama-cpp-python (CPU build), jinja2, numpy.
#
# Idempotent. Creates .venv at the repository root (git-ignored) with --system-site-packages, so
# a matching llama-cpp-python already installed system-wide is reused instead of rebuilt. The venv
# is accepted only if it imports llama_cpp at the pinned version, built without AMX: some virtual machines
# advertise AMX and llama.cpp's AMX kernels crash there, so the wheel is always built from source
# with the CMAKE_ARGS below (never a prebuilt or pip-cached wheel). AVX-512 is enabled only where
# /proc/cpuinfo shows it (other machines are AVX2-only, and an AVX-512 build dies there with
# "Illegal instruction"). The wheel is kept in a cache folder keyed by version and CMAKE_ARGS, so
# a second venv on the same machine does not rebuild.
#
# Usage: scripts/setup-reference.sh        then: .venv/bin/python scripts/ref/llamacpp_tokenize.py
#        scripts/setup-reference.sh --marian   the Marian side instead (scripts/ref/marian_*.py,
#        scripts/bench-marian.sh): transformers, torch, sentencepiece, ctranslate2 from PyPI at the
#        versions below (torch from PyPI is the CUDA build, about 3 GB; only its CPU path is used).
# Env:   PYTHON (default python3), LLAMA_CPP_PYTHON_VERSION (default below),
#        PRECIS_WHEEL_CACHE (default ~/.cache/precis/wheels)
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
# ggml's GGML_AVX512 compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw.
avx512=OFF
if flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)"; then
    avx512=ON
    for f in avx512f avx512cd avx512vl avx512dq avx512bw; do
        [[ " $flags " == *" $f "* ]] || avx512=OFF
    done
fi
# VNNI (the 512-bit AVX512_VNNI with AVX-512, the 256-bit AVX_VNNI) where the CPU has it: ggml's
# integer dot products and its tiled K-quant matmul take other code paths with them.
avx512_vnni=OFF
[[ $avx512 == ON && " ${flags:-} " == *" avx512_vnni "* ]] && avx512_vnni=ON
avx_vnni=OFF
[[ " ${flags:-} " == *" avx_vnni "* ]] && avx_vnni=ON
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=$avx512 -DGGML_AVX512_VNNI=$avx512_vnni -DGGML_AVX_VNNI=$avx_vnni -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
PYTHON="${PYTHON:-python3}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
py="$venv/bin/python"

if [[ "${1:-}" == "--marian" ]]; then
    MARIAN_PACKAGES=(transformers==5.23.0 torch==2.15.0 sentencepiece==0.2.3 ctranslate2==4.8.5 safetensors protobuf)
    [[ -x "$py" ]] || "$PYTHON" -m venv --system-site-packages "$venv"
    "$py" -m pip install "${MARIAN_PACKAGES[@]}"
    "$py" -c "import transformers, torch, sentencepiece, ctranslate2; print('transformers', transformers.__version__, 'torch', torch.__version__, 'ctranslate2', ctranslate2.__version__)"
    echo "Marian reference environment ready: $py" >&2
    exit 0
fi

check() {
    "$py" - "$LLAMA_CPP_PYTHON_VERSION" "$avx512" "$avx512_vnni" "$avx_vnni" <<'PY'
import sys
import jinja2, numpy, llama_cpp
want = sys.argv[1]
if llama_cpp.__version__ != want:
    sys.exit(f"llama_cpp {llama_cpp.__version__} != {want}")
info = llama_cpp.llama_print_system_info().decode()
if "AMX_INT8 = 1" in info or "AMX = 1" in info:
    sys.exit(f"llama_cpp was built with AMX: {info}")
# Built for this CPU: a build without the instruction sets it has runs other kernels.
for name, on in zip(("AVX512", "AVX512_VNNI", "AVX_VNNI"), sys.argv[2:5]):
    if on == "ON" and f"| {name} = 1 |" not in f"| {info}":
        sys.exit(f"llama_cpp was built without {name}, which this CPU has: {info}")
major, minor = (int(x) for x in jinja2.__version__.split(".")[:2])
if (major, minor) < (3, 1):
    sys.exit(f"jinja2 {jinja2.__version__} < 3.1")
print(f"llama_cpp {llama_cpp.__version__}, jinja2 {jinja2.__version__}, numpy {numpy.__version__}")
PY
}

if [[ ! -x "$py" ]]; then
    echo "creating $venv" >&2
    "$PYTHON" -m venv --system-site-packages "$venv"
fi

# check runs in a child python: a library built for missing CPU features dies there (SIGILL), not here.
if check 2>/dev/null; then
    echo "reference environment ready: $py" >&2
    exit 0
fi

key="$(printf '%s %s' "$LLAMA_CPP_PYTHON_VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
wheels="${PRECIS_WHEEL_CACHE:-$HOME/.cache/precis/wheels}/llama-cpp-python-$key"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source (10-20 minutes)" >&2
    echo "CMAKE_ARGS=$CMAKE_ARGS" >&2
    mkdir -p "$wheels"
    CMAKE_ARGS="$CMAKE_ARGS" "$py" -m pip wheel --no-deps --no-cache-dir \
        --no-binary llama-cpp-python -w "$wheels" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
fi
"$py" -m pip install --no-deps --force-reinstall "$wheels"/llama_cpp_python-*.whl
"$py" -m pip install "jinja2>=3.1" "numpy>=1.20" "diskcache>=5.6.1" "typing-extensions>=4.5"
check
echo "reference environment ready: $py" >&2
