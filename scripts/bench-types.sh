#!/usr/bin/env bash
# precis vs llama.cpp (llama-cpp-python) per weight type, in one run: single-stream prefill and
# greedy decode tok/s (best of 3 after a warm-up, the same raw prompt for both) and precis's peak
# memory against the file's size, for
#   - Qwen2.5-Coder 1.5B as fetched (Q4_K_M: Q4_K, Q6_K) and re-quantized by llama.cpp's quantizer
#     (scripts/ref/requantize.py) to Q5_K_M (Q5_K, Q6_K), Q4_0, Q6_K and Q8_0;
#   - Qwen2.5-Coder 0.5B re-quantized to Q5_K_M (mostly Q5_1 and Q8_0: its width 896 is not a
#     multiple of 256) and Q4_1.
# (Gemma 3 270M is not here: bench-llm loads models as chat models, and it has no template.)
# The re-quantized files are made once into $OUT_DIR (default target/bench-types).
# Usage: scripts/bench-types.sh [THREADS] [N_PREDICT]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
n_predict="${2:-64}"
out="${OUT_DIR:-target/bench-types}"
mkdir -p "$out"

bash scripts/setup-reference.sh >&2
cargo build --release --locked >&2
precis=./target/release/precis
py=.venv/bin/python
$py -c "import gguf" 2>/dev/null || $py -m pip install -q gguf >&2  # to list each file's tensor types
$precis -q fetch-models --all >/dev/null
models="${PRECIS_MODELS_DIR:-models}"
big="$models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
small="$models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

requant() { # SRC TYPE NAME
    [[ -s "$out/$3" ]] || $py scripts/ref/requantize.py "$1" "$out/$3" "$2" >"$out/$3.log" 2>&1
    echo "$out/$3"
}
files=(
    "$big"
    "$(requant "$big" Q5_K_M qwen1.5b-q5_k_m.gguf)"
    "$(requant "$big" Q4_0 qwen1.5b-q4_0.gguf)"
    "$(requant "$big" Q6_K qwen1.5b-q6_k.gguf)"
    "$(requant "$big" Q8_0 qwen1.5b-q8_0.gguf)"
    "$(requant "$small" Q5_K_M qwen0.5b-q5_k_m.gguf)"
    "$(requant "$small" Q4_1 qwen0.5b-q4_1.gguf)"
)

# A plain French paragraph, the same raw prompt for both engines.
cat >"$out/prompt.txt" <<'TXT'
Le conseil municipal a voté mardi soir un budget de 12,4 millions d'euros pour la rénovation des écoles de la ville. Les travaux commenceront en juillet et dureront deux ans ; la maire a promis que les classes resteraient ouvertes pendant le chantier, grâce à des bâtiments provisoires installés dans la cour de trois établissements.
TXT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni)$' | xargs); threads $threads"
printf '%-26s %-16s %9s %9s %6s %9s %9s %6s %9s %6s\n' model types "ll pre" "pr pre" ratio "ll dec" "pr dec" ratio "RSS MiB" "x file"
for f in "${files[@]}"; do
    name="$(basename "$f" .gguf)"
    types="$($py - "$f" <<'PY'
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
print(",".join(sorted({t.tensor_type.name for t in r.tensors if len(t.shape) == 2})))
PY
)"
    $py scripts/ref/llamacpp_bench.py --model "$f" --prompt-file "$out/prompt.txt" --n-predict "$n_predict" \
        --threads "$threads" --repeat 3 >"$out/$name.llamacpp.json" 2>"$out/$name.llamacpp.log"
    /usr/bin/time -f "%M" -o "$out/$name.rss" $precis -q bench-llm --threads "$threads" --model "$f" \
        --prompt-file "$out/prompt.txt" --n-predict "$n_predict" --repeat 3 >"$out/$name.precis.json"
    python3 - "$out/$name" "$f" "$name" "$types" <<'PY'
import json, os, sys
base, path, name, types = sys.argv[1:]
ll, us = json.load(open(f"{base}.llamacpp.json")), json.load(open(f"{base}.precis.json"))
rss = int(open(f"{base}.rss").read().split()[-1]) / 1024
size = os.path.getsize(path) / 2**20
print(f"{name:26} {types:16} {ll['prefill_tok_s']:9.1f} {us['prefill_tok_s']:9.1f} {us['prefill_tok_s'] / ll['prefill_tok_s']:6.2f}"
      f" {ll['decode_tok_s']:9.1f} {us['decode_tok_s']:9.1f} {us['decode_tok_s'] / ll['decode_tok_s']:6.2f} {rss:9.0f} {rss / size:6.2f}")
PY
done
